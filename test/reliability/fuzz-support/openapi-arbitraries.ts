import fc from 'fast-check';

/**
 * fast-check arbitraries built from the API's own OpenAPI document: one request description per
 * draw (method, path with its parameters filled, query, headers, body as wire text), mixing
 * well-typed values with boundaries, hostile strings, wrong types and malformed wire formats.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- OpenAPI schemas are untyped JSON */
type Schema = any;
type OpenApi = any;

export interface Operation {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema?: Schema }>;
  bodySchema?: Schema;
}

export interface FuzzRequest {
  operation: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Which authorization the request carries: a valid key, none, or garbage. */
  auth: 'valid' | 'none' | 'garbage';
  /** The request carried a well-formed min_position/X-Min-Position (a 503 read_model_lagging is then a legitimate answer). */
  wellFormedMinPosition: boolean;
  kind: string;
}

export interface FuzzFixtures {
  /** Valid values for path parameters by name (prefix, name, version…), so most requests reach real resources. */
  pathValues: Record<string, string[]>;
  /** Valid API keys to send as Bearer tokens. */
  keys: string[];
  bodyLimitBytes: number;
}

export function operationsOf(doc: OpenApi): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => resolve(doc, p));
      const content = op.requestBody ? resolve(doc, op.requestBody).content ?? {} : {};
      const media = content['application/json'] ?? Object.values(content)[0];
      out.push({ method: method.toUpperCase(), path, parameters, bodySchema: media?.schema ? deref(doc, media.schema) : undefined });
    }
  }
  return out;
}

function resolve(doc: OpenApi, node: any): any {
  if (node && typeof node === 'object' && typeof node.$ref === 'string') {
    const parts = node.$ref.replace(/^#\//, '').split('/');
    let target: any = doc;
    for (const p of parts) target = target?.[p];
    return resolve(doc, target);
  }
  return node;
}

/** Inlines every $ref (the API's DTOs are not recursive; depth is bounded all the same). */
function deref(doc: OpenApi, schema: any, depth = 0): any {
  if (depth > 8 || schema === null || typeof schema !== 'object') return schema;
  const resolved = resolve(doc, schema);
  if (Array.isArray(resolved)) return resolved.map((s) => deref(doc, s, depth + 1));
  const out: any = {};
  for (const [k, v] of Object.entries(resolved)) out[k] = typeof v === 'object' ? deref(doc, v, depth + 1) : v;
  return out;
}

// ---------- hostile values ----------

export const HUGE_STRING = 'x'.repeat(100_000);

const TRICKY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202Egnp.exe', // RTL override
  'مرحبا بالعالم', // RTL text
  '👩‍👩‍👧‍👦🚀',
  '\uD800', // lone surrogate
  '\uFEFF',
  '../../etc/passwd',
  '%00',
  '%2e%2e%2f',
  "'; DROP TABLE es_events; --",
  '$(reboot)',
  '<script>alert(1)</script>',
  '{"$ne":null}',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  '-1',
  '9'.repeat(400),
  'ß'.repeat(257),
  'a'.repeat(201),
  '1.0',
  '01.0.0',
  'v1.0.0',
  '1.0.0-',
  '1.0.0+',
  '1.0.0-rc.01',
  '999999999999999999999.0.0',
  '1.0.0\n',
  ' 1.0.0',
  'https://127.0.0.1/x.whl',
  'http://files.example.com/x.whl',
  'https://user:pass@files.example.com/x.whl',
  'https://[::1]/x.whl',
  'javascript:alert(1)',
];

const unicodeString = fc.string({ unit: 'grapheme', maxLength: 40 });
const anyStringArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: unicodeString },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constant(HUGE_STRING) },
);
const wrongTypeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.constant(-0),
  fc.constant(1e308),
  fc.constant([]),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.constant({}),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  anyStringArb,
  fc.constant([[[[[[[[[[[]]]]]]]]]]]),
);

const VALID_SEMVERS = ['1.0.0', '2.0.0', '0.1.0', '1.2.3-rc.1', '10.20.30', '3.0.0+build.5'];
const VALID_NAMES = ['acme/db', 'acme/cache', 'platform/db', 'beta/db', 'db'];

function typeOf(schema: Schema): string | undefined {
  if (!schema) return undefined;
  if (Array.isArray(schema.type)) return schema.type.find((t: string) => t !== 'null');
  if (schema.type) return schema.type;
  if (schema.properties) return 'object';
  if (schema.enum) return 'string';
  return undefined;
}

