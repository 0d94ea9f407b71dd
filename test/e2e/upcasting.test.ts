import { randomUUID } from 'node:crypto';
import { rebuildProjection } from '../../libs/projection-engine/rebuild';
import { catalogProjection } from '../../projections/catalog.projection';
import { providerVersionsProjection } from '../../projections/provider-versions.projection';
import { TestApp, startTestApp } from '../support/test-app';

/**
 * An event stored in an old shape (ProviderVersionPublished v1, whose `schemas` was the request's
 * map) is read in today's shape by the decider, the projections and the history; the stored row is
 * never rewritten.
 */
describe('upcasting stored old-shape events', () => {
  let t: TestApp;
  let key: string;
  const eventId = randomUUID();

  beforeAll(async () => {
    t = await startTestApp();
    key = await t.createKey('acme', ['publish', 'read']);
    const v1 = {
      prefix: 'acme',
      name: 'legacy',
      version: '1.0.0',
      publisher_org: 'acme',
      runtime_version: '0.9.0',
      wheel_url: 'https://files.example.com/legacy-1.0.0.whl',
      wheel_sha256: null,
      package_name: null,
      entrypoint: null,
      schemas: { database: { type: 'object', properties: { size: { type: 'integer' } } }, user: { type: 'object' } },
      config_schema: null,
      outputs_schema: null,
      changelog: null,
      status: 'published',
      published_at: '2025-06-01T12:00:00.000Z',
      at: '2025-06-01T12:00:00.000Z',
    };
    const metadata = { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'apikey:old@acme', occurred_at: '2025-06-01T12:00:00.000Z' };
    await t.db.pool.query(
      `INSERT INTO es_events (stream_name, stream_revision, event_id, event_type, data, metadata)
       VALUES ('provider-acme.legacy', 0, $1, 'ProviderVersionPublished', $2, $3)`,
      [eventId, JSON.stringify(v1), JSON.stringify(metadata)],
    );
    // Written around the app, as an older release left it: the read models learn of it the way an
    // operator brings them in line with such history, by a rebuild from the log.
    const deps = { pool: t.infrastructure.pool, eventStore: t.infrastructure.eventStore, checkpoints: t.infrastructure.checkpoints };
    for (const projection of [providerVersionsProjection, catalogProjection]) await rebuildProjection(deps, projection);
  });
  afterAll(async () => t?.close());

  const expectedSchemas = [
    { resource_type: 'database', schema: { type: 'object', properties: { size: { type: 'integer' } } } },
    { resource_type: 'user', schema: { type: 'object' } },
  ];

  it('projects the old event in the current shape', async () => {
    const got = await t.request('GET', `/providers/acme/legacy/versions/1.0.0?min_position=${await t.lastPosition()}`, { key });
    expect(got.status).toBe(200);
    expect(got.body.schemas).toEqual(expectedSchemas);
    expect(got.body.runtime_version).toBe('0.9.0');
  });

  it('shows the current shape in the audit trail and in time travel', async () => {
    const history = await t.request('GET', '/providers/acme/legacy/history', { key });
    expect(history.status).toBe(200);
    expect(history.body.items[0].data.schemas).toEqual(expectedSchemas);
    const past = await t.request('GET', '/providers/acme/legacy/versions/1.0.0?as_of=2025-07-01T00:00:00Z', { key });
    expect(past.body.schemas).toEqual(expectedSchemas);
  });

  it('lets the decider fold it: the old version stays immutable and new versions publish after it', async () => {
    const duplicate = await t.request('POST', '/provider-versions', { key, body: { name: 'acme/legacy', version: '1.0.0', wheel_url: 'https://files.example.com/x-1.0.0.whl' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('version_exists');
    const next = await t.request('POST', '/provider-versions', { key, body: { name: 'acme/legacy', version: '1.1.0', wheel_url: 'https://files.example.com/x-1.1.0.whl', schemas: { database: { type: 'object' } } } });
    expect(next.status).toBe(201);
    expect(next.body.schemas).toEqual([{ resource_type: 'database', schema: { type: 'object' } }]);
  });

  it('never rewrites the stored event; new events are written at schema version 2', async () => {
    const { rows } = await t.db.pool.query<{ data: { schemas: unknown }; metadata: { schema_version: number }; stream_revision: string }>(
      `SELECT data, metadata, stream_revision FROM es_events WHERE stream_name = 'provider-acme.legacy' ORDER BY stream_revision`,
    );
    expect(rows[0].data.schemas).toEqual({ database: expectedSchemas[0].schema, user: expectedSchemas[1].schema });
    expect(rows[0].metadata.schema_version).toBe(1);
    expect(rows[1].metadata.schema_version).toBe(2);
    expect(Array.isArray(rows[1].data.schemas)).toBe(true);
  });
});
