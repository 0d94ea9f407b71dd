import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { FuzzRequest, operationsOf, requestArbitrary } from './fuzz-support/openapi-arbitraries';
import { closeRawAgent, rawRequest } from './fuzz-support/raw-http';
import { TestApp, startTestApp } from '../support/test-app';

/*
 * Fuzzing from the API's own OpenAPI document: every path and method it lists, requests drawn by
 * fast-check from the schemas (well-typed, boundaries, hostile strings, wrong types, bad path
 * parameters and headers, malformed and oversized bodies), mostly with valid keys so the validation
 * paths are reached. Requests run one at a time so that the log's size before and after each 4xx
 * shows whether it appended anything.
 *
 *   FUZZ_REQUESTS (default 2000; 10000 for the full run), FUZZ_SEED (default: random, printed).
 */

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2000);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const BODY_LIMIT = 256 * 1024;
const BATCH = 100;

jest.setTimeout(Math.max(60_000, REQUESTS * 60));

interface Failure {
  why: string;
  request: string;
  status: number;
  response: string;
}

describe(`OpenAPI fuzzing (seed ${SEED}, ${REQUESTS} requests)`, () => {
  let t: TestApp;
  let keys: Record<string, string>;

  beforeAll(async () => {
    process.stdout.write(`[fuzz] FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS}\n`);
    t = await startTestApp({ RATE_LIMIT_PER_MINUTE: '10000000', BODY_LIMIT: `${BODY_LIMIT}b`, READ_MODEL_WAIT_MS: '300', WHEEL_FETCH_TIMEOUT_MS: '1000' });
    const [acme, acmeRead, beta, ops] = await Promise.all([
      t.createKey('acme', ['publish', 'install', 'read']),
      t.createKey('acme', ['read']),
      t.createKey('beta', ['admin']),
      t.createKey('ops', ['publish', 'install', 'read'], { platformAdmin: true }),
    ]);
    keys = { acme, acmeRead, beta, ops };
    // Something to find: versions to upgrade and downgrade between, installations to act on.
    for (const [name, version] of [['acme/db', '1.0.0'], ['acme/db', '1.5.0'], ['acme/db', '2.0.0'], ['acme/cache', '1.0.0']]) {
      const res = await t.request('POST', '/provider-versions', { key: acme, body: { name, version, wheel_url: `https://files.example.com/${name.replace('/', '_')}-${version}-py3-none-any.whl` } });
      expect(res.status).toBe(201);
    }
    expect((await t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/db', version: '1.5.0' } })).status).toBe(201);
    expect((await t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/cache' } })).status).toBe(201);
  });
  afterAll(async () => {
    closeRawAgent();
    await t?.close();
  });

  it('refuses NUL characters and unpaired surrogates anywhere in a request with a 422, appending nothing (found by this fuzzer: they were 500s)', async () => {
    const cases: Array<[string, string, unknown?]> = [
      ['POST', '/provider-versions', { name: 'acme/db', version: '7.0.0', wheel_url: 'https://files.example.com/x.whl', changelog: 'a\u0000b' }],
      ['POST', '/provider-versions', { name: 'acme/db', version: '7.0.1', wheel_url: 'https://files.example.com/x.whl', changelog: '\uD800' }],
      ['POST', '/provider-versions', { name: 'acme/db', version: '7.0.2', wheel_url: 'https://files.example.com/x.whl', schemas: { 'a\u0000': { type: 'object' } } }],
      ['POST', '/provider-versions', { name: 'acme/db', version: '7.0.3', wheel_url: 'https://files.example.com/x.whl', metadata: { display_name: 'x\u0000' } }],
      ['PATCH', '/providers/acme/db', { display_name: 'x\u0000' }],
      ['POST', '/providers/install', { provider_name: 'acme/cache', config: { A: 'x\u0000' } }],
      ['PATCH', '/providers/installed/acme/db', { config: { A: '\uDC00' } }],
      ['POST', '/providers/acme/db/versions/1.0.0/yank', { reason: 'r\u0000' }],
      ['GET', '/providers?q=%00'],
      ['GET', '/providers?tags=%00'],
      ['GET', '/providers/acme/db/versions/%00'],
      ['GET', '/providers/acme/db/versions/1.0.0%00'],
      ['GET', '/providers/installed/acme/db?as_of=2026-01-01T00:00:00%00Z'],
    ];
    let n4xx = 0;
    for (const [method, path, body] of cases) {
      const before = await t.eventCount();
      const res = await t.request(method, path, { key: keys.acme, body });
      expect({ method, path, status: res.status, code: res.body?.code }).toEqual({ method, path, status: 422, code: 'validation_failed' });
      expect(await t.eventCount()).toBe(before);
      n4xx++;
    }
    process.stdout.write(`[fuzz] NUL/surrogate regression: requests=${cases.length} 4xx=${n4xx} 5xx=0 events_appended_by_4xx=0\n`);
  });

  it('answers every generated request without a 5xx, and no 4xx appends an event', async () => {
    const doc = await t.request('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    const operations = operationsOf(doc.body);
    expect(operations.length).toBeGreaterThan(15);
    process.stdout.write(`[fuzz] ${operations.length} operations from /openapi.json: ${operations.map((o) => `${o.method} ${o.path}`).join(', ')}\n`);

    const arbitrary = requestArbitrary(operations, {
      keys: [keys.acme, keys.acme, keys.acme, keys.acmeRead, keys.beta, keys.ops],
      pathValues: { prefix: ['acme', 'acme', 'platform', 'beta'], name: ['db', 'db', 'cache'], version: ['1.0.0', '1.5.0', '2.0.0', '9.9.9'] },
      bodyLimitBytes: BODY_LIMIT,
    });

    const figures = { requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, lagging503: 0, networkErrors: 0, eventsAppendedBy4xx: 0, fourxxWithoutErrorBody: 0 };
    const byStatus = new Map<number, number>();
    const byKind = new Map<string, number>();
    const coveredOps = new Set<string>();
    const slowest: Array<{ took: number; op: string; status: number }> = [];
    const timeByOp = new Map<string, number>();
    const byStatus2xx = new Map<string, number>();
    const byCode = new Map<string, number>();
    const failures: Failure[] = [];
    const fail = (why: string, req: FuzzRequest, status: number, response: string) => {
      if (failures.length < 25) failures.push({ why, request: describeRequest(req), status, response: response.slice(0, 400) });
    };

    const started = Date.now();
    for (let batch = 0; figures.requests < REQUESTS; batch++) {
      const draws = fc.sample(arbitrary, { seed: SEED + batch, numRuns: Math.min(BATCH, REQUESTS - figures.requests) });
      for (const req of draws) {
        figures.requests++;
        coveredOps.add(req.operation);
        byKind.set(req.kind, (byKind.get(req.kind) ?? 0) + 1);
        const correlation = req.headers['x-correlation-id'] === undefined ? randomUUID() : undefined;
        const headers = correlation ? { ...req.headers, 'x-correlation-id': correlation } : req.headers;
        const t0 = Date.now();
        const before = await t.eventCount();
        const headBefore = await lastGlobalPosition(t);
        let status: number;
        let text: string;
        let contentType: string | null;
        try {
          const response = await rawRequest(t.baseUrl, req.method, req.path, headers, req.body);
          status = response.status;
          contentType = (response.headers['content-type'] as string | undefined) ?? null;
          text = response.text;
        } catch (error) {
          figures.networkErrors++;
          fail(`network error: ${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`, req, 0, '');
          continue;
        }
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        const code = `${status} ${parseCode(text) ?? '-'}`;
        byCode.set(code, (byCode.get(code) ?? 0) + 1);
        const took = Date.now() - t0;
        slowest.push({ took, op: req.operation, status });
        slowest.sort((a, b) => b.took - a.took);
        slowest.length = Math.min(slowest.length, 8);
        timeByOp.set(req.operation, (timeByOp.get(req.operation) ?? 0) + took);
        if (req.kind === 'deep-json' && !(status === 400 && deepBodyRefusal(req.path, parseCode(text)))) {
          fail('a body nested past 64 levels not refused as 400 body_too_deep', req, status, text);
        }
        if (status >= 500) {
          const lagging = status === 503 && req.wellFormedMinPosition && parseCode(text) === 'read_model_lagging';
          if (lagging) figures.lagging503++;
          else {
            figures['5xx']++;
            fail('5xx', req, status, text);
          }
        } else if (status >= 400) {
          figures['4xx']++;
          if (status !== 431 && (contentType !== 'application/json' || !isErrorBody(text))) {
            figures.fourxxWithoutErrorBody++;
            fail('4xx without the { code, message, details } error body', req, status, `${contentType} ${text}`);
          }
          const after = await t.eventCount();
          if (after !== before) {
            // Something appended while this 4xx was in flight: it is the request's only if it carries its correlation.
            const mine = await appendedSince(t, headBefore, correlation);
            if (mine > 0) {
              figures.eventsAppendedBy4xx += mine;
              fail(`4xx appended ${mine} event(s)`, req, status, text);
            }
          }
        } else if (status >= 300) {
          figures['3xx']++;
          fail('redirect (the spec forbids them)', req, status, text);
        } else {
          figures['2xx']++;
          byStatus2xx.set(`${req.method} ${status}`, (byStatus2xx.get(`${req.method} ${status}`) ?? 0) + 1);
        }
      }
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const statusLine = [...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    const kindLine = [...byKind.entries()].map(([k, n]) => `${k}:${n}`).join(' ');
    process.stdout.write(
      `[fuzz] seed=${SEED} requests=${figures.requests} in ${seconds}s; 2xx=${figures['2xx']} 4xx=${figures['4xx']} 5xx=${figures['5xx']} ` +
        `(503 read_model_lagging for a well-formed future position: ${figures.lagging503}) network_errors=${figures.networkErrors} ` +
        `events_appended_by_4xx=${figures.eventsAppendedBy4xx} 4xx_without_error_body=${figures.fourxxWithoutErrorBody}\n` +
        `[fuzz] by status: ${statusLine}\n[fuzz] by code: ${[...byCode.entries()].sort().map(([k, n]) => `${k}:${n}`).join(' ')}\n[fuzz] 2xx by method: ${[...byStatus2xx.entries()].map(([k, n]) => `${k}:${n}`).join(' ')}\n[fuzz] by body kind: ${kindLine}\n[fuzz] operations covered: ${coveredOps.size}/${operations.length}\n` +
        `[fuzz] slowest: ${slowest.map((x) => `${x.op} ${x.status} ${x.took}ms`).join('; ')}\n` +
        `[fuzz] ms by operation: ${[...timeByOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([o, ms]) => `${o}=${ms}`).join(' ')}\n`,
    );
    if (failures.length) process.stdout.write(`[fuzz] failures (first ${failures.length}; reproduce with FUZZ_SEED=${SEED}):\n${failures.map((f) => JSON.stringify(f)).join('\n')}\n`);

    expect(coveredOps.size).toBe(operations.length);
    expect(failures).toEqual([]);
    expect(figures['5xx']).toBe(0);
    expect(figures.eventsAppendedBy4xx).toBe(0);
  });
});

async function lastGlobalPosition(t: TestApp): Promise<string> {
  const { rows } = await t.db.pool.query<{ p: string | null }>('SELECT max(global_position)::text AS p FROM es_events');
  return rows[0].p ?? '0';
}

/** Events appended since `after` that carry this request's correlation id (every new one when the request had none of ours). */
async function appendedSince(t: TestApp, after: string, correlation: string | undefined): Promise<number> {
  const { rows } = await t.db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM es_events WHERE global_position > $1::bigint AND ($2::text IS NULL OR metadata->>'correlation_id' = $2::text)`,
    [after, correlation ?? null],
  );
  return Number(rows[0].n);
}

/**
 * How a body nested too deep may be refused: as such, or, when its URL does not percent-decode, for
 * the URL (the router refuses that before any body is read).
 */
function deepBodyRefusal(path: string, code: string | undefined): boolean {
  if (code === 'body_too_deep') return true;
  try {
    decodeURIComponent(path.split('?')[0]);
    return false;
  } catch {
    return code === 'bad_request';
  }
}

function parseCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

function isErrorBody(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return typeof body.code === 'string' && typeof body.message === 'string' && Array.isArray(body.details);
  } catch {
    return false;
  }
}

function describeRequest(req: FuzzRequest): string {
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, k === 'authorization' ? `${req.auth}(${v.length})` : v.length > 80 ? `${v.slice(0, 40)}…(${v.length})` : v]));
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}…(${req.path.length})` : req.path;
  const body = req.body === undefined ? undefined : req.body.length > 300 ? `${req.body.slice(0, 300)}…(${req.body.length})` : req.body;
  return JSON.stringify({ op: req.operation, kind: req.kind, method: req.method, path, headers, body });
}