/** A value that fits the schema (as far as a schema can say: semantic rules such as semver are hinted by field name). */
function validValue(schema: Schema, field = ''): fc.Arbitrary<unknown> {
  if (schema?.oneOf || schema?.anyOf) return fc.oneof(...(schema.oneOf ?? schema.anyOf).map((s: Schema) => validValue(s, field)));
  if (schema?.allOf?.length) return validValue(schema.allOf[0], field);
  if (schema?.enum) return fc.constantFrom(...schema.enum);
  const type = typeOf(schema);
  const min = schema?.minLength ?? 0;
  const max = Math.min(schema?.maxLength ?? 30, 60);
  switch (type) {
    case 'string': {
      if (/version/.test(field)) return fc.oneof(fc.constantFrom(...VALID_SEMVERS), fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map(([a, b, c]) => `${a}.${b}.${c}`));
      if (field === 'sha256') return fc.stringMatching(/^[0-9a-f]{64}$/);
      if (field === 'package_name') return fc.constantFrom('acme_db', 'cache');
      if (field === 'name' || field === 'provider_name') return fc.constantFrom(...VALID_NAMES);
      if (/url/.test(field)) return fc.constantFrom('https://files.example.com/w/acme_db-9.9.9-py3-none-any.whl', 'https://files.example.com/x.whl');
      if (schema?.format === 'uuid') return fc.uuid();
      if (schema?.format === 'date-time') return fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString());
      return fc.string({ minLength: Math.max(min, 1), maxLength: Math.max(max, min, 1) });
    }
    case 'integer':
      return fc.integer({ min: schema?.minimum ?? 0, max: Math.min(schema?.maximum ?? 1000, 2_147_483_647) });
    case 'number':
      return fc.double({ noNaN: true, min: schema?.minimum ?? -1e6, max: schema?.maximum ?? 1e6 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(validValue(schema?.items, field), { maxLength: 4 });
    case 'object': {
      if (schema?.properties) {
        // Required fields plus at most two optional ones, so that a fair share of bodies pass validation.
        const props: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, v] of Object.entries<Schema>(schema.properties)) props[k] = validValue(v, k);
        const required: string[] = (schema.required ?? []).filter((k: string) => k in props);
        const optional = Object.keys(props).filter((k) => !required.includes(k));
        return fc.tuple(fc.record(props), fc.subarray(optional, { maxLength: Math.min(2, optional.length) })).map(([full, chosen]) => {
          const out: Record<string, unknown> = {};
          for (const k of [...required, ...chosen]) out[k] = (full as Record<string, unknown>)[k];
          return out;
        });
      }
      if (schema?.additionalProperties && typeof schema.additionalProperties === 'object' && schema.additionalProperties.type === 'string') {
        return fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 5 });
      }
      return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Boundary and hostile variants of a value of this schema. */
function edgeValue(schema: Schema, field = ''): fc.Arbitrary<unknown> {
  const type = typeOf(schema);
  const edges: Array<fc.Arbitrary<unknown>> = [wrongTypeArb, anyStringArb, fc.constant(null)];
  if (type === 'string') {
    for (const n of [schema?.minLength, schema?.maxLength]) {
      if (typeof n === 'number') for (const d of [-1, 0, 1]) if (n + d >= 0) edges.push(fc.constant('a'.repeat(n + d)), fc.constant('é'.repeat(n + d)));
    }
    if (/version/.test(field)) edges.push(fc.constantFrom('1.0', 'latest', '1.0.0.0', '^1.0.0', '>=1', '1.0.0-rc..1', 'v2', '1.2.3-' + 'a'.repeat(300)));
  }
  if (type === 'integer' || type === 'number') {
    for (const n of [schema?.minimum, schema?.maximum]) if (typeof n === 'number') edges.push(fc.constantFrom(n - 1, n, n + 1));
    edges.push(fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), Number.MAX_VALUE, '1', '0x10'));
  }
  if (type === 'object' && schema?.additionalProperties && typeof schema.additionalProperties === 'object') {
    edges.push(
      fc.constant(Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`K${i}`, 'v']))),
      fc.constant({ 'bad-key': 'v' }),
      fc.constant({ '1ABC': 'v' }),
      fc.constant({ OK: 5 }),
      fc.constant({ OK: null }),
      fc.constant({ ['A'.repeat(300)]: 'v' }),
      fc.constant({ OK: 'x'.repeat(40_000) }),
      fc.constant({ __proto__: { polluted: true } }),
      fc.constant(JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"x":1}}}')),
    );
  }
  if (type === 'array') edges.push(fc.constant({}), fc.array(wrongTypeArb, { maxLength: 4 }), fc.constant(Array.from({ length: 500 }, () => 'x')));
  if (type === 'object' && schema?.properties) edges.push(fc.constant([]), fc.array(validValue(schema, field), { maxLength: 2 }));
  return fc.oneof(...edges);
}

