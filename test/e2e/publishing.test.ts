import { HttpsWheelServer, startHttpsWheelServer } from '../support/https-wheel-server';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { expectRejected } from '../support/http-assertions';

/**
 * Publishing over HTTP against the real API: POST /provider-versions (validation, ownership, wheel
 * download and digest check against a local HTTPS registry), version listing, yank, catalog search
 * and metadata, idempotency. Every 4xx is checked for its status, its code and that nothing was
 * appended to the log.
 */

const PROVIDER_VERSION_FIELDS = [
  'build_id',
  'canonical',
  'changelog',
  'created_at',
  'entrypoint',
  'error_message',
  'name',
  'package_name',
  'prefix',
  'published_at',
  'runtime_image',
  'runtime_version',
  'schemas',
  'source_hash',
  'status',
  'updated_at',
  'version',
  'wheel_sha256',
  'wheel_url',
];
const PROVIDER_FIELDS = [
  'author',
  'canonical',
  'created_at',
  'description',
  'display_name',
  'icon_url',
  'install_count',
  'latest_version',
  'name',
  'prefix',
  'readme',
  'scope',
  'tags',
  'updated_at',
];
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ETAG = /^"\d+"$/;
const POSITION = /^\d+:\d+$/;
const RUNTIME_VERSION = '3.1.4';

const wheelUrl = (file: string) => `https://files.example.com/wheels/${file}-py3-none-any.whl`;

