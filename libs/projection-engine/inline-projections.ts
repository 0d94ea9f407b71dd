import { createHash } from 'node:crypto';
import { escapeLiteral } from 'pg';
import { SqlPreparedStatement } from '../database/prepared-statements';
import { ExpectedRevision, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { InlinePlan, InlineProjector } from '../event-store/postgres/inline-projector';
import { PreparedRowStatements, executeWith, preparedRowStatements, versionKey } from './row-sql';
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
 *
 * It remembers the rows its appends wrote (with their versions, `xmin`), so that the next append
 * touching only such rows can compute its writes before it is sent and go in one round trip; each of
 * those writes changes its row only while the row is still the version remembered (anything else,
 * another process's append or a rebuild, gives the row a new one), else the transaction fails and the
 * append is made again the two-round-trip way.
 */
export class InlineProjections implements InlineProjector {
  private readonly projections: readonly RowProjection[];
  private readonly statements = new Map<string, PreparedRowStatements>();
  private readonly lockStatements = new Map<string, SqlPreparedStatement>();
  /** By projection and key: the row as this process's last append touching it left it, and its version (null: no row). */
  private readonly knownRows = new Map<string, KnownRow>();
  readonly names: readonly string[];

  constructor(
    projections: readonly RowProjection[],
    /** How many rows to remember, all read models together (0: none, every append takes two round trips). */
    private readonly rowsKnown = KNOWN_ROWS,
  ) {
    this.projections = [...projections].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names = this.projections.map((p) => p.name);
    for (const p of this.projections) this.statements.set(p.name, preparedRowStatements(p.table));
  }

  plan(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision): InlinePlan | undefined {
    const fed = this.fedBy(events.map((e) => e.type));
    if (fed.length === 0) return undefined;
    // Keys come from the stream, type and data alone: the rows are known before the events have positions.
    const provisional: RecordedEvent[] = events.map((e) => ({ ...e, streamName, revision: -1, position: { commit: 0n, prepare: 0n } }));
    const touched = fed.map((projection) => touchedRows(projection, provisional)).filter((t) => t !== undefined);
    const locks = this.locksOf(fed);
    const statementsOf = (p: RowProjection) => this.statements.get(p.name) as PreparedRowStatements;
    const keysOf = (t: TouchedRows) => [...t.keys.values()];
    // The rows the writes leave, by read model: what `remember` keeps once they commit.
    let written: Array<{ projection: RowProjection; rows: ReadonlyMap<string, JsonRow | null> }> = [];
    const known = this.knownWrites(streamName, events, expected, touched, statementsOf);
    return {
      prepared: [
        locks,
        ...touched.flatMap((t) => {
          const s = statementsOf(t.projection);
          return [s.lock, s.delete, s.upsert, s.insert, s.updateIfUnchanged, s.deleteIfUnchanged];
        }),
      ],
      locks: `EXECUTE ${locks.name}`,
      reads: () => touched.map((t) => executeWith(statementsOf(t.projection).lock, keysOf(t))),
      writes: (rowsPerRead, recorded) => {
        written = [];
        return touched.flatMap((t, i) => {
          const applied = touchedRows(t.projection, recorded);
          if (!applied) return [];
          const { statements, rows } = rowWrites(applied, rowsPerRead[i], statementsOf(t.projection));
          written.push({ projection: t.projection, rows });
          return statements;
        });
      },
      known: known?.statements,
      useKnown: () => {
        written = known?.written ?? [];
      },
      remember: (commit) => this.remember(written, commit),
      forget: () => touched.forEach((t) => t.keys.forEach((_, key) => this.knownRows.delete(knownKey(t.projection, key)))),
    };
  }

  /**
   * The writes of `touched`, computed from the known rows with the events as the append will record
   * them (revisions follow from an exact expectation), or undefined when a row is unknown, the
   * revisions are not, or a projection reads an event's position (given by the log at commit).
   */
  private knownWrites(
    streamName: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
    touched: readonly TouchedRows[],
    statementsOf: (p: RowProjection) => PreparedRowStatements,
  ): { statements: string[]; written: Array<{ projection: RowProjection; rows: ReadonlyMap<string, JsonRow | null> }> } | undefined {
    if (this.rowsKnown === 0 || (typeof expected !== 'number' && expected !== 'no_stream')) return undefined;
    if (touched.some((t) => [...t.keys.keys()].some((key) => !this.knownRows.has(knownKey(t.projection, key))))) return undefined;
    const first = expected === 'no_stream' ? 0 : expected + 1;
    const recorded = events.map((e, i) => withUnknownPosition({ ...e, streamName, revision: first + i }));
    try {
      const statements: string[] = [];
      const written: Array<{ projection: RowProjection; rows: ReadonlyMap<string, JsonRow | null> }> = [];
      for (const t of touched) {
        const applied = touchedRows(t.projection, recorded);
        if (!applied) continue;
        const writes = knownWritesOf(applied, this.knownRows, statementsOf(t.projection));
        statements.push(...writes.statements);
        written.push({ projection: t.projection, rows: writes.rows });
      }
      return { statements, written };
    } catch (error) {
      if (error instanceof PositionNotKnown || error instanceof AbsenceNotChecked) return undefined;
      throw error;
    }
  }

  /**
   * After the commit of `commit` (a transaction id): every row it wrote now has that transaction as
   * its `xmin`, the version a later write from the remembered row requires.
   */
  private remember(written: ReadonlyArray<{ projection: RowProjection; rows: ReadonlyMap<string, JsonRow | null> }>, commit: string): void {
    if (this.rowsKnown === 0) return;
    // xmin is the 32-bit transaction id; the log records the 64-bit one (`pg_current_xact_id()`).
    const version = (BigInt(commit) & 0xffffffffn).toString();
    for (const { projection, rows } of written) {
      for (const [key, row] of rows) {
        const id = knownKey(projection, key);
        this.knownRows.delete(id);
        this.knownRows.set(id, row ? { row, version } : { row: null, version: null });
      }
    }
    while (this.knownRows.size > this.rowsKnown) {
      const oldest = this.knownRows.keys().next();
      if (oldest.done) break;
      this.knownRows.delete(oldest.value);
    }
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

/** Rows `InlineProjections` remembers by default: a few megabytes. */
const KNOWN_ROWS = 10_000;

interface KnownRow {
  row: JsonRow | null;
  /** The row's `xmin` as text; null when there is no row. */
  version: string | null;
}

function knownKey(projection: RowProjection, key: string): string {
  return `${projection.name}\u0000${key}`;
}

/** Thrown when a projection reads the position of an event not yet appended. */
class PositionNotKnown extends Error {}

/** Thrown when a row remembered absent stays absent: its writes could not tell whether another process created it. */
class AbsenceNotChecked extends Error {}

function withUnknownPosition(event: Omit<RecordedEvent, 'position'>): RecordedEvent {
  // An own, enumerable accessor: a projection that copies the event (spread) reads it too, and throws.
  return {
    ...event,
    get position(): RecordedEvent['position'] {
      throw new PositionNotKnown('the position of an event not yet appended');
    },
  };
}

/**
 * The writes that bring known rows up to the events: an update or delete only of the row version
 * remembered, an INSERT where no row was (another append creating it meanwhile fails it on the key).
 * Every key gets a statement that fails if the row is not as remembered; a key remembered absent
 * that stays absent would get none, so such an append is not made from memory (AbsenceNotChecked).
 */
function knownWritesOf({ projection, relevant, keys }: TouchedRows, knownRows: ReadonlyMap<string, KnownRow>, statements: PreparedRowStatements) {
  const stored = new Map<string, KnownRow>();
  for (const key of keys.keys()) stored.set(key, knownRows.get(knownKey(projection, key)) ?? { row: null, version: null });
  const current = new Map<string, JsonRow | null>([...stored].map(([key, known]) => [key, known.row]));
  for (const r of relevant) current.set(r.key, projection.evolve(current.get(r.key) ?? null, r.event));
  const inserts: JsonRow[] = [];
  const updates: JsonRow[] = [];
  const deletes: JsonRow[] = [];
  const versions: Record<string, string> = {};
  for (const [key, keyValues] of keys) {
    const row = current.get(key);
    const version = stored.get(key)?.version ?? null;
    if (row && version === null) inserts.push(row);
    // No row before, none after: nothing to write would check that the row is still absent.
    else if (version === null) throw new AbsenceNotChecked();
    else {
      (row ? updates : deletes).push(row ?? keyValues);
      versions[versionKey(projection.table, keyValues)] = version;
    }
  }
  return {
    statements: [
      ...(deletes.length ? [executeWith(statements.deleteIfUnchanged, deletes, versions)] : []),
      ...(updates.length ? [executeWith(statements.updateIfUnchanged, updates, versions)] : []),
      ...(inserts.length ? [executeWith(statements.insert, inserts)] : []),
    ],
    rows: current,
  };
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
export function writesOf(touched: TouchedRows, lockedRows: readonly JsonRow[], statements: PreparedRowStatements): string[] {
  return rowWrites(touched, lockedRows, statements).statements;
}

/** `writesOf`, with the rows the writes leave by key (null: none). */
function rowWrites({ projection, relevant, keys }: TouchedRows, lockedRows: readonly JsonRow[], statements: PreparedRowStatements) {
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
  return {
    statements: [
      ...(deletes.length ? [executeWith(statements.delete, deletes)] : []),
      ...(updates.length ? [executeWith(statements.upsert, updates)] : []),
      ...(inserts.length ? [executeWith(statements.insert, inserts)] : []),
    ],
    rows: current,
  };
}
