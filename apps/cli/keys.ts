import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { CommandContext } from '../../libs/application/command-runner';
import { CLI_SCOPE } from '../../libs/application/idempotency-scopes';
import { API_KEY_SCOPES, ApiKeyScope } from '../../libs/api-keys/api-key';
import { CreateApiKeyCommand, CreateApiKeyHandler } from '../../libs/api-keys/create-api-key.handler';
import { RevokeApiKeyCommand, RevokeApiKeyHandler } from '../../libs/api-keys/revoke-api-key.handler';
import { CreateOrganizationCommand, CreateOrganizationHandler } from '../../libs/organizations/create-organization.handler';
import { TOKEN_PATTERN } from '../../libs/providers/provider-identity';
import type { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { ApiKeyListing, GetApiKeyHandler, GetApiKeyQuery, ListApiKeysHandler, ListApiKeysQuery } from '../../projections/api-keys.queries';
import { catchUpApiKeys } from './api-key-catch-up';
import { CliState, UsageError, err, fail, out, splitList, table, withInfrastructure } from './io';

const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

export function parseOrg(value: string): string {
  if (!TOKEN_PATTERN.test(value)) {
    throw new UsageError(`--org "${value}" is not an organisation: use lower-case letters, digits and dashes (^[a-z0-9][a-z0-9-]{0,62}$)`);
  }
  return value;
}

export function parseScopes(value: string): ApiKeyScope[] {
  const scopes = splitList(value);
  if (scopes.length === 0) throw new UsageError(`--scopes needs at least one of ${API_KEY_SCOPES.join(', ')}`);
  const unknown = scopes.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new UsageError(`unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: use ${API_KEY_SCOPES.join(', ')}`);
  }
  // Canonical order, no repeats.
  return API_KEY_SCOPES.filter((s) => scopes.includes(s));
}

/** `cli:<os user>`: who ran the command, recorded on the event. */
export function cliActor(): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined;
  }
  return `cli:${user || process.env.USER || process.env.LOGNAME || 'unknown'}`;
}

function context(actor: string): CommandContext {
  return { actor, correlationId: randomUUID(), idempotencyScope: CLI_SCOPE, now: new Date().toISOString() };
}

interface CreateKeyOptions {
  org: string;
  scopes: string;
  platformAdmin: boolean;
  label?: string;
  json?: boolean;
}

export function registerKeys(program: Command, state: CliState): void {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create an API key; the key is printed once and never stored')
    .requiredOption('--org <org>', 'organisation the key acts for')
    .requiredOption('--scopes <scopes>', `comma-separated scopes: ${API_KEY_SCOPES.join(', ')}`)
    .option('--platform-admin', 'the key may act for the platform (publish under platform/)', false)
    .option('--label <label>', 'a note for people, shown by `keys list`')
    .option('--json', 'print one JSON object: key, key_id, org, scopes, platform_admin')
    .addHelpText('after', '\nThe key works as soon as this command returns: with no app running the CLI projects it itself,\notherwise it waits (up to 10 s) until the running app has.')
    .action((opts: CreateKeyOptions) => createKey(opts));

  keys
    .command('list')
    .description('list API keys (never secrets or hashes)')
    .option('--org <org>', 'only this organisation’s keys')
    .option('--json', 'print a JSON array')
    .action((opts: { org?: string; json?: boolean }) => listKeys(opts));

  keys
    .command('revoke')
    .description('revoke an API key; it stops working within seconds')
    .argument('<key_id>', 'the key id (the 16 hex digits after psk_)')
    .option('--json', 'print {"key_id", "revoked", "already_revoked"}')
    .action((keyIdArgument: string, opts: { json?: boolean }) => revokeKey(keyIdArgument, opts, state));
}