/** A body value: well-typed, or well-typed with some fields replaced by edges, dropped, or extra fields added. */
function bodyValue(schema: Schema): fc.Arbitrary<unknown> {
  const props: Record<string, Schema> = schema?.properties ?? {};
  const names = Object.keys(props);
  const mutated = fc
    .tuple(
      validValue(schema),
      fc.subarray(names),
      fc.record(Object.fromEntries(names.map((n) => [n, edgeValue(props[n], n)]))),
      fc.subarray(names),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra')), wrongTypeArb, { maxKeys: 2 }),
    )
    .map(([base, replace, edges, drop, extra]) => {
      const out: Record<string, unknown> = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base } : {};
      for (const n of replace) out[n] = (edges as Record<string, unknown>)[n];
      for (const n of drop) delete out[n];
      return { ...out, ...extra };
    });
  return fc.oneof(
    { weight: 3, arbitrary: validValue(schema) },
    { weight: 5, arbitrary: mutated },
    { weight: 1, arbitrary: wrongTypeArb },
  );
}

// ---------- path, query, headers ----------

const BAD_PATH_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '%2F',
  'a%2Fb',
  '%5C',
  '%00',
  'a'.repeat(300),
  encodeURIComponent('👩‍🚀'),
  encodeURIComponent('مرحبا'),
  encodeURIComponent('\u202E'),
  'ACME',
  '-acme',
  'acme.db',
  '%',
  '%ZZ',
  '%C0%AF',
  '%uFF0E',
  '1.0.0%00',
  encodeURIComponent('1.0.0/../2.0.0'),
  '9'.repeat(300),
  ';',
  '~',
];

function pathSegment(name: string, fixtures: FuzzFixtures, schema: Schema): fc.Arbitrary<string> {
  const valid = fixtures.pathValues[name] ?? ['x'];
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...valid) },
    { weight: 3, arbitrary: fc.constantFrom(...BAD_PATH_SEGMENTS) },
    { weight: 1, arbitrary: fc.oneof(anyStringArb, validValue(schema, name).map(asText)).map((s) => pctEncode(asText(s)).slice(0, 2000) || 'x') },
  );
}

const QUERY_EDGES = ['', '-1', '0', '1', '100', '101', '1e3', '0x10', '1.5', '99999999999999999999', 'abc', '%00', encodeURIComponent('👩‍🚀'), 'a'.repeat(300), '2026-01-31T12:00:00Z', '2026-13-45T99:99:99Z', '1970-01-01T00:00:00.000Z', 'yanked', 'published', 'pending', 'ready', 'healthy', 'degraded', 'db,sql', ',,,,'];

/** The fixed-form query parameters every query accepts, besides those the document lists. */
const MIN_POSITION_GARBAGE = ['yesterday', '1:2:3', '-1:0', ':', '1:', ':1', '0x1:2', '1:2 ', ' 1:2', '99999999999999999999:1', '1:99999999999999999999', '\u0661:\u0662', '1;2', '1:1e3'];
const MIN_POSITION_OVERFLOW = ['9999999999999999999:9999999999999999999', '9223372036854775808:1', '1:9223372036854775808', '18446744073709551615:0'];

const SAFE_HEADER_CHARS = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const LATIN1_HEADER = fc.string({ unit: fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 20 });

export function requestArbitrary(operations: Operation[], fixtures: FuzzFixtures): fc.Arbitrary<FuzzRequest> {
  // The runtime endpoints hold a request with a token up to 2 s while they look for an unknown
  // installation (the read model may lag a fresh deploy): drawn less often, so a run stays short.
  return fc.oneof(...operations.map((op) => ({ weight: op.path.startsWith('/runtime/') ? 1 : 4, arbitrary: operationRequest(op, fixtures) })));
}

