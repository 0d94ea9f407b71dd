import { DomainError, invalid } from '../domain/domain-error';

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

/** `org/name`, `platform/name`, or a legacy short name together with `organization_id` (publishing only). */
export function resolveProviderName(name: string, organizationId: string | null | undefined): ProviderId {
  const parts = name.split('/');
  const id = parts.length === 2 ? { prefix: parts[0], name: parts[1] } : parts.length === 1 && organizationId ? { prefix: organizationId, name } : undefined;
  if (!id || !TOKEN_PATTERN.test(id.prefix) || !TOKEN_PATTERN.test(id.name)) {
    throw new DomainError('invalid', 'invalid_provider_name', `"${name}" is not a provider name: send "org/name" (lower-case letters, digits, dashes), or a short name together with organization_id.`, [
      { field: 'name', constraint: 'providerName', message: 'must be org/name or a short name with organization_id', value_type: 'string' },
    ]);
  }
  return id;
}
