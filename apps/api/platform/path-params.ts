
import { DomainError } from '../../../libs/domain/domain-error';
import { ProviderId, TOKEN_PATTERN, canonicalOf } from '../../../libs/providers/provider-identity';

/** Path tokens that cannot name anything are a 404: no such provider can exist. */
export function providerFromPath(prefix: string, name: string): ProviderId {
  if (!TOKEN_PATTERN.test(prefix) || !TOKEN_PATTERN.test(name)) {
    throw new DomainError('not_found', 'provider_not_found', `Provider ${canonicalOf({ prefix, name })} does not exist.`);
  }
  return { prefix, name };
}

export interface Page {
  limit: number;
  offset: number;
}

/** `limit` 1–100 (default 20) and `offset` ≥ 0, or a 422 naming the bad one. */
export function pageOf(query: Record<string, unknown>, defaultLimit = 20): Page {
  const limit = intParam(query.limit, 'limit', 1, 100, defaultLimit);
  const offset = intParam(query.offset, 'offset', 0, 1_000_000_000, 0);
  return { limit, offset };
}

function intParam(raw: unknown, field: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const text: unknown = Array.isArray(raw) ? raw[0] : raw;
  if (typeof text !== 'string' || !/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new DomainError('invalid', 'validation_failed', `${field} must be an integer from ${min} to ${max}.`, [
      { field, constraint: 'range', message: `${field} must be an integer from ${min} to ${max}`, value_type: typeof text },
    ]);
  }
  return Number(text);
}

export function enumParam<T extends string>(raw: unknown, field: string, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  const text: unknown = Array.isArray(raw) ? raw[0] : raw;
  if (typeof text !== 'string' || !(allowed as readonly string[]).includes(text)) {
    throw new DomainError('invalid', 'validation_failed', `${field} must be one of ${allowed.join(', ')}.`, [
      { field, constraint: 'isEnum', message: `${field} must be one of ${allowed.join(', ')}`, value_type: typeof text },
    ]);
  }
  return text as T;
}

/**
 * A list-valued query parameter in either form clients send: repeated (`tags=a&tags=b`, what httpx
 * sends for a list) or comma-joined (`tags=a,b`), or both at once. Empty items are dropped.
 */
export function listParam(raw: unknown, field: string, maxItems: number): string[] {
  if (raw === undefined) return [];
  const parts: unknown[] = Array.isArray(raw) ? raw : [raw];
  if (!parts.every((part): part is string => typeof part === 'string')) {
    throw new DomainError('invalid', 'validation_failed', `${field} must be given as ${field}=a&${field}=b or ${field}=a,b.`, [
      { field, constraint: 'isList', message: `${field} must be repeated or comma-separated text`, value_type: typeof raw },
    ]);
  }
  const items = [...new Set(parts.flatMap((part) => part.split(',')).map((item) => item.trim()).filter(Boolean))];
  if (items.length > maxItems) {
    throw new DomainError('invalid', 'validation_failed', `${field} may name at most ${maxItems} values.`, [
      { field, constraint: 'arrayMaxSize', message: `${field} may name at most ${maxItems} values`, value_type: 'array' },
    ]);
  }
  return items;
}

/** `as_of` for time travel: an RFC 3339 timestamp, or undefined when absent. */
export function asOfParam(raw: unknown): Date | undefined {
  if (raw === undefined) return undefined;
  const instant = typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}T[^\s]{1,40}$/.test(raw) ? new Date(raw) : new Date(Number.NaN);
  if (Number.isNaN(instant.getTime())) {
    throw new DomainError('invalid', 'validation_failed', 'as_of must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z.', [
      { field: 'as_of', constraint: 'isRfc3339', message: 'as_of must be an RFC 3339 timestamp', value_type: typeof raw },
    ]);
  }
  return instant;
}