function operationRequest(op: Operation, fixtures: FuzzFixtures): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const pathArb = fc.tuple(...pathParams.map((p) => pathSegment(p.name, fixtures, p.schema))).map((values) => {
    let path = op.path;
    pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, values[i])));
    return path;
  });
  const queryArb = fc
    .tuple(
      fc.subarray(queryParams),
      fc.array(fc.oneof(fc.constantFrom(...QUERY_EDGES), fc.constant('valid')), { minLength: queryParams.length, maxLength: queryParams.length }),
      fc.option(fc.oneof(fc.constantFrom(...MIN_POSITION_GARBAGE, ...MIN_POSITION_OVERFLOW), fc.constant('1:1')), { freq: 4 }),
      fc.option(fc.tuple(fc.constantFrom('limit', 'offset', 'q', 'tags', 'status', 'as_of', 'lifecycle_state', 'unknown'), fc.constantFrom(...QUERY_EDGES)), { freq: 3 }),
      fc.boolean(),
    )
    .chain(([chosen, edges, minPosition, extra, duplicate]) =>
      fc.tuple(...chosen.map((p) => validValue(p.schema, p.name))).map((valids) => {
        const parts: string[] = [];
        chosen.forEach((p, i) => {
          const edge = edges[queryParams.indexOf(p)];
          const value = edge === 'valid' ? asText(valids[i]) : edge;
          parts.push(`${encodeURIComponent(p.name)}=${edge === 'valid' ? pctEncode(value) : value}`);
          if (duplicate) parts.push(`${encodeURIComponent(p.name)}=${pctEncode(value)}`); // ?limit=1&limit=2 → an array
        });
        if (minPosition !== null) parts.push(`min_position=${encodeURIComponent(minPosition)}`);
        if (extra) parts.push(`${extra[0]}${duplicate ? '[]' : ''}=${extra[1]}`);
        return { query: parts.length ? `?${parts.join('&')}` : '', minPosition };
      }),
    );

  const authArb = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...fixtures.keys).map((k) => ({ auth: 'valid' as const, header: `Bearer ${k}` as string | undefined })) },
    { weight: 1, arbitrary: fc.constant({ auth: 'none' as const, header: undefined as string | undefined }) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'bearer ' + fixtures.keys[0],
            'Basic dXNlcjpwYXNz',
            `Bearer ${fixtures.keys[0]}x`,
            `Bearer ${fixtures.keys[0].slice(0, -1)}`,
            `Bearer ${fixtures.keys[0].replace(/_[^_]+$/, '_' + 'A'.repeat(43))}`,
            `Bearer psk_0000000000000000_${'A'.repeat(43)}`,
            `Bearer ${'A'.repeat(4000)}`,
            `Bearer ${fixtures.keys[0]}, Bearer ${fixtures.keys[0]}`,
            'Bearer \u00ff\u00fe',
            'Bearer %00',
          ),
          SAFE_HEADER_CHARS.map((s) => `Bearer ${s}`),
        )
        .map((header) => ({ auth: 'garbage' as const, header })),
    },
  );

  // Each optional header is absent from most requests, so that commands also get through and succeed.
  const opt = <T>(arb: fc.Arbitrary<T>, freq = 4) => fc.option(arb, { freq, nil: undefined });
  const headerArb = fc.record({
    idempotency: opt(
      fc.oneof(
        fc.uuid(),
        fc.constantFrom('', ' ', 'a'.repeat(200), 'a'.repeat(201), 'k'.repeat(8000), '\u00e9\u00e8'),
        SAFE_HEADER_CHARS,
        LATIN1_HEADER,
      ),
      3,
    ),
    ifMatch: opt(
      fc.oneof(
        fc.constantFrom('*', '"0"', '"1"', '"2"', 'W/"1"', '"abc"', '"-1"', '""', '"99999999999999999999"', '"1.5"', '1', '"1", "2"', 'W/', '\u00ff'),
        fc.integer({ min: -5, max: 1e6 }).map((n) => `"${n}"`),
        SAFE_HEADER_CHARS,
      ),
    ),
    minPosition: opt(fc.oneof(fc.constantFrom(...MIN_POSITION_GARBAGE, ...MIN_POSITION_OVERFLOW), SAFE_HEADER_CHARS, LATIN1_HEADER)),
    correlation: opt(fc.constantFrom('x'.repeat(201), '\u00ff', ''), 8),
    accept: opt(fc.constantFrom('application/xml', '*/*', 'text/html', ''), 6),
  });

  const bodyArb: fc.Arbitrary<{ text?: string; contentType?: string; kind: string }> = op.bodySchema
    ? fc.oneof(
        { weight: 14, arbitrary: bodyValue(op.bodySchema).map((v) => ({ text: safeStringify(v), contentType: 'application/json', kind: 'json' })) },
        {
          weight: 2,
          arbitrary: fc
            .oneof(
              fc.constantFrom('{', '{"a":', '[1,2', '{"a":1}}', "{'a':1}", '{"a":NaN}', '{"a":undefined}', 'nul', '\u0000', '{"a":"\\u00"}', '\uFEFF{}', '{"a":1,}', '"' + 'x'.repeat(1000)),
              fc.string({ maxLength: 40 }),
            )
            .map((text) => ({ text, contentType: 'application/json', kind: 'malformed-json' })),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            { text: 'a=1&b=2', contentType: 'application/x-www-form-urlencoded', kind: 'bad-content-type' },
            { text: '<xml/>', contentType: 'application/xml', kind: 'bad-content-type' },
            { text: '{"a":1}', contentType: 'text/plain', kind: 'bad-content-type' },
            { text: '{"a":1}', contentType: 'application/json; charset=utf-16', kind: 'bad-content-type' },
            { text: '{"a":1}', contentType: 'application/json; charset=bogus', kind: 'bad-content-type' },
            { text: '--x\r\n\r\n--x--', contentType: 'multipart/form-data; boundary=x', kind: 'bad-content-type' },
            { text: '{}', contentType: 'application/vnd.api+json', kind: 'bad-content-type' },
            { text: '{}', contentType: '', kind: 'bad-content-type' },
          ),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom('object', 'array', 'string').map((shape) => ({
            text: hugeJson(shape, fixtures.bodyLimitBytes + 1024),
            contentType: 'application/json',
            kind: 'huge-body',
          })),
        },
        {
          // Nesting past the 64-level limit (a NUL at the bottom, sometimes): 400 body_too_deep, never a 500.
          weight: 1,
          arbitrary: fc
            .record({ depth: fc.integer({ min: 65, max: 20_000 }), array: fc.boolean(), leaf: fc.constantFrom('1', '"x"', '"a\\u0000b"', '"\\ud800"') })
            .map(({ depth, array, leaf }) => ({
              text: array ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth),
              contentType: 'application/json',
              kind: 'deep-json',
            })),
        },
        { weight: 1, arbitrary: fc.constant({ text: undefined, contentType: undefined, kind: 'no-body' }) },
      )
    : fc.oneof(
        { weight: 8, arbitrary: fc.constant({ text: undefined, contentType: undefined, kind: 'no-body' }) },
        { weight: 1, arbitrary: wrongTypeArb.map((v) => ({ text: safeStringify(v), contentType: 'application/json', kind: 'unexpected-body' })) },
      );

  return fc.tuple(pathArb, queryArb, authArb, headerArb, bodyArb).map(([path, { query, minPosition }, auth, h, body]) => {
    const headers: Record<string, string> = {};
    if (auth.header !== undefined) headers.authorization = auth.header;
    if (h.idempotency !== undefined) headers['idempotency-key'] = h.idempotency;
    if (h.ifMatch !== undefined) headers['if-match'] = h.ifMatch;
    if (h.minPosition !== undefined) headers['x-min-position'] = latin1(h.minPosition);
    if (h.correlation !== undefined) headers['x-correlation-id'] = h.correlation;
    if (h.accept !== undefined && h.accept !== '') headers.accept = h.accept;
    if (body.contentType) headers['content-type'] = body.contentType;
    const positions = [minPosition, h.minPosition].filter((p): p is string => typeof p === 'string');
    return {
      operation: `${op.method} ${op.path}`,
      method: op.method,
      path: path + query,
      headers,
      body: body.text,
      auth: auth.auth,
      wellFormedMinPosition: positions.some((p) => /^\s*\d{1,19}:\d{1,19}\s*$/.test(p)),
      kind: body.kind,
    };
  });
}

/** Any drawn value as text (objects from fast-check may have a null prototype, which String() cannot convert). */
function asText(value: unknown): string {
  return typeof value === 'object' && value !== null ? (JSON.stringify(value) ?? '') : String(value);
}

/** Percent-encodes the UTF-8 bytes of any string, lone surrogates included (encodeURIComponent throws on them). */
export function pctEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Header values go out as bytes: anything beyond latin-1 is sent percent-encoded instead. */
function latin1(value: string): string {
  // eslint-disable-next-line no-control-regex -- the whole latin-1 range, NUL included, on purpose
  return /^[\u0000-\u00ff]*$/.test(value) ? value : pctEncode(value);
}

function safeStringify(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

function hugeJson(shape: string, bytes: number): string {
  const filler = 'y'.repeat(bytes);
  if (shape === 'array') return JSON.stringify([filler]);
  if (shape === 'string') return JSON.stringify(filler);
  return JSON.stringify({ name: 'acme/db', version: '9.9.9', wheel_url: 'https://files.example.com/x.whl', changelog: filler });
}
