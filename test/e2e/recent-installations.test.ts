import { ApiReplica, startApiReplica } from '../support/api-replica';
import { TestApp, startTestApp } from '../support/test-app';

/**
 * Each API process decides a command on the state its own last command left (no load), and the
 * append's revision check turns that guess away once anything else wrote the stream. Two replicas
 * take turns on one installation here, so every other command starts from a stale state: every answer
 * must still be the one a fresh load gives.
 */
describe('commands decided on the state a replica last wrote', () => {
  let a: TestApp;
  let b: ApiReplica;
  let key: string;
  const path = '/providers/installed/acme/db';

  beforeAll(async () => {
    a = await startTestApp();
    b = await startApiReplica(a);
    key = await a.createKey('acme', ['publish', 'install', 'read']);
    for (const version of ['1.0.0', '2.0.0', '3.0.0']) {
      const published = await a.request('POST', '/provider-versions', { key, body: { name: 'acme/db', version, wheel_url: `https://files.example.com/acme_db-${version}-py3-none-any.whl` } });
      expect(published.status).toBe(201);
    }
    expect((await a.request('POST', '/providers/install', { key, body: { provider_name: 'acme/db', version: '1.0.0' } })).status).toBe(201);
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const events = async () => Number((await a.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM es_events WHERE stream_name LIKE 'installation-%'`)).rows[0].n);

  it('appends a command decided on a stale state only after deciding it again on the current one', async () => {
    expect((await a.request('POST', `${path}/upgrade`, { key, body: { version: '2.0.0' } })).status).toBe(200);
    expect(a.infrastructure.recentInstallations.size).toBe(1);
    // b moves the installation on: a's remembered state (2.0.0) is now stale.
    expect((await b.request('POST', `${path}/upgrade`, { key, body: { version: '3.0.0' } })).status).toBe(200);

    // On its stale state, a would downgrade 2.0.0 → 1.0.0 at the old revision; the store refuses that
    // append, and the command decided again downgrades 3.0.0 → 1.0.0.
    const down = await a.request('POST', `${path}/downgrade`, { key, body: { target_version: '1.0.0' } });
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({ installed_version: '1.0.0' });
    const { rows } = await a.db.pool.query<{ data: { from_version: string; to_version: string } }>(
      `SELECT data FROM es_events WHERE stream_name LIKE 'installation-%' ORDER BY global_position DESC LIMIT 1`,
    );
    expect(rows[0].data).toMatchObject({ from_version: '3.0.0', to_version: '1.0.0' });
    const there = await b.request('GET', path, { key });
    expect(there.body).toMatchObject({ installed_version: '1.0.0' });
    expect(down.headers.get('etag')).toBe(there.headers.get('etag'));
  });

  it('answers a refusal from the current state, not from the stale one, and writes nothing', async () => {
    expect((await b.request('POST', `${path}/upgrade`, { key, body: { version: '2.0.0' } })).status).toBe(200);
    const before = await events();
    // a remembers 1.0.0, where an upgrade to 2.0.0 is allowed; the installation is at 2.0.0 now.
    const refused = await a.request('POST', `${path}/upgrade`, { key, body: { version: '2.0.0' } });
    const fromB = await b.request('POST', `${path}/upgrade`, { key, body: { version: '2.0.0' } });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('already_at_version');
    expect(fromB.status).toBe(refused.status);
    expect(await events()).toBe(before);
  });

  it('honours If-Match against the stream, not against the remembered revision', async () => {
    const current = (await b.request('GET', path, { key })).headers.get('etag');
    expect(current).toMatch(/^"\d+"$/);
    // a remembers an older revision; the stream is at `current`, which is what If-Match names.
    const changed = await a.request('POST', `${path}/upgrade`, { key, body: { version: '3.0.0' }, headers: { 'if-match': current ?? '' } });
    expect(changed.status).toBe(200);
    const stale = await b.request('POST', `${path}/downgrade`, { key, body: { target_version: '1.0.0' }, headers: { 'if-match': current ?? '' } });
    expect(stale.status).toBe(412);
  });

  it('decides again when the provider changed after the facts it remembers (a yank on another replica)', async () => {
    // a's last command left the installation at 3.0.0 and remembers the provider with 2.0.0 installable.
    expect((await a.request('POST', `${path}/downgrade`, { key, body: { target_version: '2.0.0' } })).status).toBe(200);
    expect((await a.request('POST', `${path}/upgrade`, { key, body: { version: '3.0.0' } })).status).toBe(200);
    expect((await b.request('POST', '/providers/acme/db/versions/2.0.0/yank', { key, body: { reason: 'bad build' } })).status).toBe(200);
    const before = await events();
    // On what a remembers, the downgrade is allowed; the append requires the provider's stream where
    // those facts were read, the yank moved it, and decided again the downgrade is refused.
    const refused = await a.request('POST', `${path}/downgrade`, { key, body: { target_version: '2.0.0' } });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('version_yanked');
    expect(await events()).toBe(before);
    expect((await a.request('POST', `${path}/downgrade`, { key, body: { target_version: '1.0.0' } })).status).toBe(200);
  });

  it('answers alike with the memory off (AGGREGATE_CACHE_SIZE=0)', async () => {
    const off = await startApiReplica(a, { AGGREGATE_CACHE_SIZE: '0' });
    try {
      expect((await off.request('POST', `${path}/upgrade`, { key, body: { version: '3.0.0' } })).status).toBe(200);
      expect((await a.request('POST', `${path}/downgrade`, { key, body: { target_version: '1.0.0' } })).status).toBe(200);
      expect((await off.request('POST', `${path}/upgrade`, { key, body: { version: '3.0.0' } })).status).toBe(200);
      expect((await off.request('GET', path, { key })).body).toMatchObject({ installed_version: '3.0.0' });
    } finally {
      await off.close();
    }
  });
});
