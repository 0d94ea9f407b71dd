import { randomUUID } from 'node:crypto';
import { CommandContext } from '../../libs/application/command-runner';
import { CLI_SCOPE } from '../../libs/application/idempotency-scopes';
import { DomainError } from '../../libs/domain/domain-error';
import { CreateOrganizationCommand, CreateOrganizationHandler } from '../../libs/organizations/create-organization.handler';
import { RenameOrganizationCommand, RenameOrganizationHandler } from '../../libs/organizations/rename-organization.handler';
import { verifyProjection } from '../../libs/projection-engine/verify';
import { organizationsProjection } from '../../projections/organizations.projection';
import { ORGANIZATION, expectSdkList, expectSdkModel } from '../support/sdk-models';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

/**
 * GET /organizations and /organizations/{id}: the SDK's Organization model, one organisation per key
 * (another's is a 404, as a missing one is), all of them for a platform admin; organisations known
 * only from their API keys are listed too.
 */
describe('organisations over HTTP', () => {
  let t: TestApp;
  let acme: string;
  let admin: string;

  const context = (): CommandContext => ({ actor: 'cli:test', correlationId: randomUUID(), idempotencyScope: CLI_SCOPE, now: new Date().toISOString() });

  /** The organisations projection runs beside the API here: poll (bounded) until it shows what `done` wants. */
  async function eventually(send: () => Promise<TestResponse>, done: (r: TestResponse) => boolean): Promise<TestResponse> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const response = await send();
      if (done(response) || Date.now() > deadline) return response;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  beforeAll(async () => {
    t = await startTestApp();
    acme = await t.createKey('acme', ['read']);
    // globex exists only through its key: the organisation read model must list it all the same.
    await t.createKey('globex', ['read', 'publish']);
    admin = await t.createKey('ops', ['read'], { platformAdmin: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('an organisation known only from its API key answers as the SDK’s Organization, named after its id', async () => {
    const res = await eventually(() => t.request('GET', '/organizations/acme', { key: acme }), (r) => r.status === 200);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expectSdkModel(res.body, ORGANIZATION);
    expect(res.body).toEqual({
      id: 'acme',
      organization_id: 'acme',
      slug: 'acme',
      name: 'acme',
      status: 'active',
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('a key sees its own organisation only: another one is a 404 exactly like one that does not exist', async () => {
    await eventually(() => t.request('GET', '/organizations/globex', { key: admin }), (r) => r.status === 200);
    const foreign = await t.request('GET', '/organizations/globex', { key: acme });
    const missing = await t.request('GET', '/organizations/nobody', { key: acme });
    expect([foreign.status, foreign.body.code]).toEqual([404, 'organization_not_found']);
    expect([missing.status, missing.body.code]).toEqual([404, 'organization_not_found']);
    expect(foreign.body.message.replace('globex', 'X')).toBe(missing.body.message.replace('nobody', 'X'));
    for (const bad of ['ACME', 'a%2Fb', '-x', 'x'.repeat(64)]) {
      const res = await t.request('GET', `/organizations/${bad}`, { key: acme });
      expect([bad, res.status, res.body.code]).toEqual([bad, 404, 'organization_not_found']);
      expect(res.text).not.toContain(bad);
    }

    const list = await t.request('GET', '/organizations', { key: acme });
    expect(list.status).toBe(200);
    expectSdkList(list.body, ORGANIZATION);
    expect(list.body.map((o: { id: string }) => o.id)).toEqual(['acme']);
    expect(list.headers.get('x-total-count')).toBe('1');
    expect(list.headers.get('link')).toBeNull();
  });

  it('needs a key with the read scope', async () => {
    expect((await t.request('GET', '/organizations')).status).toBe(401);
    const installOnly = await t.createKey('acme', ['install']);
    const res = await t.request('GET', '/organizations/acme', { key: installOnly });
    expect([res.status, res.body.code]).toEqual([403, 'missing_scope']);
  });

  it('declaring an organisation names it and keeps when it was first known; renaming moves updated_at only', async () => {
    const before = (await t.request('GET', '/organizations/acme', { key: acme })).body;
    const handler = new CreateOrganizationHandler(t.infrastructure);
    const outcome = await handler.execute(new CreateOrganizationCommand({ id: 'acme', name: 'Acme Corp', ifAbsent: false }, context()));
    expect(outcome.appended).toBe(1);
    const named = await eventually(() => t.request('GET', '/organizations/acme', { key: acme }), (r) => r.body?.name === 'Acme Corp');
    expect(named.body).toMatchObject({ id: 'acme', slug: 'acme', name: 'Acme Corp', created_at: before.created_at });

    await expect(handler.execute(new CreateOrganizationCommand({ id: 'acme', name: 'Other', ifAbsent: false }, context()))).rejects.toMatchObject({ code: 'organization_exists' });
    const ensured = await handler.execute(new CreateOrganizationCommand({ id: 'acme', name: null, ifAbsent: true }, context()));
    expect(ensured.appended).toBe(0);

    await new RenameOrganizationHandler(t.infrastructure).execute(new RenameOrganizationCommand('acme', 'Acme Inc', context()));
    const renamed = await eventually(() => t.request('GET', '/organizations/acme', { key: acme }), (r) => r.body?.name === 'Acme Inc');
    expect(renamed.body.created_at).toBe(before.created_at);
    expect(Date.parse(renamed.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(named.body.updated_at));
    const error = await handler.execute(new CreateOrganizationCommand({ id: 'Bad Org', name: null, ifAbsent: true }, context())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('invalid_organization_id');
  });

  it('two "create if absent" at once for a new organisation both succeed, and it is created once', async () => {
    const handler = new CreateOrganizationHandler(t.infrastructure);
    const outcomes = await Promise.all([1, 2, 3].map(() => handler.execute(new CreateOrganizationCommand({ id: 'initech', name: null, ifAbsent: true }, context()))));
    expect(outcomes.map((o) => o.appended).sort()).toEqual([0, 0, 1]);
  });

  it('a platform admin lists every organisation, completely unless a limit is given, with Link headers then', async () => {
    const all = await eventually(() => t.request('GET', '/organizations', { key: admin }), (r) => r.body?.length === 4);
    expect(all.status).toBe(200);
    expectSdkList(all.body, ORGANIZATION);
    expect(all.body.map((o: { id: string }) => o.id)).toEqual(['acme', 'globex', 'initech', 'ops']);
    expect(all.headers.get('x-total-count')).toBe('4');
    expect(all.headers.get('link')).toBeNull();
    expect((await t.request('GET', '/organizations/globex', { key: admin })).body).toMatchObject({ id: 'globex', slug: 'globex' });

    const first = await t.request('GET', '/organizations?limit=2', { key: admin });
    expect(first.body.map((o: { id: string }) => o.id)).toEqual(['acme', 'globex']);
    expect(first.headers.get('x-total-count')).toBe('4');
    expect(first.headers.get('link')).toBe('</organizations?limit=2&offset=2>; rel="next"');
    const middle = await t.request('GET', '/organizations?limit=2&offset=1', { key: admin });
    expect(middle.body.map((o: { id: string }) => o.id)).toEqual(['globex', 'initech']);
    expect(middle.headers.get('link')).toBe('</organizations?limit=2&offset=3>; rel="next", </organizations?limit=2&offset=0>; rel="prev"');
    const last = await t.request('GET', '/organizations?limit=2&offset=2', { key: admin });
    expect(last.body.map((o: { id: string }) => o.id)).toEqual(['initech', 'ops']);
    expect(last.headers.get('link')).toBe('</organizations?limit=2&offset=0>; rel="prev"');
    const rest = await t.request('GET', '/organizations?offset=3', { key: admin });
    expect(rest.body.map((o: { id: string }) => o.id)).toEqual(['ops']);
    expect(rest.headers.get('link')).toBe('</organizations?offset=0&limit=3>; rel="prev"');
    const bad = await t.request('GET', '/organizations?limit=0', { key: admin });
    expect([bad.status, bad.body.code]).toEqual([422, 'validation_failed']);
  });

  it('the read model folds back to the same rows from the log', async () => {
    const report = await verifyProjection({ pool: t.db.pool, eventStore: t.infrastructure.eventStore, checkpoints: t.infrastructure.checkpoints }, organizationsProjection);
    expect(report).toMatchObject({ verified: true, differences: [], live_rows: 4, expected_rows: 4 });
  });
});
