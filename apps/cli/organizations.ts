import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { CommandContext } from '../../libs/application/command-runner';
import { CLI_SCOPE } from '../../libs/application/idempotency-scopes';
import type { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { CreateOrganizationCommand, CreateOrganizationHandler } from '../../libs/organizations/create-organization.handler';
import { ORGANIZATION_NAME_MAX } from '../../libs/organizations/organization';
import { RenameOrganizationCommand, RenameOrganizationHandler } from '../../libs/organizations/rename-organization.handler';
import { organizationsProjection } from '../../projections/organizations.projection';
import { GetOrganizationHandler, GetOrganizationQuery, ListOrganizationsHandler, ListOrganizationsQuery } from '../../projections/organizations.queries';
import { catchUpApiKeys } from './api-key-catch-up';
import { UsageError, err, out, table, withInfrastructure } from './io';
import { cliActor, parseOrg } from './keys';

function context(): CommandContext {
  return { actor: cliActor(), correlationId: randomUUID(), idempotencyScope: CLI_SCOPE, now: new Date().toISOString() };
}

function parseName(value: string | undefined): string | null {
  if (value === undefined) return null;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (value.trim() === '' || value.length > ORGANIZATION_NAME_MAX || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(`--name must be 1 to ${ORGANIZATION_NAME_MAX} printable characters`);
  }
  return value;
}

/** Projects the organisations read model when no app does; else waits (bounded) for `ready`. */
async function caughtUp(infra: Infrastructure, ready: () => Promise<boolean>): Promise<boolean> {
  const outcome = await catchUpApiKeys(infra, ready, 10_000, organizationsProjection);
  if (outcome === 'timeout') err('warning: the running app has not projected the organisation within 10 s; it shows once it has.\n');
  return outcome !== 'timeout';
}

export function registerOrganizations(program: Command): void {
  const orgs = program.command('orgs').description('create, rename and list organisations (tenants)');

  orgs
    .command('create')
    .description('create an organisation; its id is the prefix of its providers')
    .argument('<id>', 'the organisation token (^[a-z0-9][a-z0-9-]{0,62}$)')
    .option('--name <name>', 'display name (default: the id)')
    .option('--json', 'print the organisation as one JSON object')
    .action(async (idArgument: string, opts: { name?: string; json?: boolean }) => {
      const id = parseOrg(idArgument);
      const name = parseName(opts.name);
      await withInfrastructure(async (infra) => {
        await new CreateOrganizationHandler(infra).execute(new CreateOrganizationCommand({ id, name, ifAbsent: false }, context()));
        const query = new GetOrganizationHandler(infra);
        const shown = () => query.execute(new GetOrganizationQuery(id, 'all'));
        await caughtUp(infra, async () => (await shown().catch(() => undefined))?.name === (name ?? id));
        const organization = await shown().catch(() => undefined);
        if (opts.json) await out(`${JSON.stringify(organization ?? { id, slug: id, name: name ?? id })}\n`);
        else await out(`created organisation ${id}${name ? ` (${name})` : ''}\n`);
      });
    });

  orgs
    .command('rename')
    .description('give an organisation another display name')
    .argument('<id>', 'the organisation token')
    .requiredOption('--name <name>', 'the new display name')
    .action(async (idArgument: string, opts: { name: string }) => {
      const id = parseOrg(idArgument);
      const name = parseName(opts.name) ?? id;
      await withInfrastructure(async (infra) => {
        await new RenameOrganizationHandler(infra).execute(new RenameOrganizationCommand(id, name, context()));
        const query = new GetOrganizationHandler(infra);
        await caughtUp(infra, async () => (await query.execute(new GetOrganizationQuery(id, 'all')).catch(() => undefined))?.name === name);
        await out(`renamed organisation ${id} to ${name}\n`);
      });
    });

  orgs
    .command('list')
    .description('list organisations, those known only from their API keys included')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }) => {
      await withInfrastructure(async (infra) => {
        await caughtUp(infra, async () => true);
        const { items } = await new ListOrganizationsHandler(infra).execute(new ListOrganizationsQuery('all', { limit: null, offset: 0 }));
        if (opts.json) {
          await out(`${JSON.stringify(items)}\n`);
          return;
        }
        if (items.length === 0) {
          await out('no organisations\n');
          return;
        }
        await out(table(['ID', 'NAME', 'CREATED', 'UPDATED'], items.map((o) => [o.id, o.name, o.created_at, o.updated_at])));
      });
    });
}
