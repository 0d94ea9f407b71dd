import { invalid } from '../domain/domain-error';

/** Organisation and provider tokens share one pattern (API.md, Identity and auth). */
export const TOKEN_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const PLATFORM_PREFIX = 'platform';

export interface ProviderId {
  prefix: string;
  name: string;
}

export function canonicalOf(id: ProviderId): string {
  return `${id.prefix}/${id.name}`;
}

export function providerStream(id: ProviderId): string {
  return `provider-${id.prefix}.${id.name}`;
}

export const PROVIDER_STREAM_PREFIX = 'provider-';

/** Accepts `prefix/name`; throws `invalid_provider_name` for anything else. */
export function parseCanonical(text: string): ProviderId {
  const parts = text.split('/');
  if (parts.length !== 2 || !TOKEN_PATTERN.test(parts[0]) || !TOKEN_PATTERN.test(parts[1])) {
    throw invalid(
      'invalid_provider_name',
      `"${text}" is not a provider name: use "org/name" with lower-case letters, digits and dashes`,
    );
  }
  return { prefix: parts[0], name: parts[1] };
}
