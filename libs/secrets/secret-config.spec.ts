import { randomBytes } from 'node:crypto';
import { given } from '../domain/given-when-then';
import { ConfigSchemas, assertValidConfigSchema } from '../installations/config-schema';
import { InstallProvider, Reconfigure } from '../installations/installation.commands';
import { installationDecider } from '../installations/installation.decider';
import { InstallRequested } from '../installations/installation.events';
import { SecretUnreadable, keyIdOf, newDataKey, openConfigValue, sealConfigValue, unwrapDataKey, wrapDataKey } from './envelope';
import { maskedConfig, redactedEventData, schemaSecretKeys } from './secret-config';
import { decodeMasterKey, secretSettingsFrom } from './secret-settings';

const ID = '7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11';
const OTHER_ID = '00000000-0000-4000-8000-000000000001';
const NOW = '2024-03-02T12:00:00.000Z';

describe('envelope encryption', () => {
  it('opens a sealed value only with its data key, its installation and its config key', () => {
    const dataKey = newDataKey();
    const sealed = sealConfigValue(dataKey, ID, 'API_TOKEN', 'hunter2-secret');
    expect(sealed.startsWith('sealed:v1:')).toBe(true);
    expect(sealed).not.toContain('hunter2');
    expect(openConfigValue(dataKey, ID, 'API_TOKEN', sealed)).toBe('hunter2-secret');
    expect(() => openConfigValue(newDataKey(), ID, 'API_TOKEN', sealed)).toThrow(SecretUnreadable);
    expect(() => openConfigValue(dataKey, OTHER_ID, 'API_TOKEN', sealed)).toThrow(SecretUnreadable);
    expect(() => openConfigValue(dataKey, ID, 'OTHER_KEY', sealed)).toThrow(SecretUnreadable);
    expect(() => openConfigValue(dataKey, ID, 'API_TOKEN', 'plain')).toThrow(SecretUnreadable);
  });

  it('sealing the same value twice gives two ciphertexts (a fresh nonce each time)', () => {
    const dataKey = newDataKey();
    expect(sealConfigValue(dataKey, ID, 'A', 'v')).not.toBe(sealConfigValue(dataKey, ID, 'A', 'v'));
  });

  it('wraps a data key under a master key, bound to the installation', () => {
    const master = newDataKey();
    const dataKey = newDataKey();
    const wrapped = wrapDataKey(master, dataKey, ID);
    expect(unwrapDataKey(master, wrapped, ID).equals(dataKey)).toBe(true);
    expect(() => unwrapDataKey(newDataKey(), wrapped, ID)).toThrow(SecretUnreadable);
    expect(() => unwrapDataKey(master, wrapped, OTHER_ID)).toThrow(SecretUnreadable);
    expect(keyIdOf(master)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(master)).not.toBe(keyIdOf(dataKey));
  });

  it('accepts only base64 of 32 bytes as a master key, naming the variable but never echoing it', () => {
    const good = randomBytes(32).toString('base64');
    expect(decodeMasterKey(good)?.length).toBe(32);
    expect(decodeMasterKey(randomBytes(16).toString('base64'))).toBeUndefined();
    const problems: string[] = [];
    const settings = secretSettingsFrom({ SECRETS_MASTER_KEY: 'not-a-key!', NODE_ENV: 'production' }, problems);
    expect(settings.production).toBe(true);
    expect(problems).toEqual([expect.stringContaining('SECRETS_MASTER_KEY must be base64 of exactly 32 bytes')]);
    expect(problems.join()).not.toContain('not-a-key!');
  });
});

describe('which keys are secret, and what readers see', () => {
  it('takes writeOnly and format: password properties of the schema as secret', () => {
    const schema = { type: 'object', properties: { A: { type: 'string', writeOnly: true }, B: { format: 'password' }, C: { type: 'string' } } };
    expect([...schemaSecretKeys(schema)].sort()).toEqual(['A', 'B']);
    expect(schemaSecretKeys(null).size).toBe(0);
  });

  it('masks secret values and leaves token hashes out of the audit trail', () => {
    expect(maskedConfig({ A: 'sealed:v1:x', C: 'plain' }, ['A'])).toEqual({ A: '***', C: 'plain' });
    expect(redactedEventData('InstallRequested', { config: { A: 'sealed:v1:x', C: 'c' }, secret_keys: ['A'] })).toEqual({ config: { A: '***', C: 'c' }, secret_keys: ['A'] });
    expect(redactedEventData('DeployStarted', { generation: 1, token_hash: 'h' })).toEqual({ generation: 1 });
    expect(redactedEventData('UpgradeRequested', { to_version: '2.0.0' })).toEqual({ to_version: '2.0.0' });
  });
});

