import { Pool } from 'pg';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { EventStore } from '../event-store/event-store.port';

/** What the rebuild and the verify work with: the database, the log and the checkpoints. */
export interface ProjectionAdminDeps {
  pool: Pool;
  eventStore: EventStore;
  checkpoints: CheckpointStore;
}

/** Events per page read, and most rows written per transaction. */
export const DEFAULT_BATCH_SIZE = 5000;
