import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  type JSONEventData,
  type JSONType,
} from '@kurrent/kurrentdb-client';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { EventMetadata, EventStoreUnavailable, NewEvent, RecordedEvent } from '../event-store.port';
import { Position } from '../position';

/** The parts of the client's recorded events (stream reads and `$all` alike) the adapter uses. */
export interface ClientRecordedEvent {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  data: unknown;
  metadata: unknown;
  position?: Position;
}

/** What servers before 22.6 send as the log position of an event read from a stream. */
const UNKNOWN_POSITION = 2n ** 64n - 1n;

export function toEventData(event: NewEvent): JSONEventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // The client only passes data through JSON.stringify; its narrower type is no runtime rule.
    data: event.data as JSONType,
    metadata: { ...event.metadata },
  };
}

/** System events (`$`-typed: stream metadata, links, statistics, epochs) are the server's own. */
export function isSystemEvent(event: { type: string }): boolean {
  return event.type.startsWith('$');
}

export function toRecordedEvent(event: ClientRecordedEvent): RecordedEvent {
  const position = event.position;
  if (!position || position.commit === UNKNOWN_POSITION) {
    throw new Error(
      `EventStoreDB sent ${event.streamId}@${event.revision} without its log position; the adapter needs EventStoreDB 22.6 or later`,
    );
  }
  if (!isMetadata(event.metadata)) {
    throw new Error(`Event ${event.id} in ${event.streamId} has no JSON metadata, so it was not written through this event store`);
  }
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    streamName: event.streamId,
    revision: Number(event.revision),
    position: { commit: position.commit, prepare: position.prepare },
  };
}

function isMetadata(value: unknown): value is EventMetadata {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Failures that say nothing about the request, only that the server cannot answer now. */
export function toStoreError(error: unknown): unknown {
  return isUnavailable(error) ? new EventStoreUnavailable(error) : error;
}

function isUnavailable(error: unknown): boolean {
  if (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof TimeoutError ||
    error instanceof CancelledError ||
    error instanceof NotLeaderError
  ) {
    return true;
  }
  // Some transport failures reach the caller as raw gRPC errors, not converted by the client.
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED;
}
