import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { aggregatesIn } from '../application/aggregates';
import { runCommand } from '../application/command-runner';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { InlineProjections } from '../projection-engine/inline-projections';
import { PROJECTIONS } from '../../projections/projections';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { ProviderCommand } from './provider.commands';
import { ProviderState, providerDecider } from './provider.decider';
import { ProviderId, providerStream } from './provider-identity';
import { FoldedProviderFacts, ReadModelProviderFacts } from './provider-facts';
import { latestVersion } from './version-selection';

const publisher = { organizationId: 'acme', platformAdmin: false };
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0-rc.1', '2.0.0', '0.9.0'];

type Step = { kind: 'publish'; version: string; schema: boolean } | { kind: 'yank'; version: string } | { kind: 'scope'; scope: 'public' | 'tenant' };
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant<'publish'>('publish'), version: fc.constantFrom(...VERSIONS), schema: fc.boolean() }),
  fc.record({ kind: fc.constant<'yank'>('yank'), version: fc.constantFrom(...VERSIONS) }),
  fc.record({ kind: fc.constant<'scope'>('scope'), scope: fc.constantFrom<'public' | 'tenant'>('public', 'tenant') }),
);

function commandOf(step: Step, provider: ProviderId, now: string): ProviderCommand {
  switch (step.kind) {
    case 'publish':
      return {
        type: 'PublishVersion',
        provider,
        publisher,
        version: step.version,
        runtimeVersion: '3.1.0',
        wheelUrl: `https://wheels.example.com/acme_db-${step.version}-py3-none-any.whl`,
        wheelSha256: null,
        packageName: 'acme_db',
        entrypoint: null,
        schemas: [],
        configSchema: step.schema ? { type: 'object', properties: { region: { type: 'string' } } } : null,
        outputsSchema: null,
        changelog: null,
        metadata: null,
        now,
      };
    case 'yank':
      return { type: 'YankVersion', provider, publisher, version: step.version, reason: 'bad build', now };
    case 'scope':
      return { type: 'UpdateMetadata', provider, publisher, changes: { scope: step.scope }, now };
  }
}

/** What an install decides on: listed to whom, the named versions, the latest installable. */
const decisive = (state: ProviderState, named: readonly string[]) =>
  state.status === 'unknown'
    ? { status: 'unknown' }
    : {
        status: state.status,
        ownerOrg: state.ownerOrg,
        scope: state.catalog.scope,
        versions: Object.fromEntries(named.map((v) => [v, state.versions[v] ?? null])),
        latest: latestVersion(state) ?? null,
      };