describe('publishing', () => {
  let t: TestApp;
  let wheels: HttpsWheelServer;
  let acme: string; // publish + read
  let acmeReadOnly: string;
  let beta: string; // every scope, but organisation beta
  let platformAdmin: string;

  const publish = (body: unknown, key = acme, headers?: Record<string, string>) => t.request('POST', '/provider-versions', { key, body, headers });

  const rejected = (send: () => Promise<TestResponse>, status: number, code: string) => expectRejected(t, send, status, code);

  async function published(body: Record<string, unknown>, key = acme): Promise<TestResponse> {
    const res = await publish(body, key);
    if (res.status !== 201) throw new Error(`publish ${JSON.stringify(body)} → ${res.status} ${res.text}`);
    return res;
  }

  const versionsOf = (res: TestResponse) => (res.body as Array<{ version: string }>).map((v) => v.version);

  beforeAll(async () => {
    wheels = await startHttpsWheelServer({ oversizedBytes: 3 * 1024 * 1024 });
    t = await startTestApp({
      WHEEL_FETCH_ALLOW_HOSTS: '127.0.0.1',
      WHEEL_FETCH_CA_FILE: wheels.caFile,
      WHEEL_FETCH_MAX_BYTES: '1mb',
      WHEEL_FETCH_TIMEOUT_MS: '2000',
      WHEEL_FETCH_MAX_REDIRECTS: '3',
      BODY_LIMIT: '256kb',
      RUNTIME_VERSION,
    });
    [acme, acmeReadOnly, beta, platformAdmin] = await Promise.all([
      t.createKey('acme', ['publish', 'read']),
      t.createKey('acme', ['read', 'install']),
      t.createKey('beta', ['publish', 'install', 'read', 'admin']),
      t.createKey('ops', ['publish', 'read'], { platformAdmin: true }),
    ]);
  });
  afterAll(async () => {
    await t?.close();
    await wheels?.close();
  });

  describe('publish, list, get', () => {
    let first: TestResponse;
    let second: TestResponse;
    let rc: TestResponse;

    it('publishes acme/postgres 1.0.0: 201, every ProviderVersion field, wheel_url in canonical form', async () => {
      const before = await t.eventCount();
      first = await published({
        name: 'acme/postgres',
        version: '1.0.0',
        // upper-case scheme and host, default port, dot-segments and a fragment: all normalised away
        wheel_url: 'HTTPS://FILES.Example.COM:443/wheels/./tmp/../acme_postgres-1.0.0-py3-none-any.whl#sha256=feed',
        package_name: 'acme_postgres',
        entrypoint: ['python', '-m', 'acme_postgres.runtime'],
        schemas: { database: { type: 'object', properties: { size_gb: { type: 'integer' } } }, role: { type: 'object' } },
        metadata: { display_name: 'Postgres', description: 'Managed PostgreSQL databases', tags: ['db', 'sql'] },
        changelog: 'First release',
      });
      expect(await t.eventCount()).toBeGreaterThan(before);
      expect(first.headers.get('content-type')).toBe('application/json');
      expect(first.headers.get('etag')).toMatch(ETAG);
      expect(first.headers.get('x-position')).toMatch(POSITION);
      expect(Object.keys(first.body).sort()).toEqual(PROVIDER_VERSION_FIELDS);
      expect(first.body).toEqual({
        prefix: 'acme',
        name: 'postgres',
        version: '1.0.0',
        runtime_version: RUNTIME_VERSION,
        canonical: 'acme/postgres',
        created_at: expect.stringMatching(RFC3339_UTC),
        updated_at: expect.stringMatching(RFC3339_UTC),
        wheel_url: 'https://files.example.com/wheels/acme_postgres-1.0.0-py3-none-any.whl',
        wheel_sha256: null,
        package_name: 'acme_postgres',
        entrypoint: ['python', '-m', 'acme_postgres.runtime'],
        source_hash: null,
        build_id: null,
        schemas: expect.arrayContaining([
          { resource_type: 'database', schema: { type: 'object', properties: { size_gb: { type: 'integer' } } } },
          { resource_type: 'role', schema: { type: 'object' } },
        ]),
        changelog: 'First release',
        runtime_image: null,
        status: 'published',
        published_at: expect.stringMatching(RFC3339_UTC),
        error_message: null,
      });
      expect(first.body.schemas).toHaveLength(2);
    });

    it('reads the version back at the X-Position of its publish (read-your-writes)', async () => {
      const got = await t.request('GET', `/providers/acme/postgres/versions/1.0.0?min_position=${first.headers.get('x-position')}`, { key: acme });
      expect(got.status).toBe(200);
      expect(got.body).toEqual(first.body);
      expect(got.headers.get('etag')).toMatch(ETAG);
      const catalog = await t.request('GET', '/providers/acme/postgres', { key: acme, headers: { 'X-Min-Position': first.headers.get('x-position')! } });
      expect(catalog.status).toBe(200);
      expect(catalog.body.latest_version).toBe('1.0.0');
    });

    it('publishes 1.1.0 with only the required fields: absent fields are null', async () => {
      second = await published({ name: 'acme/postgres', version: '1.1.0', wheel_url: wheelUrl('acme_postgres-1.1.0') });
      expect(Object.keys(second.body).sort()).toEqual(PROVIDER_VERSION_FIELDS);
      expect(second.body).toMatchObject({
        version: '1.1.0',
        status: 'published',
        runtime_version: RUNTIME_VERSION,
        wheel_sha256: null,
        package_name: null,
        entrypoint: null,
        source_hash: null,
        build_id: null,
        changelog: null,
        error_message: null,
        published_at: expect.stringMatching(RFC3339_UTC),
      });
      expect([null, []]).toContainEqual(second.body.schemas);
    });

    it('publishes 2.0.0-rc.1 with legacy resource_schemas, returned as the schemas list', async () => {
      rc = await published({
        name: 'acme/postgres',
        version: '2.0.0-rc.1',
        wheel_url: wheelUrl('acme_postgres-2.0.0rc1'),
        resource_schemas: { cluster: { type: 'object', required: ['nodes'] } },
        config_schema: { type: 'object' },
        outputs_schema: { type: 'object' },
      });
      expect(rc.body.schemas).toEqual([{ resource_type: 'cluster', schema: { type: 'object', required: ['nodes'] } }]);
      expect(rc.body.version).toBe('2.0.0-rc.1');
    });

    it('normalises every form of wheel_url to its canonical form', async () => {
      const cases: Array<[string, string]> = [
        ['https://files.example.com/a/b/../c/./x-1.whl', 'https://files.example.com/a/c/x-1.whl'],
        ['https://FILES.EXAMPLE.COM/x-2.whl#frag', 'https://files.example.com/x-2.whl'],
        ['HTTPS://files.example.com:443/x-3.whl', 'https://files.example.com/x-3.whl'],
        ['https://files.example.com:8443/x-4.whl', 'https://files.example.com:8443/x-4.whl'],
        ['https://files.example.com/%2E%2E/x-5.whl', 'https://files.example.com/x-5.whl'],
      ];
      let patch = 0;
      for (const [raw, canonical] of cases) {
        const res = await published({ name: 'acme/urls', version: `0.0.${patch++}`, wheel_url: raw });
        expect({ raw, stored: res.body.wheel_url }).toEqual({ raw, stored: canonical });
      }
    });

    it('lists versions newest semver first, as a JSON array with X-Total-Count', async () => {
      const list = await t.request('GET', `/providers/acme/postgres/versions?min_position=${rc.headers.get('x-position')}`, { key: acme });
      expect(list.status).toBe(200);
      expect(Array.isArray(list.body)).toBe(true);
      expect(list.headers.get('x-total-count')).toBe('3');
      expect(versionsOf(list)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);
      for (const item of list.body) expect(Object.keys(item).sort()).toEqual(PROVIDER_VERSION_FIELDS);
      expect(list.body[1]).toEqual(second.body);

      const page = await t.request('GET', '/providers/acme/postgres/versions?limit=1&offset=1', { key: acme });
      expect(versionsOf(page)).toEqual(['1.1.0']);
      expect(page.headers.get('x-total-count')).toBe('3');
      const past = await t.request('GET', '/providers/acme/postgres/versions?offset=10', { key: acme });
      expect(past.body).toEqual([]);
      expect(past.headers.get('x-total-count')).toBe('3');
      const publishedOnly = await t.request('GET', '/providers/acme/postgres/versions?status=published', { key: acme });
      expect(versionsOf(publishedOnly)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);
      const none = await t.request('GET', '/providers/acme/postgres/versions?status=yanked', { key: acme });
      expect(none.body).toEqual([]);
      expect(none.headers.get('x-total-count')).toBe('0');
      // any organisation may read the public catalog's versions
      const fromBeta = await t.request('GET', '/providers/acme/postgres/versions', { key: beta });
      expect(versionsOf(fromBeta)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);
    });

    it('orders by semver precedence, not by text', async () => {
      let last: TestResponse | undefined;
      for (const version of ['1.9.0', '1.10.0-beta.2', '0.9.0', '1.10.0', '1.10.0-beta.10', '1.10.0-alpha']) {
        last = await published({ name: 'acme/sorting', version, wheel_url: wheelUrl(`sorting-${version}`) });
      }
      const list = await t.request('GET', `/providers/acme/sorting/versions?min_position=${last!.headers.get('x-position')}`, { key: acme });
      expect(versionsOf(list)).toEqual(['1.10.0', '1.10.0-beta.10', '1.10.0-beta.2', '1.10.0-alpha', '1.9.0', '0.9.0']);
    });

    it('rejects bad list parameters and unknown providers', async () => {
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions?status=bogus', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions?limit=0', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions?limit=101', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions?offset=-1', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/acme/nope/versions', { key: acme }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions?min_position=yesterday', { key: acme }), 422, 'invalid_min_position');
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions'), 401, 'unauthorized');
    });

    it('gets one version with the provider stream revision as its ETag (what If-Match on a yank needs)', async () => {
      const position = await t.lastPosition();
      const got = await t.request('GET', `/providers/acme/postgres/versions/1.1.0?min_position=${position}`, { key: acme });
      expect(got.status).toBe(200);
      expect(got.body).toEqual(second.body);
      await t.request('GET', `/providers/acme/postgres?min_position=${position}`, { key: acme });
      const [last] = await t.infrastructure.eventStore.readStream('provider-acme.postgres', { direction: 'backwards', maxCount: 1 });
      const again = await t.request('GET', '/providers/acme/postgres/versions/1.1.0', { key: acme });
      expect(again.headers.get('etag')).toBe(`"${last.revision}"`);
      await rejected(() => t.request('GET', '/providers/acme/postgres/versions/9.9.9', { key: acme }), 404, 'version_not_found');
      await rejected(() => t.request('GET', '/providers/acme/nope/versions/1.0.0', { key: acme }), 404, 'provider_not_found');
    });
  });

  describe('catalog, yank, metadata', () => {
    it('shows the provider in the catalog with latest_version = highest stable', async () => {
      const got = await t.request('GET', '/providers/acme/postgres', { key: beta });
      expect(got.status).toBe(200);
      expect(Object.keys(got.body).sort()).toEqual(PROVIDER_FIELDS);
      expect(got.body).toEqual({
        prefix: 'acme',
        name: 'postgres',
        canonical: 'acme/postgres',
        display_name: 'Postgres',
        description: 'Managed PostgreSQL databases',
        author: { kind: 'customer', organization_id: 'acme', display_name: expect.any(String) },
        scope: 'public',
        icon_url: null,
        readme: null,
        tags: ['db', 'sql'],
        latest_version: '1.1.0',
        install_count: 0,
        created_at: expect.stringMatching(RFC3339_UTC),
        updated_at: expect.stringMatching(RFC3339_UTC),
      });
      await rejected(() => t.request('GET', '/providers/acme/nope', { key: beta }), 404, 'provider_not_found');
    });

    it('yanks 1.1.0: status yanked, latest moves back to 1.0.0', async () => {
      const head = await t.request('GET', '/providers/acme/postgres/history', { key: acme });
      expect(head.status).toBe(200);
      const revision = head.body.total - 1;
      await rejected(
        () => t.request('POST', '/providers/acme/postgres/versions/1.1.0/yank', { key: acme, body: {}, headers: { 'If-Match': `"${revision + 7}"` } }),
        412,
        'revision_mismatch',
      );
      const before = await t.eventCount();
      const yank = await t.request('POST', '/providers/acme/postgres/versions/1.1.0/yank', {
        key: acme,
        body: { reason: 'broken migration' },
        headers: { 'If-Match': `"${revision}"` },
      });
      expect(yank.status).toBe(200);
      expect(await t.eventCount()).toBe(before + 1);
      expect(yank.headers.get('etag')).toBe(`"${revision + 1}"`);
      expect(yank.headers.get('x-position')).toMatch(POSITION);
      expect(Object.keys(yank.body).sort()).toEqual(PROVIDER_VERSION_FIELDS);
      expect(yank.body).toMatchObject({ version: '1.1.0', status: 'yanked' });

      const pos = yank.headers.get('x-position');
      const got = await t.request('GET', `/providers/acme/postgres/versions/1.1.0?min_position=${pos}`, { key: acme });
      expect(got.body.status).toBe('yanked');
      expect(got.headers.get('etag')).toBe(yank.headers.get('etag'));
      const yanked = await t.request('GET', `/providers/acme/postgres/versions?status=yanked&min_position=${pos}`, { key: acme });
      expect(versionsOf(yanked)).toEqual(['1.1.0']);
      const stillListed = await t.request('GET', '/providers/acme/postgres/versions', { key: acme });
      expect(versionsOf(stillListed)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);
      const catalog = await t.request('GET', `/providers/acme/postgres?min_position=${pos}`, { key: acme });
      expect(catalog.body.latest_version).toBe('1.0.0');
    });

    it('refuses to yank twice, unknown versions, foreign prefixes and keys without publish', async () => {
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.1.0/yank', { key: acme, body: {} }), 409, 'version_already_yanked');
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/9.9.9/yank', { key: acme, body: {} }), 404, 'version_not_found');
      await rejected(() => t.request('POST', '/providers/acme/nope/versions/1.0.0/yank', { key: acme, body: {} }), 404, 'provider_not_found');
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.0.0/yank', { key: beta, body: {} }), 403, 'prefix_not_owned');
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.0.0/yank', { key: acmeReadOnly, body: {} }), 403, 'missing_scope');
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.0.0/yank', { body: {} }), 401, 'unauthorized');
      await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.0.0/yank', { key: acme, body: { reason: 5 } }), 422, 'validation_failed');
    });

    it('refuses a duplicate version, yanked or not (versions are immutable)', async () => {
      await rejected(() => publish({ name: 'acme/postgres', version: '1.0.0', wheel_url: wheelUrl('other') }), 409, 'version_exists');
      await rejected(() => publish({ name: 'acme/postgres', version: '1.1.0', wheel_url: wheelUrl('acme_postgres-1.1.0') }), 409, 'version_exists');
      await rejected(() => publish({ name: 'acme/postgres', version: '2.0.0-rc.1', wheel_url: wheelUrl('acme_postgres-2.0.0rc1') }), 409, 'version_exists');
    });

    it('takes a prerelease as latest only when no stable version exists; none when all are yanked', async () => {
      await published({ name: 'acme/edge', version: '0.1.0-alpha.1', wheel_url: wheelUrl('edge-a1') });
      const rc = await published({ name: 'acme/edge', version: '0.1.0-rc.1', wheel_url: wheelUrl('edge-rc1') });
      const got = await t.request('GET', `/providers/acme/edge?min_position=${rc.headers.get('x-position')}`, { key: acme });
      expect(got.body.latest_version).toBe('0.1.0-rc.1');
      await t.request('POST', '/providers/acme/edge/versions/0.1.0-rc.1/yank', { key: acme, body: {} });
      const y = await t.request('POST', '/providers/acme/edge/versions/0.1.0-alpha.1/yank', { key: acme, body: {} });
      expect(y.status).toBe(200);
      const after = await t.request('GET', `/providers/acme/edge?min_position=${y.headers.get('x-position')}`, { key: acme });
      expect(after.body.latest_version).toBeNull();
    });

    it('searches the catalog by q and tags', async () => {
      const redis = await published({
        name: 'acme/redis',
        version: '7.0.0',
        wheel_url: wheelUrl('acme_redis-7.0.0'),
        metadata: { display_name: 'Redis Cache', description: 'In-memory key-value store', tags: ['cache', 'kv'] },
      });
      const pos = redis.headers.get('x-position');
      const search = async (query: string) => {
        const res = await t.request('GET', `/providers?${query}${query ? '&' : ''}min_position=${pos}`, { key: beta });
        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(['items', 'limit', 'offset', 'total']);
        for (const item of res.body.items) expect(Object.keys(item).sort()).toEqual(PROVIDER_FIELDS);
        return res.body as { items: Array<{ canonical: string }>; total: number; limit: number; offset: number };
      };
      const names = (page: { items: Array<{ canonical: string }> }) => page.items.map((i) => i.canonical).sort();

      expect(names(await search('q=redis'))).toEqual(['acme/redis']);
      expect(names(await search('q=REDIS%20cache'))).toEqual(['acme/redis']); // display name, any case
      expect(names(await search('q=postgresql'))).toEqual(['acme/postgres']); // description
      expect(names(await search('q=acme%2Fpost'))).toEqual(['acme/postgres']); // canonical name
      expect((await search('q=%25')).total).toBe(0); // LIKE wildcards are literal
      expect((await search('q=_')).total).toBe(0);
      expect(names(await search('tags=db'))).toEqual(['acme/postgres']);
      expect(names(await search('tags=db,sql'))).toEqual(['acme/postgres']);
      expect(names(await search('tags=cache'))).toEqual(['acme/redis']);
      expect((await search('tags=db,cache')).total).toBe(0);
      expect(names(await search('q=redis&tags=kv'))).toEqual(['acme/redis']);

      const all = await search('');
      expect(all.total).toBeGreaterThanOrEqual(5);
      expect(all).toMatchObject({ limit: 20, offset: 0 });
      const one = await search('limit=1&offset=1');
      expect(one.items).toHaveLength(1);
      expect(one).toMatchObject({ limit: 1, offset: 1, total: all.total });
      expect(one.items[0]).toEqual(all.items[1]);
      await rejected(() => t.request('GET', '/providers?limit=500', { key: beta }), 422, 'validation_failed');
      await rejected(() => t.request('GET', `/providers?q=${'x'.repeat(201)}`, { key: beta }), 422, 'validation_failed');
    });

    it('updates catalog metadata with PATCH (publisher only)', async () => {
      const before = await t.eventCount();
      const patch = await t.request('PATCH', '/providers/acme/postgres', {
        key: acme,
        body: { description: 'PostgreSQL 16 clusters', readme: '# Postgres\nClusters.', tags: ['db', 'sql', 'postgres'], icon_url: 'https://cdn.example.com/pg.svg' },
      });
      expect(patch.status).toBe(200);
      expect(await t.eventCount()).toBe(before + 1);
      expect(patch.headers.get('etag')).toMatch(ETAG);
      expect(patch.headers.get('x-position')).toMatch(POSITION);
      expect(Object.keys(patch.body).sort()).toEqual(PROVIDER_FIELDS);
      expect(patch.body).toMatchObject({
        display_name: 'Postgres',
        description: 'PostgreSQL 16 clusters',
        readme: '# Postgres\nClusters.',
        tags: ['db', 'sql', 'postgres'],
        icon_url: 'https://cdn.example.com/pg.svg',
        latest_version: '1.0.0',
      });
      const got = await t.request('GET', `/providers/acme/postgres?min_position=${patch.headers.get('x-position')}`, { key: beta });
      expect(got.body).toEqual(patch.body);
      const tagged = await t.request('GET', `/providers?tags=postgres&min_position=${patch.headers.get('x-position')}`, { key: beta });
      expect(tagged.body.items.map((i: { canonical: string }) => i.canonical)).toEqual(['acme/postgres']);

      // The same values again change nothing.
      const countNow = await t.eventCount();
      const again = await t.request('PATCH', '/providers/acme/postgres', { key: acme, body: { description: 'PostgreSQL 16 clusters' } });
      expect(again.status).toBe(200);
      expect(await t.eventCount()).toBe(countNow);

      // Versions are not disturbed by a metadata change, and their read model still answers at its position.
      const versions = await t.request('GET', `/providers/acme/postgres/versions?min_position=${patch.headers.get('x-position')}`, { key: acme });
      expect(versions.status).toBe(200);
      expect(versionsOf(versions)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);

      // An unknown field is ignored, as the platform's models do: it changes nothing and appends nothing.
      const countBeforeUnknown = await t.eventCount();
      const unknownField = await t.request('PATCH', '/providers/acme/postgres', { key: acme, body: { owner: 'beta' } });
      expect(unknownField.status).toBe(200);
      expect(unknownField.body.author.organization_id).toBe('acme');
      expect(await t.eventCount()).toBe(countBeforeUnknown);
      await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: acme, body: { tags: ['Not A Tag'] } }), 422, 'validation_failed');
      await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: acme, body: { icon_url: 'http://cdn.example.com/pg.svg' } }), 422, 'validation_failed');
      await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: acme, body: { display_name: '' } }), 422, 'validation_failed');
      await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: beta, body: { description: 'mine now' } }), 403, 'prefix_not_owned');
      await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: acmeReadOnly, body: { description: 'x' } }), 403, 'missing_scope');
      await rejected(() => t.request('PATCH', '/providers/acme/nope', { key: acme, body: { description: 'x' } }), 404, 'provider_not_found');
    });
  });

  describe('delete', () => {
    it('removes an uninstalled provider from the catalog (publisher only); its history stays', async () => {
      await rejected(() => t.request('DELETE', '/providers/acme/edge', { key: beta }), 403, 'prefix_not_owned');
      await rejected(() => t.request('DELETE', '/providers/acme/edge', { key: acmeReadOnly }), 403, 'missing_scope');
      await rejected(() => t.request('DELETE', '/providers/platform/edge', { key: acme }), 403, 'platform_admin_required');
      const before = await t.eventCount();
      const del = await t.request('DELETE', '/providers/acme/edge', { key: acme });
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expect(del.headers.get('etag')).toMatch(ETAG);
      expect(del.headers.get('x-position')).toMatch(POSITION);
      expect(await t.eventCount()).toBe(before + 1);
      const pos = del.headers.get('x-position');
      await rejected(() => t.request('GET', `/providers/acme/edge?min_position=${pos}`, { key: acme }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', '/providers/acme/edge/versions', { key: acme }), 404, 'provider_not_found');
      const search = await t.request('GET', `/providers?q=edge&min_position=${pos}`, { key: acme });
      expect(search.body.total).toBe(0);
      const history = await t.request('GET', '/providers/acme/edge/history', { key: acme });
      expect(history.status).toBe(200);
      expect(history.body.items.at(-1).type).toBe('ProviderDeleted');
      await rejected(() => t.request('DELETE', '/providers/acme/edge', { key: acme }), 404, 'provider_not_found');
      await rejected(() => t.request('POST', '/providers/acme/edge/versions/0.1.0-rc.1/yank', { key: acme, body: {} }), 404, 'provider_not_found');
    });
  });

  describe('request validation', () => {
    const valid = { name: 'acme/valid', version: '1.0.0', wheel_url: wheelUrl('valid-1.0.0') };
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['name empty', { name: '' }, 'name'],
      ['name over 200 characters', { name: `acme/${'n'.repeat(196)}` }, 'name'],
      ['name a number', { name: 5 }, 'name'],
      ['name missing', { name: undefined }, 'name'],
      ['version not semver', { version: 'one' }, 'version'],
      ['version 1.0', { version: '1.0' }, 'version'],
      ['version with a v', { version: 'v1.0.0' }, 'version'],
      ['version a number', { version: 1 }, 'version'],
      ['version missing', { version: undefined }, 'version'],
      ['wheel_url http', { wheel_url: 'http://files.example.com/valid-1.0.0-py3-none-any.whl' }, 'wheel_url'],
      ['wheel_url not a .whl', { wheel_url: 'https://files.example.com/valid-1.0.0.tar.gz' }, 'wheel_url'],
      ['wheel_url not a URL', { wheel_url: 'valid-1.0.0-py3-none-any.whl' }, 'wheel_url'],
      ['wheel_url with credentials', { wheel_url: 'https://user:secret@files.example.com/valid.whl' }, 'wheel_url'],
      ['wheel_url missing', { wheel_url: undefined }, 'wheel_url'],
      ['sha256 upper-case', { sha256: 'A'.repeat(64) }, 'sha256'],
      ['sha256 short', { sha256: 'abc123' }, 'sha256'],
      ['sha256 too long', { sha256: 'a'.repeat(65) }, 'sha256'],
      ['package_name empty', { package_name: '' }, 'package_name'],
      ['package_name over 200', { package_name: 'p'.repeat(201) }, 'package_name'],
      ['entrypoint a string', { entrypoint: 'python -m x' }, 'entrypoint'],
      ['entrypoint of numbers', { entrypoint: [1, 2] }, 'entrypoint'],
      ['metadata a string', { metadata: 'Valid' }, 'metadata'],
      ['metadata an array', { metadata: [{ display_name: 'Valid' }] }, 'metadata'],
      ['metadata bad tag', { metadata: { tags: ['Not OK'] } }, 'metadata.tags'],
      ['metadata empty display_name', { metadata: { display_name: '' } }, 'metadata.display_name'],
      ['metadata http icon', { metadata: { icon_url: 'http://cdn.example.com/x.png' } }, 'metadata.icon_url'],
      ['metadata scope unknown', { metadata: { scope: 'everyone' } }, 'metadata.scope'],
      ['schemas an array', { schemas: [{ type: 'object' }] }, 'schemas'],
      ['schemas a string', { schemas: 'none' }, 'schemas'],
      ['resource_schemas a number', { resource_schemas: 3 }, 'resource_schemas'],
      ['config_schema an array', { config_schema: [] }, 'config_schema'],
      ['changelog a number', { changelog: 5 }, 'changelog'],
      ['organization_id empty', { organization_id: '' }, 'organization_id'],
    ];

    it.each(cases)('%s → 422 validation_failed naming the field', async (_label, patch, field) => {
      const res = await rejected(() => publish({ ...valid, ...patch }), 422, 'validation_failed');
      const fields = (res.body.details as Array<{ field: string }>).map((d) => d.field);
      expect(fields).toContain(field);
      for (const detail of res.body.details) {
        expect(detail).toEqual({ field: expect.any(String), constraint: expect.any(String), message: expect.any(String), value_type: expect.any(String) });
      }
    });

    it('lists every bad field at once, with the JSON type of each value', async () => {
      const res = await rejected(() => publish({ name: 5, version: 'x', wheel_url: 'http://a/b.whl', extra: true }), 422, 'validation_failed');
      const byField = new Map<string, string>((res.body.details as Array<{ field: string; value_type: string }>).map((d) => [d.field, d.value_type]));
      expect([...byField.keys()]).toEqual(expect.arrayContaining(['name', 'version', 'wheel_url']));
      expect(byField.get('name')).toBe('number');
      expect(byField.get('version')).toBe('string');
      // Unknown fields are ignored, not refused.
      expect(byField.has('extra')).toBe(false);
    });

    it('rejects a name that is not org/name', async () => {
      for (const name of ['Acme/Postgres', 'acme/postgres/extra', 'acme/', '/postgres', 'acme/pg_sql']) {
        const res = await rejected(() => publish({ ...valid, name }), 422, 'invalid_provider_name');
        expect(res.body.details.map((d: { field: string }) => d.field)).toContain('name');
      }
      // a bare short name needs organization_id
      await rejected(() => publish({ ...valid, name: 'valid' }), 422, 'invalid_provider_name');
    });

    it('answers malformed JSON with 400 malformed_json', async () => {
      await rejected(() => t.request('POST', '/provider-versions', { key: acme, rawBody: '{"name": "acme/x",' }), 400, 'malformed_json');
      await rejected(() => t.request('POST', '/provider-versions', { key: acme, rawBody: "{'name': 'acme/x'}" }), 400, 'malformed_json');
      // strict JSON: a bare scalar is not a request object
      await rejected(() => t.request('POST', '/provider-versions', { key: acme, rawBody: '"acme/x"' }), 400, 'malformed_json');
    });

    it('answers a body over BODY_LIMIT with 413', async () => {
      await rejected(() => publish({ ...valid, changelog: 'x'.repeat(300 * 1024) }), 413, 'payload_too_large');
    });
  });

  describe('ownership and keys', () => {
    it('refuses another organisation’s prefix with 403 prefix_not_owned', async () => {
      await rejected(() => publish({ name: 'acme/stolen', version: '1.0.0', wheel_url: wheelUrl('stolen') }, beta), 403, 'prefix_not_owned');
      await rejected(() => publish({ name: 'acme/postgres', version: '9.0.0', wheel_url: wheelUrl('stolen') }, beta), 403, 'prefix_not_owned');
      // the legacy form cannot get around it either
      await rejected(() => publish({ name: 'postgres', organization_id: 'acme', version: '9.0.1', wheel_url: wheelUrl('stolen') }, beta), 403, 'prefix_not_owned');
    });

    it('needs a platform-admin key for platform/', async () => {
      await rejected(() => publish({ name: 'platform/dns', version: '1.0.0', wheel_url: wheelUrl('dns') }, acme), 403, 'platform_admin_required');
      await rejected(() => publish({ name: 'platform/dns', version: '1.0.0', wheel_url: wheelUrl('dns') }, beta), 403, 'platform_admin_required');
      const ok = await publish({ name: 'platform/dns', version: '1.0.0', wheel_url: wheelUrl('dns'), metadata: { display_name: 'DNS' } }, platformAdmin);
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ prefix: 'platform', name: 'dns', canonical: 'platform/dns', status: 'published' });
      const catalog = await t.request('GET', `/providers/platform/dns?min_position=${ok.headers.get('x-position')}`, { key: beta });
      expect(catalog.body).toMatchObject({ canonical: 'platform/dns', author: { kind: 'platform' }, latest_version: '1.0.0', display_name: 'DNS' });
    });

    it('accepts the legacy short name with organization_id', async () => {
      const res = await published({ name: 'mysql', organization_id: 'acme', version: '8.0.0', wheel_url: wheelUrl('acme_mysql-8.0.0') });
      expect(res.body).toMatchObject({ prefix: 'acme', name: 'mysql', canonical: 'acme/mysql', version: '8.0.0' });
      const got = await t.request('GET', `/providers/acme/mysql/versions/8.0.0?min_position=${res.headers.get('x-position')}`, { key: acme });
      expect(got.status).toBe(200);
      await rejected(() => publish({ name: 'mysql', organization_id: 'beta', version: '8.0.1', wheel_url: wheelUrl('x') }, acme), 403, 'prefix_not_owned');
    });

    it('needs a key with the publish scope', async () => {
      const body = { name: 'acme/scoped', version: '1.0.0', wheel_url: wheelUrl('scoped') };
      await rejected(() => publish(body, acmeReadOnly), 403, 'missing_scope');
      await rejected(() => t.request('POST', '/provider-versions', { body }), 401, 'unauthorized');
      await rejected(() => publish(body, 'psk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 401, 'unauthorized');
      await rejected(() => publish(body, 'not-a-key'), 401, 'unauthorized');
    });
  });

  describe('wheel download and sha256', () => {
    const sha = () => wheels.sha256;

    it('downloads and verifies the wheel: 201 with wheel_sha256', async () => {
      const seen = wheels.requests.length;
      const res = await published({ name: 'acme/verified', version: '1.0.0', wheel_url: `${wheels.url}/good.whl`, sha256: sha() });
      expect(res.body).toMatchObject({ wheel_url: `${wheels.url}/good.whl`, wheel_sha256: sha(), status: 'published' });
      expect(wheels.requests.slice(seen)).toEqual([{ address: '127.0.0.1', path: '/good.whl' }]);
      const got = await t.request('GET', `/providers/acme/verified/versions/1.0.0?min_position=${res.headers.get('x-position')}`, { key: acme });
      expect(got.body.wheel_sha256).toBe(sha());
    });

    it('follows a redirect within the limit', async () => {
      const res = await published({ name: 'acme/verified', version: '1.0.1', wheel_url: `${wheels.url}/redirect.whl`, sha256: sha() });
      expect(res.body).toMatchObject({ wheel_url: `${wheels.url}/redirect.whl`, wheel_sha256: sha() });
      const chain = await published({ name: 'acme/verified', version: '1.0.2', wheel_url: `${wheels.url}/chain/2.whl`, sha256: sha() });
      expect(chain.body.wheel_sha256).toBe(sha());
    });

    it('refuses a digest mismatch with 422 sha256_mismatch, storing nothing', async () => {
      const wrong = 'f'.repeat(64);
      await rejected(() => publish({ name: 'acme/verified', version: '1.1.0', wheel_url: `${wheels.url}/good.whl`, sha256: wrong }), 422, 'sha256_mismatch');
      await rejected(() => publish({ name: 'acme/fresh', version: '1.0.0', wheel_url: `${wheels.url}/good.whl`, sha256: wrong }), 422, 'sha256_mismatch');
      const versions = await t.request('GET', '/providers/acme/verified/versions', { key: acme });
      expect(versionsOf(versions)).not.toContain('1.1.0');
      await rejected(() => t.request('GET', '/providers/acme/fresh', { key: acme }), 404, 'provider_not_found');
    });

    it.each([
      ['a 404', '/missing.whl'],
      ['too many redirects', '/chain/3.whl'],
      ['a redirect loop', '/loop.whl'],
      ['an oversized body (chunked)', '/big.whl'],
      ['an oversized body (declared)', '/big-declared.whl'],
    ])('refuses a wheel behind %s with 422 wheel_unreachable', async (_label, path) => {
      await rejected(() => publish({ name: 'acme/unreachable', version: '1.0.0', wheel_url: `${wheels.url}${path}`, sha256: sha() }), 422, 'wheel_unreachable');
    });

    it('gives up on a slow or silent server after WHEEL_FETCH_TIMEOUT_MS', async () => {
      for (const path of ['/slow.whl', '/stall.whl']) {
        const started = Date.now();
        await rejected(() => publish({ name: 'acme/unreachable', version: '1.0.0', wheel_url: `${wheels.url}${path}`, sha256: sha() }), 422, 'wheel_unreachable');
        const took = Date.now() - started;
        expect(took).toBeGreaterThanOrEqual(1500);
        expect(took).toBeLessThan(5000);
      }
    });

    it('refuses a host that does not answer at all', async () => {
      await rejected(() => publish({ name: 'acme/unreachable', version: '1.0.0', wheel_url: 'https://127.0.0.1:1/closed.whl', sha256: sha() }), 422, 'wheel_unreachable');
    });

    it('never fetches a loopback address that is not allowlisted, directly or by redirect', async () => {
      const seen = wheels.requests.length;
      // 127.0.0.2 serves the same wheel, but only 127.0.0.1 is allowlisted
      await rejected(() => publish({ name: 'acme/unreachable', version: '1.0.0', wheel_url: `${wheels.altUrl}/good.whl`, sha256: sha() }), 422, 'wheel_unreachable');
      await rejected(() => publish({ name: 'acme/unreachable', version: '1.0.0', wheel_url: `${wheels.url}/to-alt.whl`, sha256: sha() }), 422, 'wheel_unreachable');
      const fresh = wheels.requests.slice(seen);
      expect(fresh.filter((r) => r.address === '127.0.0.2')).toEqual([]);
      expect(fresh).toEqual([{ address: '127.0.0.1', path: '/to-alt.whl' }]);
    });

    it('does not download when no sha256 is sent', async () => {
      const seen = wheels.requests.length;
      const res = await published({ name: 'acme/unverified', version: '1.0.0', wheel_url: `${wheels.url}/missing.whl` });
      expect(res.body.wheel_sha256).toBeNull();
      expect(wheels.requests.length).toBe(seen);
    });
  });

  describe('idempotency and races', () => {
    it('replays a publish with the same Idempotency-Key and body, appending nothing', async () => {
      const body = { name: 'acme/idem', version: '1.0.0', wheel_url: `${wheels.url}/good.whl`, sha256: wheels.sha256, metadata: { display_name: 'Idem' } };
      const headers = { 'Idempotency-Key': 'publish-idem-1' };
      const first = await publish(body, acme, headers);
      expect(first.status).toBe(201);
      const count = await t.eventCount();
      const again = await publish(body, acme, headers);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(again.headers.get('x-position')).toBe(first.headers.get('x-position'));
      expect(await t.eventCount()).toBe(count);

      await rejected(() => publish({ ...body, version: '1.0.1' }, acme, headers), 409, 'idempotency_key_reused');
      await rejected(() => publish({ ...body, changelog: 'different' }, acme, headers), 409, 'idempotency_key_reused');
      // the same key on another provider's stream is still the same key
      await rejected(() => publish({ ...body, name: 'acme/idem-other' }, acme, headers), 409, 'idempotency_key_reused');
      // a fresh key is a fresh request: the version exists
      await rejected(() => publish(body, acme, { 'Idempotency-Key': 'publish-idem-2' }), 409, 'version_exists');
      await rejected(() => publish(body, acme, { 'Idempotency-Key': 'k'.repeat(201) }), 422, 'invalid_idempotency_key');
    });

    it('lets exactly one of many concurrent publishes of one version win', async () => {
      const before = await t.eventCount();
      const body = { name: 'acme/race', version: '1.0.0', wheel_url: wheelUrl('race') };
      const results = await Promise.all(Array.from({ length: 20 }, () => publish(body)));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 201)) {
        expect(r.status).toBe(409);
        expect(['version_exists', 'concurrent_modification']).toContain(r.body.code);
      }
      expect(await t.eventCount()).toBe(before + 1);
    });
  });

  describe('without an allowlist', () => {
    let strict: TestApp;
    let key: string;
    beforeAll(async () => {
      strict = await startTestApp({ WHEEL_FETCH_CA_FILE: wheels.caFile, WHEEL_FETCH_TIMEOUT_MS: '2000' });
      key = await strict.createKey('acme', ['publish', 'read']);
    });
    afterAll(async () => strict?.close());

    it('refuses a loopback wheel URL with 422 wheel_unreachable, without connecting', async () => {
      const seen = wheels.requests.length;
      for (const base of [wheels.url, wheels.altUrl]) {
        const before = await strict.eventCount();
        const res = await strict.request('POST', '/provider-versions', {
          key,
          body: { name: 'acme/local', version: '1.0.0', wheel_url: `${base}/good.whl`, sha256: wheels.sha256 },
        });
        expect({ status: res.status, code: res.body?.code }).toEqual({ status: 422, code: 'wheel_unreachable' });
        expect(await strict.eventCount()).toBe(before);
      }
      expect(wheels.requests.length).toBe(seen);
    });
  });
});
