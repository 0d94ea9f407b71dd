import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { fold } from '../../libs/domain/decider';
import { upcast } from '../../libs/domain/upcasters';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

/*
 * Races on one stream over HTTP: 64 concurrent commands that can only succeed once each. Exactly
 * one wins, every loser gets a 409 or 412 with the error body and appends nothing, and the state
 * folded from the stream equals what the API answers.
 */

jest.setTimeout(60_000);

const N = 64;
const wheel = (name: string, version: string) => `https://files.example.com/${name.replace('/', '_')}-${version}-py3-none-any.whl`;

describe('concurrency: 64 racing commands on one stream', () => {
  let t: TestApp;
  let acme: string;

  beforeAll(async () => {
    t = await startTestApp();
    acme = await t.createKey('acme', ['publish', 'install', 'read']);
    for (const version of ['1.0.0', '2.0.0', '3.0.0']) {
      const res = await t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/db', version, wheel_url: wheel('acme/db', version) } });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  function tally(responses: TestResponse[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of responses) {
      const k = r.status < 300 ? String(r.status) : `${r.status} ${r.body?.code}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  function report(name: string, responses: TestResponse[], appended: number, extra = ''): void {
    const s2xx = responses.filter((r) => r.status < 300).length;
    const s4xx = responses.filter((r) => r.status >= 400 && r.status < 500).length;
    const s5xx = responses.filter((r) => r.status >= 500).length;
    process.stdout.write(
      `[concurrency] ${name}: requests=${responses.length} 2xx=${s2xx} 4xx=${s4xx} 5xx=${s5xx} events_appended=${appended} events_appended_by_4xx=0 by_status=${JSON.stringify(tally(responses))}${extra}\n`,
    );
  }

  function expectLosers(responses: TestResponse[], allowed: number[]): void {
    for (const r of responses.filter((x) => x.status >= 300)) {
      expect(allowed).toContain(r.status);
      expect(r.body).toEqual({ code: expect.any(String), message: expect.any(String), details: expect.any(Array) });
    }
  }

  async function streamState(tenant: string) {
    const events = (await t.infrastructure.eventStore.readStream(installationStream(tenant, { prefix: 'acme', name: 'db' }))).map(upcast);
    return { state: fold<ReturnType<typeof installationDecider.evolve>, never>(installationDecider, events as never[]), events };
  }

  async function expectApiMatchesStream(tenant: string, key: string, position: string) {
    const { state, events } = await streamState(tenant);
    if ((state as { status: string }).status !== 'present') throw new Error('installation missing from its stream');
    const present = state as unknown as { installedVersion: string; resourceTier: string; upgradePolicy: string; config: Record<string, string>; lifecycle: string };
    const got = await t.request('GET', `/providers/installed/acme/db?min_position=${position}`, { key });
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe(`"${events.length - 1}"`);
    expect({
      installed_version: got.body.installed_version,
      resource_tier: got.body.resource_tier,
      upgrade_policy: got.body.upgrade_policy,
      config: got.body.config,
      lifecycle_state: got.body.lifecycle_state,
    }).toEqual({
      installed_version: present.installedVersion,
      resource_tier: present.resourceTier,
      upgrade_policy: present.upgradePolicy,
      config: present.config,
      lifecycle_state: present.lifecycle,
    });
    return { got, events };
  }

  it('64 concurrent installs of the same provider by one tenant: one 201, 63 × 409 (already_installed or concurrent_modification)', async () => {
    const before = await t.eventCount();
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) => t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/db', version: '2.0.0', config: { N: String(i) } } })),
    );
    const appended = (await t.eventCount()) - before;
    report('install×64', responses, appended);
    expect(appended).toBe(1); // the one 201's InstallRequested; the 63 losers appended nothing
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409 && ['already_installed', 'concurrent_modification'].includes(r.body?.code))).toHaveLength(N - 1);
    expectLosers(responses, [409]);
    const { events } = await streamState('acme');
    expect(events.filter((e) => e.type === 'InstallRequested')).toHaveLength(1);
    const winner = responses.find((r) => r.status === 201)!;
    const { got } = await expectApiMatchesStream('acme', acme, winner.headers.get('x-position')!);
    expect(got.body.installed_version).toBe('2.0.0');
    expect(got.body.config).toEqual(winner.body.config);
  });

  it('64 concurrent upgrades and downgrades under the same If-Match: exactly one 2xx, the rest 412 or 409', async () => {
    const { events: head } = await streamState('acme');
    const revision = head.length - 1;
    const before = await t.eventCount();
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        i % 2 === 0
          ? t.request('POST', '/providers/installed/acme/db/upgrade', { key: acme, body: { version: '3.0.0' }, headers: { 'If-Match': `"${revision}"` } })
          : t.request('POST', '/providers/installed/acme/db/downgrade', { key: acme, body: { target_version: '1.0.0' }, headers: { 'If-Match': `"${revision}"` } }),
      ),
    );
    const appended = (await t.eventCount()) - before;
    const winners = responses.filter((r) => r.status < 300);
    report('upgrade/downgrade×64 If-Match', responses, appended, ` winner=${winners[0]?.body?.installed_version}`);
    expect(winners).toHaveLength(1);
    expect(appended).toBe(1);
    // A loser that read the stream after the winner committed is refused by If-Match (412); one that
    // read it at the same revision as the winner loses the append (409 concurrent_modification).
    expect(responses.filter((r) => r.status === 412 || (r.status === 409 && r.body?.code === 'concurrent_modification'))).toHaveLength(N - 1);
    expectLosers(responses, [409, 412]);
    const { events } = await streamState('acme');
    expect(events.length - head.length).toBe(appended);
    expect(events.slice(head.length).map((e) => e.type).filter((type) => type === 'UpgradeRequested' || type === 'DowngradeRequested')).toHaveLength(1);
    const { got } = await expectApiMatchesStream('acme', acme, winners[0].headers.get('x-position')!);
    expect(got.body.installed_version).toBe(winners[0].body.installed_version);
    expect(['3.0.0', '1.0.0']).toContain(got.body.installed_version);
  });

  it('64 concurrent upgrades to one version without If-Match: one 2xx, 63 × 409', async () => {
    const current = (await t.request('GET', '/providers/installed/acme/db', { key: acme })).body.installed_version as string;
    const target = current === '3.0.0' ? '2.0.0' : '3.0.0';
    const path = current === '3.0.0' ? 'downgrade' : 'upgrade';
    const body = path === 'upgrade' ? { version: target } : { target_version: target };
    const before = await t.eventCount();
    const responses = await Promise.all(Array.from({ length: N }, () => t.request('POST', `/providers/installed/acme/db/${path}`, { key: acme, body })));
    const appended = (await t.eventCount()) - before;
    report(`${path}×64 to ${target}`, responses, appended);
    const winners = responses.filter((r) => r.status < 300);
    expect(winners).toHaveLength(1);
    expect(appended).toBe(1);
    expect(responses.filter((r) => r.status === 409 && ['already_at_version', 'concurrent_modification'].includes(r.body?.code))).toHaveLength(N - 1);
    expectLosers(responses, [409]);
    const { got } = await expectApiMatchesStream('acme', acme, winners[0].headers.get('x-position')!);
    expect(got.body.installed_version).toBe(target);
  });

  it('64 concurrent publishes of the same version: one 201, 63 × 409, one ProviderVersionPublished', async () => {
    const before = await t.eventCount();
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/race', version: '1.0.0', wheel_url: wheel('acme/race', '1.0.0'), changelog: `attempt ${i}` } }),
      ),
    );
    const appended = (await t.eventCount()) - before;
    const { rows } = await t.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM es_events WHERE event_type = 'ProviderVersionPublished' AND stream_name = 'provider-acme.race' AND data->>'version' = '1.0.0'`,
    );
    report('publish×64', responses, appended, ` ProviderVersionPublished=${rows[0].n}`);
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409 && ['version_exists', 'concurrent_modification'].includes(r.body?.code))).toHaveLength(N - 1);
    expectLosers(responses, [409]);
    expect(Number(rows[0].n)).toBe(1);
    const { rows: all } = await t.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM es_events WHERE stream_name = 'provider-acme.race'`);
    expect(appended).toBe(Number(all[0].n)); // everything appended belongs to the one winning publish
    const winner = responses.find((r) => r.status === 201)!;
    const got = await t.request('GET', `/providers/acme/race/versions/1.0.0?min_position=${winner.headers.get('x-position')}`, { key: acme });
    expect(got.status).toBe(200);
    expect(got.body.changelog).toBe(winner.body.changelog);
  });
});
