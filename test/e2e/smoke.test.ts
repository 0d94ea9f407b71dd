import { TestApp, startTestApp } from '../support/test-app';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('publishes, installs and lists', async () => {
    const key = await t.createKey('acme', ['publish', 'install', 'read']);
    const pub = await t.request('POST', '/provider-versions', {
      key,
      body: { name: 'acme/postgres', version: '1.0.0', wheel_url: 'https://files.example.com/a/../acme_postgres-1.0.0-py3-none-any.whl#x', schemas: { db: { type: 'object' } }, metadata: { display_name: 'Postgres', tags: ['db'] } },
    });
    expect(pub.status).toBe(201);
    expect(pub.headers.get('content-type')).toBe('application/json');
    expect(pub.body).toMatchObject({ prefix: 'acme', name: 'postgres', version: '1.0.0', status: 'published', wheel_url: 'https://files.example.com/acme_postgres-1.0.0-py3-none-any.whl' });
    const inst = await t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/postgres' } });
    expect(inst.status).toBe(201);
    expect(inst.body.lifecycle_state).toBe('pending');
    const list = await t.request('GET', `/providers/installed?min_position=${inst.headers.get('x-position')}`, { key });
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(1);
    const cat = await t.request('GET', `/providers/acme/postgres?min_position=${inst.headers.get('x-position')}`, { key });
    expect(cat.body).toMatchObject({ latest_version: '1.0.0', install_count: 1, display_name: 'Postgres' });
    const unauth = await t.request('GET', '/providers/installed');
    expect(unauth.status).toBe(401);
    expect(unauth.body.code).toBe('unauthorized');
    const bad = await t.request('POST', '/provider-versions', { key, rawBody: '{nope' });
    expect(bad.status).toBe(400);
    const wrong = await t.request('POST', '/provider-versions', { key, body: { name: 5, version: 'x', wheel_url: 'http://a/b.whl', extra: 1 } });
    expect(wrong.status).toBe(422);
    const docs = await t.request('GET', '/openapi.json');
    expect(docs.status).toBe(200);
    // Swagger UI: its page, and the assets it links (relative to /docs, served by @fastify/static).
    const ui = await t.request('GET', '/docs');
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    const assets = [...ui.text.matchAll(/(?:src|href)=["']([^"']+\.(?:js|css))["']/g)].map((match) => new URL(match[1], 'http://api/docs').pathname);
    expect(assets).toEqual(expect.arrayContaining(['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui-init.js']));
    for (const asset of assets) expect((await t.request('GET', asset)).status).toBe(200);
  });
});
