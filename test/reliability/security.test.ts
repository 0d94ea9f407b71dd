import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RegistrationTokens, hashToken } from '../../libs/installations/registration-token';
import { runCommand } from '../../libs/application/command-runner';
import { hashSecret, issueApiKey, parseApiKey, secretMatches } from '../../libs/api-keys/api-key-secret';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { fold } from '../../libs/domain/decider';
import { upcast } from '../../libs/domain/upcasters';
import { HttpsWheelServer, startHttpsWheelServer } from '../support/https-wheel-server';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { createKeyIn, databaseDump, startChildApp } from './fuzz-support/child-app';

/*
 * Security hygiene: secrets stored only as hashes and compared in constant time, rate limiting and
 * the body limit answered with the error body, wheel downloads that cannot be pointed at private or
 * loopback addresses (directly or by a redirect), helmet's headers, and no secret in the logs of
 * the real process at debug level.
 */

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../..');
// The module object itself (what the compiled product code calls through), so that a spy on it sees the calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
const figures = { requests: 0, '4xx': 0, '5xx': 0, eventsAppendedBy4xx: 0 };

function count(res: TestResponse): TestResponse {
  figures.requests++;
  if (res.status >= 500) figures['5xx']++;
  else if (res.status >= 400) figures['4xx']++;
  return res;
}

afterAll(() => {
  process.stdout.write(`[security] requests=${figures.requests} 4xx=${figures['4xx']} 5xx=${figures['5xx']} events_appended_by_4xx=${figures.eventsAppendedBy4xx}\n`);
});