describe('config_schema', () => {
  it('refuses at publish what is not a JSON Schema (unknown type, unknown keyword, a pattern RE2 cannot run, deep nesting)', () => {
    const code = (schema: Record<string, unknown>) => {
      try {
        assertValidConfigSchema(schema);
        return 'accepted';
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    expect(code({ type: 'object', properties: { A: { type: 'string', pattern: '^[a-z]+$' } } })).toBe('accepted');
    expect(code({ type: 'objec' })).toBe('invalid_config_schema');
    expect(code({ type: 'object', frobnicate: true })).toBe('invalid_config_schema');
    expect(code({ properties: { A: { pattern: '(a+)+\\1' } } })).toBe('invalid_config_schema');
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { a: deep } };
    expect(code(deep)).toBe('invalid_config_schema');
  });

  it('matches a catastrophic-backtracking pattern in linear time (RE2)', () => {
    const schemas = new ConfigSchemas();
    const schema = { type: 'object', properties: { A: { type: 'string', pattern: '^(a+)+$' } } };
    const started = Date.now();
    const violations = schemas.violations('acme/x@1.0.0', schema, { A: `${'a'.repeat(50_000)}!` });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(violations).toEqual([expect.objectContaining({ field: '/A', constraint: 'pattern' })]);
  });

  it('coerces environment strings to the schema types and points at each violation', () => {
    const schemas = new ConfigSchemas();
    const schema = { type: 'object', properties: { N: { type: 'integer', minimum: 2 }, B: { type: 'boolean' } }, required: ['R'], additionalProperties: false };
    expect(schemas.violations('acme/x@2.0.0', schema, { N: '3', B: 'true', R: 'x' })).toEqual([expect.objectContaining({ field: '/R', constraint: 'additionalProperties' })]);
    const fields = schemas.violations('acme/x@2.0.0', schema, { N: '1', B: 'maybe' }).map((v) => `${v.field} ${v.constraint}`).sort();
    expect(fields).toEqual(['/B type', '/N minimum', '/R required']);
  });
});

describe('the installation decider records which config keys are sealed', () => {
  const install = (overrides: Partial<InstallProvider> = {}): InstallProvider => ({
    type: 'InstallProvider',
    installationId: ID,
    tenant: 'acme',
    prefix: 'acme',
    name: 'db',
    version: '1.0.0',
    resourceTier: 'standard',
    upgradePolicy: 'manual',
    config: { REGION: 'eu', API_TOKEN: 'sealed:v1:abc' },
    now: NOW,
    ...overrides,
  });
  const reconfigure = (changes: Omit<Reconfigure, 'type' | 'now'>): Reconfigure => ({ type: 'Reconfigure', ...changes, now: NOW });
  const installed = (secretKeys?: string[]): InstallRequested => ({
    type: 'InstallRequested',
    data: {
      installation_id: ID,
      tenant: 'acme',
      prefix: 'acme',
      name: 'db',
      version: '1.0.0',
      resource_tier: 'standard',
      upgrade_policy: 'manual',
      config: { REGION: 'eu', API_TOKEN: 'sealed:v1:abc' },
      generation: 1,
      at: NOW,
      ...(secretKeys ? { secret_keys: secretKeys } : {}),
    },
  });

  it('given nothing, when installing with sealed keys, then InstallRequested names them, sorted', () => {
    given(installationDecider).when(install({ secretKeys: ['ZED', 'API_TOKEN'] })).then([installed(['API_TOKEN', 'ZED'])]);
  });

  it('given nothing, when installing without sealed keys, then the event keeps its older shape', () => {
    given(installationDecider).when(install()).then([installed()]);
  });

  it('given an installation with a sealed key, when the same config and keys come again, then nothing happens', () => {
    given(installationDecider, [installed(['API_TOKEN'])])
      .when(reconfigure({ config: { REGION: 'eu', API_TOKEN: 'sealed:v1:abc' }, secretKeys: ['API_TOKEN'] }))
      .thenNothingHappens();
  });

  it('given an installation with a sealed key, when only the policy changes, then the sealed keys are carried over', () => {
    const state = given(installationDecider, [installed(['API_TOKEN'])]).when(reconfigure({ upgradePolicy: 'auto' })).thenState();
    expect(state).toMatchObject({ secretConfigKeys: ['API_TOKEN'], config: { API_TOKEN: 'sealed:v1:abc' }, generation: 1 });
  });

  it('given an installation with a sealed key, when the key becomes plain, then a new generation is deployed', () => {
    given(installationDecider, [installed(['API_TOKEN'])])
      .when(reconfigure({ config: { REGION: 'eu', API_TOKEN: 'sealed:v1:abc' }, secretKeys: [] }))
      .then([
        {
          type: 'InstallationReconfigured',
          data: { config: { REGION: 'eu', API_TOKEN: 'sealed:v1:abc' }, resource_tier: 'standard', upgrade_policy: 'manual', generation: 2, at: NOW },
        },
      ]);
  });
});
