import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { EventStoreDbEventStore } from '../event-store/eventstoredb/eventstoredb-event-store';
import { EventStoreDbTestDouble } from '../../test/support/eventstoredb-test-double/eventstoredb-test-double';
import { EventStore, NewEvent, ReadStreamOptions } from '../event-store/event-store.port';
import { InstallProvider, ReportHealth, StartDeploy } from '../installations/installation.commands';
import { installationDecider } from '../installations/installation.decider';
import { installationStream } from '../installations/installation-identity';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { SnapshotIdentity, fold } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { CommandContext, runCommand } from './command-runner';
import { Aggregates, aggregatesIn, loadState } from './aggregates';
import { LOG_READ_LIMIT, SNAPSHOT_EVERY } from './aggregate-snapshots';
import { eventsOf } from './stream-state';
import { INSTALLER_SCOPE } from './idempotency-scopes';

const NOW = '2026-01-01T00:00:00.000Z';
const RETENTION_MS = 3_600_000;
/** What a load reads from a stream's end (snapshot-loader.ts): streams up to this long need no snapshot. */
const RECENT_EVENTS = SNAPSHOT_EVERY + 14;

const installOf = (installationId: string): InstallProvider => ({
  type: 'InstallProvider',
  installationId,
  tenant: 'acme',
  prefix: 'acme',
  name: 'db',
  version: '1.0.0',
  resourceTier: 'standard',
  upgradePolicy: 'manual',
  config: {},
  now: NOW,
});
const health = (i: number, now = NOW): ReportHealth => ({ type: 'ReportHealth', health: i % 2 ? 'degraded' : 'healthy', message: `report ${i}`, now });
const context = (overrides: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'apikey:acme-key',
  correlationId: randomUUID(),
  idempotencyScope: 'acme',
  idempotencyKey: null,
  requestHash: null,
  now: NOW,
  ...overrides,
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** The store, counting the events each read returns: what a load costs. */
function countingStore(store: EventStore): { store: EventStore; read: () => number; reset: () => void; add: (n: number) => void } {
  let read = 0;
  const counting: EventStore = Object.create(store);
  counting.readStream = async (name: string, options?: ReadStreamOptions) => {
    const events = await store.readStream(name, options);
    read += events.length;
    return events;
  };
  return { store: counting, read: () => read, reset: () => (read = 0), add: (n) => (read += n) };
}

describe.each([
  { mode: 'PostgreSQL, index recorded in the append', log: 'postgres', recordInAppend: true },
  { mode: 'PostgreSQL, index recorded after the append', log: 'postgres', recordInAppend: false },
  { mode: 'EventStoreDB adapter via its gRPC test double, snapshots and index in PostgreSQL', log: 'eventstoredb', recordInAppend: false },
])('commands on Aggregates ($mode)', ({ log, recordInAppend }) => {
  let db: TestDatabase;
  let eventStore: EventStore;
  let esdb: EventStoreDbTestDouble | undefined;
  let counter: ReturnType<typeof countingStore>;
  let aggregates: Aggregates;
  const backgroundErrors: unknown[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('aggregates');
    if (log === 'eventstoredb') {
      esdb = new EventStoreDbTestDouble({});
      eventStore = new EventStoreDbEventStore((await esdb.start()).connectionString);
    } else {
      eventStore = new PostgresEventStore(db.pool, { idlePollMs: 500, recordIdempotencyKeys: recordInAppend });
    }
    counter = countingStore(eventStore);
    aggregates = aggregatesIn(db.pool, counter.store, { idempotencyRetentionMs: RETENTION_MS, onBackgroundError: (e) => backgroundErrors.push(e) });
    // On PostgreSQL a load reads the snapshot and the log in one statement: its events count too.
    const readWithLog = aggregates.snapshots.readWithLog?.bind(aggregates.snapshots);
    expect(readWithLog !== undefined).toBe(log === 'postgres');
    if (readWithLog) {
      aggregates.snapshots.readWithLog = async <State>(streamName: string, fold: SnapshotIdentity) => {
        const found = await readWithLog<State>(streamName, fold);
        counter.add(found.events.length);
        return found;
      };
    }
  });
  afterAll(async () => {
    expect(backgroundErrors).toEqual([]);
    await eventStore.close();
    await esdb?.stop();
    await db.drop();
  });

  const newStream = (label: string) => installationStream('acme', { prefix: 'acme', name: `${label}-${randomUUID().slice(0, 8)}` });
  /** An installation with `beats` health changes after its install: a stream of beats + 1 events. */
  async function longStream(label: string, beats: number): Promise<string> {
    const stream = newStream(label);
    await runCommand(aggregates, installationDecider, stream, installOf(randomUUID()), context());
    for (let i = 0; i < beats; i++) {
      await runCommand(aggregates, installationDecider, stream, health(i), context());
      if ((i + 1) % SNAPSHOT_EVERY === 0) await settle();
    }
    await settle();
    return stream;
  }
  const wholeFold = async (stream: string, upTo?: number) =>
    fold(installationDecider, eventsOf((await eventStore.readStream(stream)).slice(0, upTo === undefined ? undefined : upTo + 1).map(upcast)));

  it('answers every command as a whole-stream fold does, past several snapshot refreshes', async () => {
    const whole = newStream('whole');
    const snapshotted = newStream('snap');
    const install = installOf(randomUUID());
    const commands = [install, ...Array.from({ length: 2 * SNAPSHOT_EVERY + 7 }, (_, i) => health(i))];
    for (const command of commands) {
      const expected = await runCommand(eventStore, installationDecider, whole, command, context());
      const actual = await runCommand(aggregates, installationDecider, snapshotted, command, context());
      expect({ ...actual, position: undefined, aggregate: undefined }).toEqual({ ...expected, position: undefined });
      // Where the next command may start instead of a load: the stream as a fold from the start has it.
      if (actual.appended > 0) {
        expect(actual.aggregate).toMatchObject({ state: await wholeFold(snapshotted), revision: actual.revision, tail: [] });
      } else expect(actual.aggregate).toBeUndefined();
      if (command.type === 'ReportHealth') await settle();
    }
  });

  it('folds a stream longer than one read of the log whole when no snapshot covers it', async () => {
    const stream = newStream('unsnapshotted');
    let state = installationDecider.initialState;
    const events: NewEvent[] = [];
    for (const command of [installOf(randomUUID()), ...Array.from({ length: LOG_READ_LIMIT + 4 }, (_, i) => health(i))]) {
      for (const event of installationDecider.decide(command, state)) {
        state = installationDecider.evolve(state, event);
        const metadata = { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'test', occurred_at: NOW };
        events.push({ id: randomUUID(), type: event.type, data: event.data, metadata });
      }
    }
    // Appended straight to the log (as a COPY or an old writer would): no snapshot exists.
    for (let from = 0; from < events.length; from += 250) {
      await eventStore.append(stream, events.slice(from, from + 250), from === 0 ? 'no_stream' : from - 1);
    }
    expect(await loadState(aggregates, installationDecider, stream)).toEqual({ state, revision: events.length - 1 });
  });

  it('reads only the events after the snapshot, keyed or not, however long the stream', async () => {
    const stream = await longStream('cost', 3 * SNAPSHOT_EVERY + 5);
    counter.reset();
    // PostgreSQL: the snapshot and the events from it on, in one statement. EventStoreDB: the stream's
    // last events (a little more than the refresh interval), reaching back to the snapshot.
    const bound = log === 'postgres' ? SNAPSHOT_EVERY + 1 : SNAPSHOT_EVERY + 14;
    await runCommand(aggregates, installationDecider, stream, health(1000), context());
    expect(counter.read()).toBeLessThanOrEqual(bound);
    counter.reset();
    await runCommand(aggregates, installationDecider, stream, health(1001), context({ idempotencyKey: `beat-${randomUUID()}`, requestHash: 'h' }));
    expect(counter.read()).toBeLessThanOrEqual(bound);
  });

  it('a keyed retry answers with the state its first attempt produced, long after it, from the index', async () => {
    const stream = await longStream('replay', 5);
    const key = `beat-${randomUUID()}`;
    const first = await runCommand(aggregates, installationDecider, stream, health(7), context({ idempotencyKey: key, requestHash: 'h' }));
    await settle();
    for (let i = 0; i < SNAPSHOT_EVERY + 3; i++) await runCommand(aggregates, installationDecider, stream, health(100 + i), context());
    await settle();
    counter.reset();
    const retry = await runCommand(aggregates, installationDecider, stream, health(7), context({ idempotencyKey: key, requestHash: 'h' }));
    expect(retry).toMatchObject({ replayed: true, appended: 0, revision: first.revision });
    expect(retry.state).toEqual(first.state);
    expect(retry.state).toEqual(await wholeFold(stream, first.revision));
    expect(counter.read()).toBeLessThanOrEqual(first.revision + 1);
  });

  it('refuses the key with another body, or on another stream (409), and appends nothing', async () => {
    const stream = await longStream('reuse', 1);
    const other = await longStream('other', 1);
    const key = `k-${randomUUID()}`;
    await runCommand(aggregates, installationDecider, stream, health(2), context({ idempotencyKey: key, requestHash: 'a' }));
    await settle();
    const before = (await eventStore.readStream(other)).length;
    await expect(runCommand(aggregates, installationDecider, stream, health(2), context({ idempotencyKey: key, requestHash: 'b' }))).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    await expect(runCommand(aggregates, installationDecider, other, health(2), context({ idempotencyKey: key, requestHash: 'a' }))).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    expect(await eventStore.readStream(other)).toHaveLength(before);
  });

  it('past the retention the record is ignored and purged; the key keeps one effect on PostgreSQL (ids collide), and is a new request on EventStoreDB', async () => {
    const stream = await longStream('expired', 2);
    const key = `old-${randomUUID()}`;
    const first = await runCommand(aggregates, installationDecider, stream, health(9), context({ idempotencyKey: key, requestHash: 'h' }));
    await settle();
    await db.pool.query(`UPDATE idempotency_keys SET recorded_at = now() - interval '2 hours' WHERE key = $1`, [key]);
    expect(await aggregates.idempotency.find('acme', key)).toBeUndefined();
    expect(await aggregates.idempotency.purge()).toBeGreaterThanOrEqual(1);
    // Enough events after it that the key's event stands before the newest snapshot.
    for (let i = 0; i < RECENT_EVENTS + 2; i++) await runCommand(aggregates, installationDecider, stream, health(200 + i), context());
    await settle();
    const length = (await eventStore.readStream(stream)).length;
    const retry = await runCommand(aggregates, installationDecider, stream, health(9), context({ idempotencyKey: key, requestHash: 'h' }));
    if (log === 'eventstoredb') {
      // EventStoreDB checks event ids only where the append expects them, so an old key is forgotten.
      expect(retry).toMatchObject({ replayed: false, appended: 1 });
      return;
    }
    expect(retry).toMatchObject({ replayed: true, appended: 0, revision: first.revision });
    expect(await eventStore.readStream(stream)).toHaveLength(length);
    await settle();
    // Found again, so recorded again: the next retry is one lookup.
    expect(await aggregates.idempotency.find('acme', key)).toMatchObject({ streamName: stream, lastRevision: first.revision });
  });

  it("the installer's keyed commands replay in their own scope only", async () => {
    const stream = await longStream('installer', 0);
    const key = `deploy-start:${randomUUID()}:1`;
    const startDeploy: StartDeploy = { type: 'StartDeploy', generation: 1, tokenHash: 'hash-1', now: NOW };
    const installerContext = () => context({ actor: 'installer', idempotencyScope: INSTALLER_SCOPE, idempotencyKey: key });
    // A tenant sending the installer's key in its own scope changes nothing for the installer.
    await runCommand(aggregates, installationDecider, stream, health(1), context({ idempotencyKey: key, requestHash: 'x' }));
    const started = await runCommand(aggregates, installationDecider, stream, startDeploy, installerContext());
    expect(started).toMatchObject({ replayed: false, appended: 1 });
    const again = await runCommand(aggregates, installationDecider, stream, startDeploy, installerContext());
    expect(again).toMatchObject({ replayed: true, appended: 0, revision: started.revision });
  });

  it('as_of starts from the newest snapshot before the time and gives the fold from the start', async () => {
    const stream = newStream('asof');
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
    await runCommand(aggregates, installationDecider, stream, { ...installOf(randomUUID()), now: at(0) }, context({ now: at(0) }));
    for (let i = 1; i <= 3 * SNAPSHOT_EVERY + 10; i++) {
      await runCommand(aggregates, installationDecider, stream, health(i, at(i)), context({ now: at(i) }));
      if (i % SNAPSHOT_EVERY === 0) await settle();
    }
    await settle();
    const recorded = (await eventStore.readStream(stream)).map(upcast);
    // Snapshots begin after SNAPSHOT_EVERY events (PostgreSQL) or once the stream outgrows what a
    // load reads from its end (RECENT_EVENTS, EventStoreDB); as_of starts from the newest before it.
    for (const minute of [0, 30, RECENT_EVENTS + 5, 2 * SNAPSHOT_EVERY + 20, 3 * SNAPSHOT_EVERY + 5]) {
      const asOf = new Date(at(minute));
      const happened = recorded.filter((e) => new Date(e.metadata.occurred_at) <= asOf);
      counter.reset();
      const loaded = await loadState(aggregates, installationDecider, stream, asOf);
      expect(loaded).toEqual({ state: fold(installationDecider, eventsOf(happened)), revision: happened.length - 1 });
      if (minute > RECENT_EVENTS) expect(counter.read()).toBeLessThanOrEqual(recorded.length - SNAPSHOT_EVERY + 1);
    }
  });
});
