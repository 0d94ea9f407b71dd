import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { runCommand } from '../../libs/application/command-runner';
import { issueApiKey } from '../../libs/api-keys/api-key-secret';
import { ApiKeyScope, apiKeyDecider, apiKeyStream } from '../../libs/api-keys/api-key';
import { EventStore } from '../../libs/event-store/event-store.port';

/**
 * Issues an API key through its event (as the CLI does) and waits until the running api-keys
 * projection has made it usable. For tests and benchmarks that run the projections in-process.
 */
export async function createKeyAndWait(
  store: EventStore,
  pool: Pool,
  org: string,
  scopes: ApiKeyScope[],
  options: { platformAdmin?: boolean; createdBy: string },
): Promise<string> {
  const issued = issueApiKey();
  const now = new Date().toISOString();
  await runCommand(
    store,
    apiKeyDecider,
    apiKeyStream(issued.keyId),
    { type: 'CreateApiKey', key_id: issued.keyId, org, scopes, platform_admin: options.platformAdmin ?? false, secret_hash: issued.secretHash, label: null, created_by: options.createdBy, now },
    { actor: options.createdBy, correlationId: randomUUID(), idempotencyScope: options.createdBy, now },
  );
  for (let i = 0; i < 400; i++) {
    const { rowCount } = await pool.query('SELECT 1 FROM api_keys WHERE key_id = $1', [issued.keyId]);
    if (rowCount) return issued.key;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('api-keys projection did not pick up the new key');
}
