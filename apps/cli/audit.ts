import { Command } from 'commander';
import { upcast } from '../../libs/domain/upcasters';
import { tenantInstallationsPrefix } from '../../libs/installations/installation-identity';
import { TOKEN_PATTERN } from '../../libs/providers/provider-identity';
import { EventFilter, EventStore, RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position, encodePosition } from '../../libs/event-store/position';
import { redactedEventData } from '../../libs/secrets/secret-config';
import { CliState, UsageError, out, splitList, withInfrastructure } from './io';

const PAGE = 1000;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_]*$/;

export interface AuditQuery {
  /** Stream name prefix (`installation-<tenant>.`), from --tenant. */
  streamPrefix?: string;
  stream?: string;
  fromMs?: number;
  toMs?: number;
  types?: string[];
}

export function parseTime(option: string, value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new UsageError(`${option} "${value}" is not an ISO time such as 2026-01-31 or 2026-01-31T12:00:00Z`);
  }
  return ms;
}

export function parseAuditOptions(opts: { tenant?: string; stream?: string; from?: string; to?: string; type?: string }): AuditQuery {
  const query: AuditQuery = {};
  if (opts.tenant !== undefined) {
    if (!TOKEN_PATTERN.test(opts.tenant)) throw new UsageError(`--tenant "${opts.tenant}" is not an organisation (^[a-z0-9][a-z0-9-]{0,62}$)`);
    query.streamPrefix = tenantInstallationsPrefix(opts.tenant);
  }
  if (opts.stream !== undefined) {
    if (opts.stream.trim() === '') throw new UsageError('--stream needs a stream name');
    query.stream = opts.stream;
  }
  if (opts.from !== undefined) query.fromMs = parseTime('--from', opts.from);
  if (opts.to !== undefined) query.toMs = parseTime('--to', opts.to);
  if (query.fromMs !== undefined && query.toMs !== undefined && query.fromMs > query.toMs) {
    throw new UsageError('--from is after --to');
  }
  if (opts.type !== undefined) {
    const types = splitList(opts.type);
    const bad = types.filter((t) => !EVENT_TYPE.test(t));
    if (types.length === 0 || bad.length > 0) throw new UsageError(`--type "${opts.type}" must be event type names separated by commas`);
    query.types = types;
  }
  return query;
}

/**
 * Yields the matching events in order, a page at a time: the global log (filtered by the store) in
 * log order, or one stream in revision order. Old shapes are upcast; nothing is held beyond a page.
 */
export async function* auditEvents(store: EventStore, query: AuditQuery): AsyncGenerator<RecordedEvent> {
  const keep = (e: RecordedEvent): boolean => {
    if (query.types && !query.types.includes(e.type)) return false;
    if (query.fromMs !== undefined || query.toMs !== undefined) {
      const at = Date.parse(e.metadata.occurred_at);
      if (query.fromMs !== undefined && !(at >= query.fromMs)) return false;
      if (query.toMs !== undefined && !(at < query.toMs)) return false;
    }
    return true;
  };
  if (query.stream !== undefined) {
    if (query.streamPrefix && !query.stream.startsWith(query.streamPrefix)) return;
    for (let revision = 0; ; ) {
      const page = await store.readStream(query.stream, { fromRevision: revision, maxCount: PAGE });
      for (const event of page) if (keep(event)) yield upcast(event);
      if (page.length < PAGE) return;
      revision = page[page.length - 1].revision + 1;
    }
  }
  const filter: EventFilter = {
    ...(query.types ? { eventTypes: query.types } : {}),
    ...(query.streamPrefix ? { streamPrefixes: [query.streamPrefix] } : {}),
  };
  let position: Position | undefined;
  for (;;) {
    const page = await store.readAll({ fromPosition: position, limit: PAGE, filter });
    for (const event of page) if (keep(event)) yield upcast(event);
    if (page.length < PAGE) return;
    position = page[page.length - 1].position;
  }
}

/** What the audit trail shows of an event's data: sealed secrets masked, token hashes left out. */
function auditData(event: RecordedEvent): unknown {
  const data: unknown = event.data;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? redactedEventData(event.type, { ...data }) : data;
}

export function auditJson(event: RecordedEvent): Record<string, unknown> {
  return {
    position: encodePosition(event.position),
    stream: event.streamName,
    revision: event.revision,
    type: event.type,
    occurred_at: event.metadata.occurred_at,
    actor: event.metadata.actor,
    correlation_id: event.metadata.correlation_id,
    data: auditData(event),
  };
}

export function auditLine(event: RecordedEvent): string {
  return `${event.metadata.occurred_at} pos=${encodePosition(event.position)} ${event.streamName}#${event.revision} ${event.type} by ${event.metadata.actor}  ${JSON.stringify(auditData(event))}`;
}

export function registerAudit(program: Command, _state: CliState): void {
  const audit = program.command('audit').description('read the audit trail (the event log)');
  audit
    .command('replay')
    .description('print past events in log order, oldest first')
    .option('--tenant <tenant>', "only this tenant's installations (streams installation-<tenant>.*)")
    .option('--stream <stream>', 'only this stream, e.g. installation-acme.acme.postgres or provider-acme.postgres')
    .option('--from <time>', 'only events that occurred at or after this ISO time')
    .option('--to <time>', 'only events that occurred before this ISO time')
    .option('--type <types>', 'only these event types, comma-separated (e.g. UpgradeRequested,InstallRequested)')
    .option('--json', 'print one JSON object per line: position, stream, revision, type, occurred_at, actor, correlation_id, data')
    .action(async (opts: { tenant?: string; stream?: string; from?: string; to?: string; type?: string; json?: boolean }) => {
      const query = parseAuditOptions(opts);
      await withInfrastructure(async (infra) => {
        let buffer = '';
        for await (const event of auditEvents(infra.eventStore, query)) {
          buffer += `${opts.json ? JSON.stringify(auditJson(event)) : auditLine(event)}\n`;
          if (buffer.length >= 64 * 1024) {
            await out(buffer);
            buffer = '';
          }
        }
        if (buffer) await out(buffer);
      });
    });
}