async function createKey(opts: CreateKeyOptions): Promise<void> {
  const org = parseOrg(opts.org);
  const scopes = parseScopes(opts.scopes);
  if (opts.label !== undefined && opts.label.length > 200) throw new UsageError('--label is limited to 200 characters');
  await withInfrastructure(async (infra) => {
    // A key for an organisation nobody declared yet declares it first (the same command `orgs create` runs).
    await new CreateOrganizationHandler(infra).execute(new CreateOrganizationCommand({ id: org, name: null, ifAbsent: true }, context(cliActor())));
    // The API's handler, run without Nest: the CLI has no HTTP side.
    const issued = await new CreateApiKeyHandler(infra).execute(
      new CreateApiKeyCommand({ org, scopes, platformAdmin: opts.platformAdmin === true, label: opts.label ?? null }, context(cliActor())),
    );
    const outcome = await catchUpApiKeys(infra, async () => (await projectedKey(infra, issued.keyId)) !== undefined);
    if (opts.json) {
      await out(
        `${JSON.stringify({ key: issued.key, key_id: issued.keyId, org, scopes, platform_admin: opts.platformAdmin === true })}\n`,
      );
    } else {
      await out(
        `key: ${issued.key}\nkey_id: ${issued.keyId}\norg: ${org}\nscopes: ${scopes.join(',')}\nplatform_admin: ${opts.platformAdmin === true}\n` +
          (opts.label ? `label: ${opts.label}\n` : ''),
      );
      err('Store the key now: it is shown only this once.\n');
    }
    if (outcome === 'timeout') {
      // The key exists (its event is in the log); it works once the running app has projected it.
      err('warning: the running app has not projected the key within 10 s; it will work once it has.\n');
    }
  });
}

async function listKeys(opts: { org?: string; json?: boolean }): Promise<void> {
  const org = opts.org === undefined ? undefined : parseOrg(opts.org);
  await withInfrastructure(async (infra) => {
    const rows = await new ListApiKeysHandler(infra).execute(new ListApiKeysQuery(org));
    if (opts.json) {
      await out(`${JSON.stringify(rows.map((r) => ({ ...r, created_at: iso(r.created_at), revoked_at: iso(r.revoked_at) })))}\n`);
      return;
    }
    if (rows.length === 0) {
      await out(org ? `no API keys for ${org}\n` : 'no API keys\n');
      return;
    }
    await out(
      table(
        ['KEY_ID', 'ORG', 'SCOPES', 'ADMIN', 'CREATED', 'REVOKED', 'CREATED_BY', 'LABEL'],
        rows.map((r) => [
          r.key_id,
          r.org,
          r.scopes.join(','),
          r.platform_admin ? 'yes' : 'no',
          iso(r.created_at) ?? '',
          iso(r.revoked_at) ?? '-',
          r.created_by,
          r.label ?? '',
        ]),
      ),
    );
  });
}

async function revokeKey(keyIdArgument: string, opts: { json?: boolean }, state: CliState): Promise<void> {
  const keyId = keyIdArgument.startsWith('psk_') ? keyIdArgument.slice(4, 20) : keyIdArgument;
  if (!KEY_ID_PATTERN.test(keyId)) throw new UsageError(`"${keyIdArgument}" is not a key id (16 hex digits)`);
  await withInfrastructure(async (infra) => {
    const { alreadyRevoked } = await new RevokeApiKeyHandler(infra).execute(new RevokeApiKeyCommand(keyId, context(cliActor())));
    const caughtUp = await catchUpApiKeys(infra, async () => (await projectedKey(infra, keyId))?.revoked_at != null);
    if (opts.json) await out(`${JSON.stringify({ key_id: keyId, revoked: true, already_revoked: alreadyRevoked })}\n`);
    else await out(alreadyRevoked ? `key ${keyId} was already revoked\n` : `revoked key ${keyId}\n`);
    if (caughtUp === 'timeout') {
      err('warning: the running app has not projected the revocation within 10 s; it takes effect once it has.\n');
      fail(state);
    }
  });
}

/** The key as the auth guard will see it, once projected. */
async function projectedKey(infra: Infrastructure, keyId: string): Promise<ApiKeyListing | undefined> {
  return new GetApiKeyHandler(infra).execute(new GetApiKeyQuery(keyId));
}

function iso(value: Date | string | null): string | null {
  if (value === null) return null;
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
