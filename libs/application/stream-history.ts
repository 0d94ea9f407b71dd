import { DomainError } from '../domain/domain-error';
import { upcast } from '../domain/upcasters';
import { EventStore } from '../event-store/event-store.port';
import { encodePosition } from '../event-store/position';
import { redactedEventData } from '../secrets/secret-config';

export interface HistoryEntry {
  position: string;
  revision: number;
  type: string;
  occurred_at: string;
  actor: string;
  correlation_id: string;
  data: Record<string, unknown>;
}

export interface HistoryPageResult {
  items: HistoryEntry[];
  total: number;
  limit: number;
  offset: number;
}

export interface PageRequest {
  limit: number;
  offset: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The audit trail: a stream's events as stored (upcast to today's shape), oldest first, paged; sealed
 * secret values masked and token hashes left out.
 */
export async function historyPage(store: EventStore, streamName: string, page: PageRequest, missing: () => DomainError): Promise<HistoryPageResult> {
  const { limit, offset } = page;
  const head = await store.readStream(streamName, { direction: 'backwards', maxCount: 1 });
  if (head.length === 0) throw missing();
  const total = head[0].revision + 1;
  const events = offset < total ? await store.readStream(streamName, { fromRevision: offset, maxCount: limit }) : [];
  return {
    items: events.map(upcast).map((e) => ({
      position: encodePosition(e.position),
      revision: e.revision,
      type: e.type,
      occurred_at: e.metadata.occurred_at,
      actor: e.metadata.actor,
      correlation_id: e.metadata.correlation_id,
      data: isRecord(e.data) ? redactedEventData(e.type, e.data) : {},
    })),
    total,
    limit,
    offset,
  };
}
