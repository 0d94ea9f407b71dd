import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { createApi } from '../../../apps/api/create-api';
import { runCommand } from '../../../libs/application/command-runner';
import { apiKeyDecider, apiKeyStream } from '../../../libs/api-keys/api-key';
import { parseApiKey } from '../../../libs/api-keys/api-key-secret';
import { loadConfig } from '../../../libs/config/app-config';
import { fold } from '../../../libs/domain/decider';
import { upcast } from '../../../libs/domain/upcasters';
import { Infrastructure, createInfrastructure } from '../../../libs/infrastructure/infrastructure';
import { installationStream } from '../../../libs/installations/installation-identity';
import { installationDecider } from '../../../libs/installations/installation.decider';
import { RegistrationTokens, hashToken } from '../../../libs/installations/registration-token';
import { HttpsWheelServer, startHttpsWheelServer } from '../../support/https-wheel-server';
import { TestApp, TestResponse, startTestApp } from '../../support/test-app';
import { report } from '../support/cluster';

/*
 * A tenant attacking the API's edge: flooding the shared rate-limit budgets, spending another key's
 * budget by its id, outrunning a revocation, pointing the wheel fetcher at the server's own network,
 * and sending JSON built to crash the server. Each attack must fail, and another tenant must not
 * notice it.
 */


const WHEEL = 'https://files.example.com/acme_db-1.0.0-py3-none-any.whl';

/** Plays the installer for an installation: a real registration token (HMAC of the platform secret). */
async function deploy(t: TestApp, tenant: string, key: string): Promise<{ installationId: string; generation: number; token: string }> {
  const stream = installationStream(tenant, { prefix: 'acme', name: 'db' });
  const state = fold(installationDecider, (await t.infrastructure.eventStore.readStream(stream)).map(upcast) as never[]);
  if (state.status !== 'present') throw new Error(`${tenant} has not installed acme/db`);
  const token = (await RegistrationTokens.load(t.db.pool)).tokenFor(state.installationId, state.generation);
  const now = new Date().toISOString();
  await runCommand(
    t.infrastructure.eventStore,
    installationDecider,
    stream,
    { type: 'StartDeploy', generation: state.generation, tokenHash: hashToken(token), now },
    { actor: 'installer:test', correlationId: randomUUID(), idempotencyScope: 'installer', now },
  );
  const caughtUp = await t.request('GET', `/providers/installed?min_position=${await t.lastPosition()}`, { key });
  expect(caughtUp.status).toBe(200);
  return { installationId: state.installationId, generation: state.generation, token };
}

function heartbeat(t: TestApp, runtime: { installationId: string; generation: number; token: string }): Promise<TestResponse> {
  return t.request('POST', '/runtime/heartbeats', {
    headers: { authorization: `Bearer ${runtime.token}` },
    body: { installation_id: runtime.installationId, generation: runtime.generation, status: 'healthy' },
  });
}

/** A second API process on the same database: another replica. */
async function startReplica(t: TestApp, env: Record<string, string>): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const infrastructure: Infrastructure = await createInfrastructure(loadConfig({ LOG_LEVEL: 'silent', ...env, DATABASE_URL: t.db.url }), 'replica-2');
  const app: INestApplication = await createApi(infrastructure);
  await app.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return {
    baseUrl,
    async close() {
      await app.close();
      await infrastructure.close();
    },
  };
}

