import { EventFilter, ReadPace, RecordedEvent } from '../event-store.port';
import { Position } from '../position';

/**
 * Anything that follows the global log: a projection, the installer, a process manager. The consumer
 * owns its checkpoint, because only it knows how to save it atomically with its effect.
 */
export interface LogConsumer {
  readonly name: string;
  readonly filter?: EventFilter;
  readonly batchSize?: number;
  /** For a consumer that need not follow the log closely: how often it reads once woken. */
  readonly pace?: ReadPace;
  /** Called each time this replica becomes the active one, before it loads its checkpoint (e.g. to reconcile). */
  onActivate?(): Promise<void>;
  loadCheckpoint(): Promise<Position | undefined>;
  /** Applies the batch and saves the checkpoint; a rejection makes the runner redeliver from it. */
  handle(events: RecordedEvent[]): Promise<void>;
  /** A read of the log found none of this consumer's events up to `readTo` (where the store can tell). */
  passOver?(readTo: Position): Promise<void>;
  /** Called when this replica stops being the active one (lock lost, shutdown). */
  deactivate?(): Promise<void>;
}
