import { randomUUID } from 'node:crypto';
import { DomainError } from '../domain/domain-error';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { InstallProvider, StartDeploy } from '../installations/installation.commands';
import { installationDecider } from '../installations/installation.decider';
import { installationStream } from '../installations/installation-identity';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { CommandContext, runCommand } from './command-runner';
import { Aggregates, aggregatesIn } from './aggregates';
import { INSTALLER_SCOPE } from './idempotency-scopes';

const NOW = '2026-01-01T00:00:00.000Z';
const INSTALLATION_ID = '0b6f3c2e-6a43-4d8e-9d7c-3c1f0e5a9b21';
/**
 * The installer's own key for a first deploy: guessable by anyone who knows the installation id. Event
 * ids derive from scope and key and are unique store-wide, so each test uses its own installation id.
 */
let INSTALLER_KEY = '';

const install: InstallProvider = {
  type: 'InstallProvider',
  installationId: INSTALLATION_ID,
  tenant: 'acme',
  prefix: 'acme',
  name: 'db',
  version: '1.0.0',
  resourceTier: 'standard',
  upgradePolicy: 'manual',
  config: {},
  now: NOW,
};
const startDeploy: StartDeploy = { type: 'StartDeploy', generation: 1, tokenHash: 'hash-1', now: NOW };

const tenant = (overrides: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'apikey:acme-key',
  correlationId: randomUUID(),
  idempotencyScope: 'acme',
  idempotencyKey: INSTALLER_KEY,
  requestHash: 'hash-of-the-tenant-request',
  now: NOW,
  ...overrides,
});
const installer = (overrides: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'installer',
  correlationId: randomUUID(),
  idempotencyScope: INSTALLER_SCOPE,
  idempotencyKey: INSTALLER_KEY,
  requestHash: null,
  now: NOW,
  ...overrides,
});

/** The same rules whether the whole stream is scanned, or the index is written by the append or after it. */
const MODES = [
  { mode: 'whole stream, no index', recordInAppend: false, aggregates: false },
  { mode: 'snapshots + index recorded in the append', recordInAppend: true, aggregates: true },
  { mode: 'snapshots + index recorded after the append (as on EventStoreDB)', recordInAppend: false, aggregates: true },
];

describe.each(MODES)('runCommand idempotency scopes (PostgreSQL event store, $mode)', ({ recordInAppend, aggregates }) => {
  let db: TestDatabase;
  let store: Aggregates | PostgresEventStore;
  let eventStore: PostgresEventStore;
  let stream: string;

  beforeAll(async () => {
    db = await createTestDatabase('runner');
    eventStore = new PostgresEventStore(db.pool, { idlePollMs: 500, recordIdempotencyKeys: recordInAppend });
    store = aggregates ? aggregatesIn(db.pool, eventStore, { idempotencyRetentionMs: 3_600_000, onBackgroundError: (e) => { throw e; } }) : eventStore;
  });
  afterAll(async () => {
    await eventStore.close();
    await db.drop();
  });
  beforeEach(() => {
    INSTALLER_KEY = `deploy-start:${randomUUID()}:1`;
    stream = installationStream('acme', { prefix: 'acme', name: `db-${randomUUID().slice(0, 8)}` });
  });

  it('records the scope beside the key in each event', async () => {
    await runCommand(store, installationDecider, stream, install, tenant());
    const [event] = await eventStore.readStream(stream);
    expect(event.metadata).toMatchObject({ idempotency_key: INSTALLER_KEY, idempotency_scope: 'acme' });
  });

  it("a tenant's key in scope acme neither blocks nor replays the installer's append of that key", async () => {
    await runCommand(store, installationDecider, stream, install, tenant());
    const outcome = await runCommand(store, installationDecider, stream, startDeploy, installer());
    expect(outcome).toMatchObject({ replayed: false, appended: 1, revision: 1 });
    expect((await eventStore.readStream(stream)).map((e) => e.type)).toEqual(['InstallRequested', 'DeployStarted']);
  });

  it('the installer retrying its key in its own scope replays and appends nothing', async () => {
    await runCommand(store, installationDecider, stream, install, tenant({ idempotencyKey: null, requestHash: null }));
    await runCommand(store, installationDecider, stream, startDeploy, installer());
    const retry = await runCommand(store, installationDecider, stream, startDeploy, installer({ correlationId: randomUUID() }));
    expect(retry).toMatchObject({ replayed: true, appended: 0, revision: 1 });
    expect(await eventStore.readStream(stream)).toHaveLength(2);
  });

  it('a reused key with another request in the same scope is still refused (409)', async () => {
    await runCommand(store, installationDecider, stream, install, tenant());
    const error = await runCommand(store, installationDecider, stream, install, tenant({ requestHash: 'another-body' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', kind: 'conflict' });
  });

  it('an event written before scopes were stored matches only its own actor', async () => {
    // As the runner wrote events before this change: a key, no scope.
    await eventStore.append(
      stream,
      [
        {
          id: randomUUID(),
          type: 'InstallRequested',
          data: { installation_id: INSTALLATION_ID, tenant: 'acme', prefix: 'acme', name: 'db', version: '1.0.0', resource_tier: 'standard', upgrade_policy: 'manual', config: {}, generation: 1, at: NOW },
          metadata: { schema_version: 1, correlation_id: 'c', causation_id: null, actor: 'apikey:acme-key', occurred_at: NOW, idempotency_key: INSTALLER_KEY, request_hash: 'hash-of-the-tenant-request' },
        },
      ],
      'no_stream',
    );
    const byInstaller = await runCommand(store, installationDecider, stream, startDeploy, installer());
    expect(byInstaller).toMatchObject({ replayed: false, appended: 1 });
    const tenantRetry = await runCommand(store, installationDecider, stream, install, tenant());
    expect(tenantRetry).toMatchObject({ replayed: true, appended: 0, revision: 0 });
  });
});

