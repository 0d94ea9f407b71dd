import { KEY_BYTES } from './envelope';

/** `SECRETS_MASTER_KEY`, `SECRETS_PREVIOUS_MASTER_KEY` (base64 of 32 bytes) and whether this is production. */
export interface SecretSettings {
  masterKey: string | undefined;
  previousMasterKey: string | undefined;
  production: boolean;
}

export function decodeMasterKey(base64: string): Buffer | undefined {
  const trimmed = base64.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const key = Buffer.from(trimmed, 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** Read from the environment; a malformed key is a configuration problem (named, never echoed). */
export function secretSettingsFrom(env: NodeJS.ProcessEnv, problems: string[]): SecretSettings {
  const read = (name: string): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    if (!decodeMasterKey(raw)) problems.push(`${name} must be base64 of exactly ${KEY_BYTES} bytes (e.g. \`openssl rand -base64 32\`)`);
    return raw;
  };
  return {
    masterKey: read('SECRETS_MASTER_KEY'),
    previousMasterKey: read('SECRETS_PREVIOUS_MASTER_KEY'),
    production: env.NODE_ENV === 'production',
  };
}
