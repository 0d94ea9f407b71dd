import { UnauthorizedException } from '@nestjs/common';
import { parseApiKey, secretMatches } from '../../../libs/api-keys/api-key-secret';
import { ArtifactRequester } from '../../../libs/artifacts/get-artifact.query';
import { ApiKeyDirectory } from '../auth/api-key-directory';

export const INSTALLATION_HEADER = 'x-installation-id';
export const GENERATION_HEADER = 'x-generation';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_CREDENTIALS = 'Send an API key, or a runtime\'s registration token with X-Installation-Id and X-Generation, as "Authorization: Bearer <…>".';
const INVALID = () => new UnauthorizedException({ code: 'unauthorized', message: 'The credentials are invalid or revoked.' });

/**
 * Who is asking, from the request's headers. The artifacts route serves runtimes as well as API
 * keys, and a registration token is no API key, so the route is public to the key guard and the
 * key is checked here, the same way: found in its own stream, secret compared in constant time.
 * A runtime names its installation and generation in headers; its token is checked by the query.
 */
export async function requesterOf(
  directory: ApiKeyDirectory,
  headers: { authorization?: string; installationId?: string; generation?: string },
): Promise<ArtifactRequester> {
  const token = headers.authorization?.startsWith('Bearer ') ? headers.authorization.slice(7).trim() : undefined;
  if (!token) throw new UnauthorizedException({ code: 'unauthorized', message: NO_CREDENTIALS });
  if (headers.installationId !== undefined) {
    const generation = Number(headers.generation);
    // Checked here, not by the database: a malformed id must be a 401, never a failed query.
    if (!UUID.test(headers.installationId) || !Number.isInteger(generation) || generation < 1 || generation > 2 ** 31 - 1) throw INVALID();
    return { kind: 'runtime', credentials: { installationId: headers.installationId, generation, token } };
  }
  const parsed = parseApiKey(token);
  const record = parsed ? await directory.find(parsed.keyId) : null;
  if (!parsed || !record || record.revoked || !secretMatches(parsed.secret, record.secretHash)) throw INVALID();
  return { kind: 'api-key', organizationId: record.org, platformAdmin: record.platformAdmin };
}
