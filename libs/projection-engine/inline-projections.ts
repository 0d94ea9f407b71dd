import { createHash } from 'node:crypto';
import { escapeLiteral } from 'pg';
import { SqlPreparedStatement } from '../database/prepared-statements';
import { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { InlinePlan, InlineProjector } from '../event-store/postgres/inline-projector';
import { PreparedRowStatements, executeWith, preparedRowStatements } from './row-sql';
import { JsonRow, RowProjection, keyString, keyedEvent } from './row-projection';

/** The transaction-scoped advisory lock an inline writer holds shared and a swap or verify exclusively. */
export const inlineLockName = (projection: RowProjection): string => `inline:${projection.name}`;

/** Whether the store writes this projection in the append's transaction. */
export function isInline(store: { inlineProjections?: readonly string[] }, projection: RowProjection): boolean {
  return store.inlineProjections?.includes(projection.name) ?? false;
}

/**
 * The read models PostgreSQL appends write in their own transaction. Each append holds, for every
 * read model its events feed, a shared advisory lock (taken in name order, before the transaction
 * has an id): a rebuild's swap or a verify takes it exclusively, so no inline write can fall
 * between its catch-up and its rename or comparison.
 */
export class InlineProjections implements InlineProjector {
  private readonly projections: readonly RowProjection[];
  private readonly statements = new Map<string, PreparedRowStatements>();
  private readonly lockStatements = new Map<string, SqlPreparedStatement>();
  readonly names: readonly string[];

  constructor(projections: readonly RowProjection[]) {
    this.projections = [...projections].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names = this.projections.map((p) => p.name);
    for (const p of this.projections) this.statements.set(p.name, preparedRowStatements(p.table));
  }

  plan(streamName: string, events: readonly NewEvent[]): InlinePlan | undefined {
    const fed = this.fedBy(events.map((e) => e.type));
    if (fed.length === 0) return undefined;
    // Keys come from the stream, type and data alone: the rows are known before the events have positions.
    const provisional: RecordedEvent[] = events.map((e) => ({ ...e, streamName, revision: -1, position: { commit: 0n, prepare: 0n } }));
    const touched = fed.map((projection) => touchedRows(projection, provisional)).filter((t) => t !== undefined);
    const locks = this.locksOf(fed);
    const statementsOf = (p: RowProjection) => this.statements.get(p.name) as PreparedRowStatements;
    return {
      prepared: [
        locks,
        ...touched.flatMap((t) => {
          const s = statementsOf(t.projection);
          return [s.lock, s.delete, s.upsert, s.insert];
        }),
      ],
      locks: `EXECUTE ${locks.name}`,
      reads: touched.map((t) => executeWith(statementsOf(t.projection).lock, [...t.keys.values()])),
      writes: (rowsPerRead, recorded) =>
        touched.flatMap((t, i) => {
          const applied = touchedRows(t.projection, recorded);
          return applied ? writesOf(applied, rowsPerRead[i], statementsOf(t.projection)) : [];
        }),
    };
  }

  /** The shared locks of these read models (in name order), prepared: planned once per connection, not per append. */
  private locksOf(fed: readonly RowProjection[]): SqlPreparedStatement {
    const names = fed.map((p) => p.name).join(',');
    let statement = this.lockStatements.get(names);
    if (!statement) {
      const locks = fed.map((p) => `pg_advisory_xact_lock_shared(hashtextextended(${escapeLiteral(inlineLockName(p))}, 0))`);
      statement = { name: `rm_locks_${createHash('sha1').update(names).digest('hex').slice(0, 16)}`, parameters: '', sql: `SELECT ${locks.join(', ')}` };
      this.lockStatements.set(names, statement);
    }
    return statement;
  }

  private fedBy(eventTypes: readonly string[]): RowProjection[] {
    return this.projections.filter((p) => eventTypes.some((t) => p.eventTypes.includes(t)));
  }
}

export interface TouchedRows {
  projection: RowProjection;
  relevant: Array<{ key: string; event: RecordedEvent }>;
  keys: Map<string, Record<string, string>>;
}

export function touchedRows(projection: RowProjection, events: readonly RecordedEvent[]): TouchedRows | undefined {
  const relevant = events.map((e) => keyedEvent(projection, e)).filter((r) => r !== undefined);
  if (relevant.length === 0) return undefined;
  const keys = new Map<string, Record<string, string>>();
  for (const r of relevant) keys.set(r.key, r.keyValues);
  return { projection, relevant, keys };
}

/**
 * The statements that bring the locked rows up to the append's events: rows the table has are
 * updated or deleted; new rows are plain INSERTs, so that two appends creating the same row cannot
 * both succeed (one fails on the key and its append is tried again, finding the row).
 */
export function writesOf({ projection, relevant, keys }: TouchedRows, lockedRows: readonly JsonRow[], statements: PreparedRowStatements): string[] {
  const stored = new Map<string, JsonRow>();
  for (const row of lockedRows) stored.set(keyString(projection, row), row);
  const current = new Map<string, JsonRow | null>(stored);
  for (const r of relevant) current.set(r.key, projection.evolve(current.get(r.key) ?? null, r.event));
  const inserts: JsonRow[] = [];
  const updates: JsonRow[] = [];
  const deletes: Array<Record<string, string>> = [];
  for (const [key, keyValues] of keys) {
    const row = current.get(key);
    if (row) (stored.has(key) ? updates : inserts).push(row);
    else if (stored.has(key)) deletes.push(keyValues);
  }
  return [
    ...(deletes.length ? [executeWith(statements.delete, deletes)] : []),
    ...(updates.length ? [executeWith(statements.upsert, updates)] : []),
    ...(inserts.length ? [executeWith(statements.insert, inserts)] : []),
  ];
}