async function statusAt(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${baseUrl}${path}`, { headers });
  await res.text();
  return res.status;
}

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

export function apiEdgeAttacks(): void {
  describe('API edge', () => {
    describe('rate limits per principal', () => {
      let t: TestApp;
      let acme: string;
      let beta: string;

      beforeAll(async () => {
        t = await startTestApp({ RATE_LIMIT_PER_MINUTE: '30' });
        acme = await t.createKey('acme', ['publish', 'install', 'read']);
        beta = await t.createKey('beta', ['install', 'read']);
      });
      afterAll(() => t?.close());

      it("one tenant's runtime flooding heartbeats is limited on its own installation's budget; another tenant's runtime and anonymous callers are unaffected", async () => {
        expect((await t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/db', version: '1.0.0', wheel_url: WHEEL } })).status).toBe(201);
        expect((await t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/db' } })).status).toBe(201);
        expect((await t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/db' } })).status).toBe(201);
        const acmeRuntime = await deploy(t, 'acme', acme);
        const betaRuntime = await deploy(t, 'beta', beta);

        const flood: number[] = [];
        for (let i = 0; i < 40; i++) flood.push((await heartbeat(t, acmeRuntime)).status);
        expect(flood.slice(0, 30).every((s) => s === 204)).toBe(true);
        expect(flood.slice(30)).toEqual(Array(10).fill(429));
        // Same address, other principals: the runtime's beats were never charged to the address.
        expect((await heartbeat(t, betaRuntime)).status).toBe(204);
        expect((await t.request('GET', '/health/live')).status).toBe(200);
        expect((await t.request('GET', '/auth/me', { key: beta })).status).toBe(200);
        report('hostile-tenant rate limit (runtime)', { flood_204: flood.filter((s) => s === 204).length, flood_429: flood.filter((s) => s === 429).length, other_tenant_heartbeat: 204 });
      });

      it('unknown keys and known key ids with a wrong secret get 401 and no budget, and spend nothing of the real key', async () => {
        const victim = await t.createKey('gamma', ['read']);
        const { keyId } = parseApiKey(victim)!;
        const forged = `psk_${keyId}_${randomBytes(32).toString('base64url')}`;
        const made = () => `psk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
        const statuses: number[] = [];
        for (let i = 0; i < 40; i++) statuses.push((await t.request('GET', '/auth/me', { key: i % 2 ? forged : made() })).status);
        expect(statuses).toEqual(Array(40).fill(401));
        // The victim's whole budget is still there, and no bucket was made for any presented key.
        for (let i = 0; i < 30; i++) expect((await t.request('GET', '/auth/me', { key: victim })).status).toBe(200);
        expect((await t.request('GET', '/auth/me', { key: victim })).status).toBe(429);
        const { rows } = await t.db.pool.query<{ bucket: string }>('SELECT bucket FROM rate_limit_windows');
        expect(rows.filter((r) => r.bucket.startsWith('per-principal:key:')).map((r) => r.bucket).sort()).toEqual(
          [acme, beta, victim].map((k) => `per-principal:key:${parseApiKey(k)!.keyId}`).sort(),
        );
      });

      it('two API replicas share one budget, and X-Forwarded-For is believed only with TRUST_PROXY', async () => {
        const key = await t.createKey('delta', ['read']);
        const other = await t.createKey('epsilon', ['read']);
        const replica = await startReplica(t, { RATE_LIMIT_PER_MINUTE: '30' });
        try {
          const statuses: number[] = [];
          for (let i = 0; i < 20; i++) {
            statuses.push((await t.request('GET', '/auth/me', { key })).status);
            statuses.push(await statusAt(replica.baseUrl, '/auth/me', { authorization: `Bearer ${key}` }));
          }
          expect(statuses.filter((s) => s === 200)).toHaveLength(30);
          expect(statuses.filter((s) => s === 429)).toHaveLength(10);
          expect(await statusAt(replica.baseUrl, '/auth/me', { authorization: `Bearer ${other}` })).toBe(200);
          report('hostile-tenant rate limit (2 replicas, limit 30)', { answered: 30, limited: 10 });

          // TRUST_PROXY unset: a forged X-Forwarded-For does not buy an anonymous caller a fresh budget.
          const forgedFor = async (i: number) => statusAt(replica.baseUrl, '/health/live', { 'x-forwarded-for': `203.0.113.${i}` });
          const anonymous: number[] = [];
          for (let i = 0; i < 40; i++) anonymous.push(await forgedFor(i));
          expect(anonymous.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10);
        } finally {
          await replica.close();
        }
        process.env.TRUST_PROXY = 'loopback';
        const proxied = await startReplica(t, { RATE_LIMIT_PER_MINUTE: '30' });
        try {
          // Behind a trusted proxy each forwarded client has its own budget.
          for (let i = 0; i < 40; i++) expect(await statusAt(proxied.baseUrl, '/health/live', { 'x-forwarded-for': `198.51.100.${i}` })).toBe(200);
        } finally {
          delete process.env.TRUST_PROXY;
          await proxied.close();
        }
      });
    });

    describe('revocation', () => {
      let t: TestApp;

      beforeAll(async () => {
        t = await startTestApp();
      });
      afterAll(() => t?.close());

      it('a revoked key is refused within 1 s while another connection holds a writing transaction open; another tenant keeps working', async () => {
        const revoked = await t.createKey('acme', ['read']);
        const other = await t.createKey('beta', ['read']);
        expect((await t.request('GET', '/auth/me', { key: revoked })).status).toBe(200);
        const holder = new Client({ connectionString: t.db.url });
        await holder.connect();
        try {
          await holder.query('BEGIN');
          await holder.query('CREATE TEMP TABLE held (x int)');
          await holder.query('INSERT INTO held VALUES (1)');
          const now = new Date().toISOString();
          await runCommand(t.infrastructure.eventStore, apiKeyDecider, apiKeyStream(parseApiKey(revoked)!.keyId), { type: 'RevokeApiKey', keyId: parseApiKey(revoked)!.keyId, now }, { actor: 'cli:test', correlationId: randomUUID(), idempotencyScope: 'cli', now });
          const revokedAt = Date.now();
          let refusedAfter = -1;
          while (Date.now() - revokedAt < 3_000) {
            const res = await t.request('GET', '/auth/me', { key: revoked });
            if (res.status === 401) {
              refusedAfter = Date.now() - revokedAt;
              break;
            }
            expect(res.status).toBe(200);
            await new Promise((r) => setTimeout(r, 20));
          }
          expect((await t.request('GET', '/auth/me', { key: other })).status).toBe(200);
          const { rows } = await t.db.pool.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM api_keys WHERE key_id = $1', [parseApiKey(revoked)!.keyId]);
          report('hostile-tenant revocation', { refused_after_ms: refusedAfter, read_model_saw_revocation_yet: rows[0]?.revoked_at !== null });
          expect(refusedAfter).toBeGreaterThanOrEqual(0);
          expect(refusedAfter).toBeLessThan(1_000);
        } finally {
          await holder.query('ROLLBACK').catch(() => undefined);
          await holder.end();
        }
      });
    });

    describe('wheel fetcher', () => {
      let t: TestApp;
      let wheels: HttpsWheelServer;
      let acme: string;
      let beta: string;
      const BIG = 256 * 1024 * 1024;

      beforeAll(async () => {
        wheels = await startHttpsWheelServer({ wheelBytes: 16 * 1024, oversizedBytes: BIG });
        t = await startTestApp({ WHEEL_FETCH_ALLOW_HOSTS: '127.0.0.1', WHEEL_FETCH_CA_FILE: wheels.caFile, WHEEL_FETCH_TIMEOUT_MS: '3000', WHEEL_FETCH_MAX_BYTES: '1mb' });
        acme = await t.createKey('acme', ['publish']);
        beta = await t.createKey('beta', ['publish']);
      });
      afterAll(async () => {
        await t?.close();
        await wheels?.close();
      });

      const publish = (key: string, name: string, version: string, url: string) =>
        t.request('POST', '/provider-versions', { key, body: { name, version, wheel_url: url, sha256: wheels.sha256 } });

      it("never reads a redirect's body, refuses IPv6 spellings of loopback, and answers a fixed category; another tenant's publish is unaffected", async () => {
        const before = await t.eventCount();
        const started = Date.now();
        expect((await publish(acme, 'acme/a', '1.0.0', `${wheels.url}/redirect-big-body.whl`)).status).toBe(201);
        expect(Date.now() - started).toBeLessThan(3_000);
        await new Promise((r) => setTimeout(r, 300));
        expect(wheels.bytesSent['/redirect-big-body.whl']).toBeLessThan(BIG / 8);

        const port = new URL(wheels.url).port;
        const seen = wheels.requests.length;
        for (const host of ['[::127.0.0.2]', '[::ffff:127.0.0.2]', '[2002:7f00:2::]', '[64:ff9b::7f00:2]']) {
          const res = await publish(acme, 'acme/a', '2.0.0', `https://${host}:${port}/good.whl`);
          expect(res.status).toBe(422);
          expect(res.body.code).toBe('wheel_unreachable');
          expect(res.body.message).toContain('blocked_address');
        }
        expect(wheels.requests.length).toBe(seen);

        const closed = createServer();
        await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
        const closedPort = (closed.address() as AddressInfo).port;
        await new Promise<void>((r) => closed.close(() => r()));
        const refused = await publish(acme, 'acme/a', '2.0.1', `https://127.0.0.1:${closedPort}/x.whl`);
        expect(refused.status).toBe(422);
        expect(refused.body.message).toContain('refused: the connection was refused');
        expect(refused.body.message).not.toMatch(/ECONNREFUSED|connect /);
        expect(await t.eventCount()).toBe(before + 1); // only the first, good publish

        expect((await publish(beta, 'beta/b', '1.0.0', `${wheels.url}/good.whl`)).status).toBe(201);
      });
    });

    describe('hostile JSON', () => {
      let t: TestApp;
      let acme: string;
      let beta: string;

      beforeAll(async () => {
        t = await startTestApp();
        acme = await t.createKey('acme', ['publish', 'install']);
        beta = await t.createKey('beta', ['publish']);
      });
      afterAll(() => t?.close());

      it('a body nested 10,000 deep, or a NUL deeper than 64 levels, is a 400 body_too_deep with nothing appended; a NUL within the limit is a 422; another tenant is unaffected', async () => {
        const before = await t.eventCount();
        const deep = await t.request('POST', '/providers/install', { key: acme, rawBody: '['.repeat(10_000) + ']'.repeat(10_000) });
        expect(deep.status).toBe(400);
        expect(deep.body).toEqual({ code: 'body_too_deep', message: expect.any(String), details: [] });
        const deepSchema = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
        const deepObject = await t.request('POST', '/provider-versions', { key: acme, rawBody: `{"name":"acme/x","version":"1.0.0","wheel_url":"${WHEEL}","config_schema":${deepSchema}}` });
        expect(deepObject.status).toBe(400);
        const nul = await t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/x', version: '1.0.0', wheel_url: WHEEL, config_schema: nested(70, 'a\u0000b') } });
        expect(nul.status).toBe(400);
        expect(nul.body.code).toBe('body_too_deep');
        const shallowNul = await t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/x', version: '1.0.0', wheel_url: WHEEL, config_schema: nested(60, 'a\u0000b') } });
        expect(shallowNul.status).toBe(422);
        expect(shallowNul.body.details[0]).toMatchObject({ constraint: 'storableText', field: `config_schema${'.a'.repeat(60)}` });
        expect(await t.eventCount()).toBe(before);

        expect((await t.request('POST', '/provider-versions', { key: beta, body: { name: 'beta/x', version: '1.0.0', wheel_url: WHEEL, metadata: { display_name: 'X' } } })).status).toBe(201);
      });
    });
  });
}