describe('security', () => {
  let t: TestApp;
  let wheels: HttpsWheelServer;
  let acme: string;

  /** The request must be refused with this status and code, with the error body, and append nothing. */
  async function refused(send: () => Promise<TestResponse>, status: number, code: string): Promise<TestResponse> {
    const before = await t.eventCount();
    const res = count(await send());
    const appended = (await t.eventCount()) - before;
    figures.eventsAppendedBy4xx += appended;
    if (res.status !== status || res.body?.code !== code) throw new Error(`expected ${status} ${code}, got ${res.status} ${res.text}`);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.body).toEqual({ code, message: expect.any(String), details: expect.any(Array) });
    expect(appended).toBe(0);
    return res;
  }

  beforeAll(async () => {
    wheels = await startHttpsWheelServer({ wheelBytes: 64 * 1024 });
    t = await startTestApp({
      WHEEL_FETCH_ALLOW_HOSTS: '127.0.0.1',
      WHEEL_FETCH_CA_FILE: wheels.caFile,
      WHEEL_FETCH_TIMEOUT_MS: '3000',
      WHEEL_FETCH_MAX_REDIRECTS: '3',
      BODY_LIMIT: '64kb',
    });
    acme = await t.createKey('acme', ['publish', 'install', 'read']);
  });
  afterAll(async () => {
    await t?.close();
    await wheels?.close();
  });

  describe('secrets at rest', () => {
    it('stores an API key as the SHA-256 of its secret only: neither the key nor the secret is anywhere in the database', async () => {
      const parsed = parseApiKey(acme)!;
      expect(parsed).toBeDefined();
      count(await t.request('GET', '/auth/me', { key: acme }));
      const { rows } = await t.db.pool.query('SELECT * FROM api_keys WHERE key_id = $1', [parsed.keyId]);
      expect(rows).toHaveLength(1);
      expect(rows[0].secret_hash).toBe(createHash('sha256').update(parsed.secret).digest('hex'));
      expect(rows[0].secret_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(rows[0])).not.toContain(parsed.secret);
      const { rows: events } = await t.db.pool.query<{ t: string }>('SELECT data::text || metadata::text AS t FROM es_events');
      const log = events.map((e) => e.t).join('\n');
      expect(log).toContain(parsed.keyId); // the event is there…
      expect(log).not.toContain(parsed.secret); // …without the secret
      expect(log).not.toContain(acme);
      const dump = await databaseDump(t.db.pool);
      expect(dump).not.toContain(parsed.secret);
    });

    it('stores registration tokens only as DeployStarted.token_hash, and the runtime endpoints accept only the right token', async () => {
      const publish = count(await t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/db', version: '1.0.0', wheel_url: 'https://files.example.com/acme_db-1.0.0-py3-none-any.whl' } }));
      expect(publish.status).toBe(201);
      const install = count(await t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/db' } }));
      expect(install.status).toBe(201);
      const stream = installationStream('acme', { prefix: 'acme', name: 'db' });
      const state = fold(installationDecider, (await t.infrastructure.eventStore.readStream(stream)).map(upcast) as never[]) as { status: string; installationId: string; generation: number };
      expect(state.status).toBe('present');
      // Play the installer: a token from RegistrationTokens, only its hash in the log.
      const token = RegistrationTokens.fromSecret(randomBytes(32).toString('base64url')).tokenFor(state.installationId, state.generation);
      const now = new Date().toISOString();
      const deployed = await runCommand(
        t.infrastructure.eventStore,
        installationDecider,
        stream,
        { type: 'StartDeploy', generation: state.generation, tokenHash: hashToken(token), now },
        { actor: 'installer:test', correlationId: randomUUID(), idempotencyScope: 'installer', now },
      );
      const body = { installation_id: state.installationId, generation: state.generation, version: '1.0.0' };
      // wait for the read model the runtime endpoints look the installation up in
      await t.request('GET', `/providers/installed/acme/db?min_position=${deployed.position ? `${deployed.position.commit}:${deployed.position.prepare}` : await t.lastPosition()}`, { key: acme });
      await refused(() => t.request('POST', '/runtime/registrations', { body }), 401, 'unauthorized');
      await refused(() => t.request('POST', '/runtime/registrations', { body, headers: { authorization: `Bearer ${token}x` } }), 401, 'unauthorized');
      await refused(() => t.request('POST', '/runtime/registrations', { body, headers: { authorization: `Bearer ${token.slice(0, -1)}` } }), 401, 'unauthorized');
      await refused(() => t.request('POST', '/runtime/registrations', { body, headers: { authorization: `Bearer ${acme}` } }), 401, 'unauthorized');
      await refused(() => t.request('POST', '/runtime/registrations', { body: { ...body, generation: state.generation + 1 }, headers: { authorization: `Bearer ${token}` } }), 401, 'unauthorized');
      const ok = count(await t.request('POST', '/runtime/registrations', { body, headers: { authorization: `Bearer ${token}` } }));
      expect(ok.status).toBe(204);

      const { rows } = await t.db.pool.query<{ data: { token_hash: string } }>(`SELECT data FROM es_events WHERE stream_name = $1 AND event_type = 'DeployStarted'`, [stream]);
      expect(rows.map((r) => r.data.token_hash)).toEqual([createHash('sha256').update(token).digest('hex')]);
      expect(await databaseDump(t.db.pool)).not.toContain(token);
    });

    it('compares secrets in constant time: secretMatches goes through crypto.timingSafeEqual and survives wrong lengths', () => {
      const source = readFileSync(path.join(ROOT, 'libs/api-keys/api-key-secret.ts'), 'utf8');
      expect(source).toMatch(/timingSafeEqual\(/);
      // both the API-key guard and the runtime endpoints use it, never a plain comparison
      expect(readFileSync(path.join(ROOT, 'apps/api/auth/api-key.guard.ts'), 'utf8')).toMatch(/secretMatches\(/);
      expect(readFileSync(path.join(ROOT, 'libs/installations/runtime-authentication.ts'), 'utf8')).toMatch(/secretMatches\(/);

      const spy = jest.spyOn(nodeCrypto, 'timingSafeEqual');
      try {
        const issued = issueApiKey();
        const { secret } = parseApiKey(issued.key)!;
        expect(secretMatches(secret, issued.secretHash)).toBe(true);
        expect(spy).toHaveBeenCalledTimes(1);
        expect(secretMatches(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, issued.secretHash)).toBe(false);
        expect(secretMatches('', issued.secretHash)).toBe(false);
        expect(secretMatches('x'.repeat(10_000), issued.secretHash)).toBe(false);
        expect(secretMatches('\u0000', issued.secretHash)).toBe(false);
        expect(spy).toHaveBeenCalledTimes(5); // every value, whatever its length, is compared as a 32-byte digest
        // a stored hash of the wrong length (corrupt row) is refused without throwing
        expect(secretMatches(secret, issued.secretHash.slice(0, 10))).toBe(false);
        expect(secretMatches(secret, '')).toBe(false);
        expect(secretMatches(secret, 'zz'.repeat(32))).toBe(false);
        expect(secretMatches(secret, issued.secretHash.toUpperCase())).toBe(true); // hex is case-insensitive
        expect(hashSecret(secret)).toBe(issued.secretHash);
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('limits', () => {
    it('refuses a body over BODY_LIMIT with 413 payload_too_large, appending nothing', async () => {
      const big = 'x'.repeat(70 * 1024);
      await refused(() => t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/big', version: '1.0.0', wheel_url: 'https://files.example.com/b.whl', changelog: big } }), 413, 'payload_too_large');
      await refused(() => t.request('POST', '/providers/install', { key: acme, rawBody: JSON.stringify([big]) }), 413, 'payload_too_large');
      await refused(() => t.request('POST', '/providers/install', { rawBody: JSON.stringify({ provider_name: big }) }), 413, 'payload_too_large');
      // just under the limit is parsed and validated (the bad version is reported, not the size)
      await refused(() => t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/big', version: 'not-semver', wheel_url: 'https://files.example.com/b.whl', changelog: 'x'.repeat(60 * 1024) } }), 422, 'validation_failed');
    });

    it('rate-limits: 40 requests against RATE_LIMIT_PER_MINUTE=20 → 20 answered, the rest 429 rate_limited with Retry-After', async () => {
      const limited = await startTestApp({ RATE_LIMIT_PER_MINUTE: '20' });
      try {
        const key = await limited.createKey('acme', ['read']);
        const otherKey = await limited.createKey('acme', ['read']);
        const before = await limited.eventCount();
        const responses: TestResponse[] = [];
        for (let i = 0; i < 40; i++) responses.push(count(await limited.request('GET', '/auth/me', { key })));
        const statuses = responses.map((r) => r.status);
        const tooMany = responses.filter((r) => r.status === 429);
        process.stdout.write(`[security] rate limit 20/min: 40 requests → ${statuses.filter((s) => s === 200).length} × 200, ${tooMany.length} × 429\n`);
        expect(statuses.slice(0, 20)).toEqual(Array(20).fill(200));
        expect(tooMany).toHaveLength(20);
        for (const r of tooMany) {
          expect(r.body).toEqual({ code: 'rate_limited', message: expect.any(String), details: [] });
          expect(r.headers.get('content-type')).toBe('application/json');
          expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
        }
        // the budget is the client's (its API key), across every route
        const otherRoute = count(await limited.request('GET', '/providers', { key }));
        expect(otherRoute.status).toBe(429);
        // another key has a budget of its own; a request without a key is budgeted by its address
        expect(count(await limited.request('GET', '/auth/me', { key: otherKey })).status).toBe(200);
        const anonymous = count(await limited.request('GET', '/auth/me'));
        expect(anonymous.status).toBe(401);
        process.stdout.write(`[security] rate limit: exhausted key on another route → ${otherRoute.status}; another key → 200; no key → ${anonymous.status}\n`);
        expect(await limited.eventCount()).toBe(before);
      } finally {
        await limited.close();
      }
    });
  });

  describe('wheel downloads (SSRF)', () => {
    const publish = (version: string, wheelUrl: string, sha256 = wheels.sha256) =>
      t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/wheels', version, wheel_url: wheelUrl, sha256 } });

    it('downloads from the allow-listed loopback host', async () => {
      const res = count(await publish('1.0.0', `${wheels.url}/good.whl`));
      expect(res.status).toBe(201);
      expect(res.body.wheel_sha256).toBe(wheels.sha256);
    });

    it('refuses private, loopback, link-local and mapped addresses that are not allow-listed: 422 wheel_unreachable, no connection made', async () => {
      const port = new URL(wheels.altUrl).port;
      const seen = wheels.requests.length;
      const targets = [
        `${wheels.altUrl}/good.whl`, // 127.0.0.2: loopback, not on the list
        `https://[::ffff:127.0.0.2]:${port}/good.whl`, // IPv4-mapped IPv6
        `https://2130706434:${port}/good.whl`, // 127.0.0.2 as a decimal integer
        `https://0x7f000002:${port}/good.whl`, // …and in hex
        'https://[::1]/good.whl',
        'https://10.0.0.1/x.whl',
        'https://172.16.0.1/x.whl',
        'https://192.168.1.1/x.whl',
        'https://169.254.169.254/latest/meta-data.whl', // cloud metadata
        'https://100.64.0.1/x.whl', // carrier-grade NAT
        'https://0.0.0.0/x.whl',
        'https://[fd00::1]/x.whl',
        'https://[fe80::1]/x.whl',
      ];
      let i = 0;
      for (const url of targets) await refused(() => publish(`2.0.${i++}`, url), 422, 'wheel_unreachable');
      expect(wheels.requests.slice(seen).filter((r) => r.address !== '127.0.0.1')).toEqual([]);
    });

    it('refuses a redirect from the allow-listed host to a loopback address that is not allow-listed', async () => {
      const seen = wheels.requests.length;
      await refused(() => publish('3.0.0', `${wheels.url}/to-alt.whl`), 422, 'wheel_unreachable');
      const after = wheels.requests.slice(seen);
      expect(after.map((r) => r.path)).toEqual(['/to-alt.whl']); // the redirect was never followed
      expect(after.every((r) => r.address === '127.0.0.1')).toBe(true);
      // a redirect within the allow-listed host is followed
      expect(count(await publish('3.0.1', `${wheels.url}/redirect.whl`)).status).toBe(201);
    });

    it('a private host in the allow-list is the only way in (CIDR form too)', async () => {
      const allowed = await startTestApp({ WHEEL_FETCH_ALLOW_HOSTS: '127.0.0.0/8', WHEEL_FETCH_CA_FILE: wheels.caFile, WHEEL_FETCH_TIMEOUT_MS: '3000' });
      try {
        const key = await allowed.createKey('acme', ['publish']);
        const res = count(await allowed.request('POST', '/provider-versions', { key, body: { name: 'acme/wheels', version: '1.0.0', wheel_url: `${wheels.url}/to-alt.whl`, sha256: wheels.sha256 } }));
        expect(res.status).toBe(201);
        expect(wheels.requests.some((r) => r.address === '127.0.0.2')).toBe(true);
      } finally {
        await allowed.close();
      }
    });
  });

  describe('headers', () => {
    it("sends helmet's security headers on every kind of response", async () => {
      for (const res of [
        count(await t.request('GET', '/health')),
        count(await t.request('GET', '/auth/me', { key: acme })),
        count(await t.request('GET', '/auth/me')),
        count(await t.request('GET', '/no/such/route', { key: acme })),
        count(await t.request('POST', '/providers/install', { key: acme, rawBody: '{' })),
      ]) {
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
        expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
        expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
        expect(res.headers.get('x-powered-by')).toBeNull();
      }
    });
  });
});

describe('no secret in the logs (node dist/apps/main.js at LOG_LEVEL=debug)', () => {
  it('keeps API keys and registration tokens out of every log line while keys are used and a runtime registers', async () => {
    const db = await createTestDatabase('sec');
    const tokenSecret = randomBytes(32).toString('base64url');
    const app = await startChildApp({
      DATABASE_URL: db.url,
      LOG_LEVEL: 'debug',
      RUNTIME_TOKEN_SECRET: tokenSecret,
      REGISTRATION_TIMEOUT_MS: '20000',
      RUNTIME_HEARTBEAT_INTERVAL_MS: '200',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
    let output = '';
    try {
      const key = await createKeyIn(db.pool, 'acme', ['publish', 'install', 'read']);
      const secret = parseApiKey(key)!.secret;
      const call = async (method: string, p: string, body?: unknown, auth: string | undefined = `Bearer ${key}`) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (auth) headers.authorization = auth;
        const res = await fetch(`${app.baseUrl}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        figures.requests++;
        if (res.status >= 500) figures['5xx']++;
        else if (res.status >= 400) figures['4xx']++;
        const text = await res.text();
        return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
      };
      expect((await call('GET', '/auth/me')).status).toBe(200);
      expect((await call('POST', '/provider-versions', { name: 'acme/db', version: '1.0.0', wheel_url: 'https://files.example.com/acme_db-1.0.0-py3-none-any.whl' })).status).toBe(201);
      expect((await call('POST', '/providers/install', { provider_name: 'acme/db', config: { API_TOKEN: 'config-value-1' } })).status).toBe(201);
      // wrong keys and garbage go through the auth path (and whatever it logs) too
      expect((await call('GET', '/auth/me', undefined, `Bearer ${key}x`)).status).toBe(401);
      expect((await call('GET', '/auth/me', undefined, `Bearer ${key.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`)).status).toBe(401);
      expect((await call('GET', '/auth/me', undefined, `Basic ${Buffer.from(`acme:${secret}`).toString('base64')}`)).status).toBe(401);
      // Unknown fields are ignored (as the platform's models do): the answer is about the unknown provider, and the
      // secrets sent in those fields must still reach no log line.
      expect((await call('POST', '/providers/install', { provider_name: 'acme/nope', secret, token: key })).status).toBe(404);

      // the installer deploys the sample runtime, which registers through the API with its token
      const deadline = Date.now() + 40_000;
      let installed: Record<string, unknown> | undefined;
      for (;;) {
        installed = (await call('GET', '/providers/installed/acme/db')).body;
        if (installed?.lifecycle_state === 'ready' || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(installed).toMatchObject({ lifecycle_state: 'ready', current_version: '1.0.0' });
      const { rows } = await db.pool.query<{ data: { installation_id?: string; generation: number; token_hash: string }; stream_name: string }>(
        `SELECT data, stream_name FROM es_events WHERE event_type = 'DeployStarted'`,
      );
      expect(rows).toHaveLength(1);
      const { rows: installs } = await db.pool.query<{ installation_id: string }>(`SELECT installation_id FROM installed_providers`);
      const installationId = installs[0].installation_id;
      const token = RegistrationTokens.fromSecret(tokenSecret).tokenFor(installationId, rows[0].data.generation);
      expect(rows[0].data.token_hash).toBe(hashToken(token));
      // a runtime presenting a wrong token
      expect((await call('POST', '/runtime/registrations', { installation_id: installationId, generation: 1, version: '1.0.0' }, `Bearer ${token}x`)).status).toBe(401);
      expect((await call('POST', '/runtime/heartbeats', { installation_id: installationId, generation: 1, status: 'healthy' }, `Bearer ${token}`)).status).toBe(204);

      const dump = await databaseDump(db.pool);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(tokenSecret);

      await app.stop();
      output = app.output();
      const lines = output.split('\n').filter(Boolean);
      const debugLines = lines.filter((l) => /"level":20\b/.test(l)).length;
      const runtimeLines = lines.filter((l) => /"stream":"stdout"|runtime started|generation registered/.test(l)).length;
      const leaks = {
        apiKey: lines.filter((l) => l.includes(key)).length,
        apiKeySecret: lines.filter((l) => l.includes(secret)).length,
        registrationToken: lines.filter((l) => l.includes(token)).length,
        tokenSecret: lines.filter((l) => l.includes(tokenSecret)).length,
      };
      process.stdout.write(`[security] captured ${lines.length} log lines (${debugLines} at debug, ${runtimeLines} about the runtime); secret occurrences: ${JSON.stringify(leaks)}\n`);
      expect(lines.length).toBeGreaterThan(10);
      expect(runtimeLines).toBeGreaterThan(0);
      expect(leaks).toEqual({ apiKey: 0, apiKeySecret: 0, registrationToken: 0, tokenSecret: 0 });
    } finally {
      await app.stop();
      if (!output) output = app.output();
      await db.drop();
    }
  });
});