describe('provider facts: read models by key give what the folded stream gives', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('provider_facts');
    store = new PostgresEventStore(db.pool, { idlePollMs: 500, inline: new InlineProjections(PROJECTIONS) });
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('for random histories of publishes, yanks and scope changes', async () => {
    const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 3_600_000, onBackgroundError: (e) => { throw e; } });
    const folded = new FoldedProviderFacts(aggregates);
    const byKey = new ReadModelProviderFacts(db.pool, { load: () => Promise.reject(new Error('the read models should have answered')) });
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 14 }), fc.subarray(VERSIONS), async (steps, named) => {
        const provider = { prefix: 'acme', name: `db-${randomUUID().slice(0, 8)}` };
        let minute = 0;
        for (const step of steps) {
          const now = new Date(Date.UTC(2026, 0, 1, 0, minute++)).toISOString();
          await runCommand(aggregates, providerDecider, providerStream(provider), commandOf(step, provider, now), { actor: 'test', correlationId: randomUUID(), idempotencyScope: 'acme', now }).catch(() => undefined);
        }
        const expected = await folded.load(provider);
        if (expected.status !== 'listed' || !named.every((v) => expected.versions[v])) return;
        expect(decisive(await byKey.load(provider, named), named)).toEqual(decisive(expected, named));
      }),
      { numRuns: 25 },
    );
  });

  it("includes, when asked, the version a tenant has installed (an upgrade's answer needs the one it leaves)", async () => {
    const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 3_600_000, onBackgroundError: () => undefined });
    const provider = { prefix: 'acme', name: `up-${randomUUID().slice(0, 8)}` };
    for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
      const now = new Date().toISOString();
      await runCommand(aggregates, providerDecider, providerStream(provider), commandOf({ kind: 'publish', version, schema: false }, provider, now), { actor: 'test', correlationId: randomUUID(), idempotencyScope: 'acme', now });
    }
    await db.pool.query(
      `INSERT INTO installed_providers (tenant, prefix, name, installation_id, installed_version, current_version, upgrade_policy,
         resource_tier, config, lifecycle_state, health, generation, revision, installed_at, updated_at)
       VALUES ('tenant-a', $1, $2, gen_random_uuid(), '1.0.0', '1.0.0', 'manual', 'small', '{}'::jsonb, 'ready', 'healthy', 1, 3, now(), now())`,
      [provider.prefix, provider.name],
    );
    const facts = new ReadModelProviderFacts(db.pool, { load: () => Promise.reject(new Error('the read models should have answered')) });
    const versionsOf = (state: Awaited<ReturnType<typeof facts.load>>) => (state.status === 'listed' ? Object.keys(state.versions).sort() : []);
    expect(versionsOf(await facts.load(provider, ['1.1.0'], 'tenant-a'))).toEqual(['1.0.0', '1.1.0', '2.0.0']);
    expect(versionsOf(await facts.load(provider, ['1.1.0'], 'tenant-b'))).toEqual(['1.1.0', '2.0.0']);
    expect(versionsOf(await facts.load(provider, ['1.1.0']))).toEqual(['1.1.0', '2.0.0']);
  });

  it("answers a command with the provider stream's revision it read, and only a command that allows it with what it remembers", async () => {
    const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 3_600_000, onBackgroundError: () => undefined });
    const provider = { prefix: 'acme', name: `mem-${randomUUID().slice(0, 8)}` };
    const publish = (version: string) => {
      const now = new Date().toISOString();
      return runCommand(aggregates, providerDecider, providerStream(provider), commandOf({ kind: 'publish', version, schema: false }, provider, now), { actor: 'test', correlationId: randomUUID(), idempotencyScope: 'acme', now });
    };
    await publish('1.0.0');
    await publish('1.1.0');
    const facts = new ReadModelProviderFacts(db.pool, { load: () => Promise.reject(new Error('the read models should have answered')) });
    const latestOf = (state: ProviderState) => latestVersion(state)?.version;
    const first = await facts.loadForCommand(provider, ['1.0.0'], 'tenant-a', { remembered: true });
    expect(first.revision).toBe(1);
    expect(latestOf(first.state)).toBe('1.1.0');

    await publish('2.0.0');
    // Remembered: the answer at revision 1, which the command's append then requires (and finds moved).
    const remembered = await facts.loadForCommand(provider, ['1.0.0'], 'tenant-a', { remembered: true });
    expect(remembered.revision).toBe(1);
    expect(latestOf(remembered.state)).toBe('1.1.0');
    const fresh = await facts.loadForCommand(provider, ['1.0.0'], 'tenant-a', { remembered: false });
    expect(fresh.revision).toBe(2);
    expect(latestOf(fresh.state)).toBe('2.0.0');
    // A version the memory lacks is read, not guessed.
    expect((await facts.loadForCommand(provider, ['1.1.0'], 'tenant-a', { remembered: true })).revision).toBe(2);
  });

  it('asks the stream when the rows lack a version named (a writer without the inline read models)', async () => {
    const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 3_600_000, onBackgroundError: () => undefined });
    const provider = { prefix: 'acme', name: `bare-${randomUUID().slice(0, 8)}` };
    const plain = new PostgresEventStore(db.pool, { idlePollMs: 500 });
    try {
      const now = new Date().toISOString();
      await runCommand(plain, providerDecider, providerStream(provider), commandOf({ kind: 'publish', version: '1.0.0', schema: false }, provider, now), { actor: 'test', correlationId: randomUUID(), idempotencyScope: 'acme', now });
    } finally {
      await plain.close();
    }
    const facts = new ReadModelProviderFacts(db.pool, new FoldedProviderFacts(aggregates));
    const state = await facts.load(provider, ['1.0.0']);
    expect(state.status === 'listed' && state.versions['1.0.0']?.version).toBe('1.0.0');
  });
});
