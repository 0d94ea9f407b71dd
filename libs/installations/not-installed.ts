import { DomainError, notFound } from '../domain/domain-error';
import { ProviderId, canonicalOf } from '../providers/provider-identity';

/**
 * The one "not installed" answer (404). Another organisation's installation gets it too, so that
 * existence does not leak. The decider knows no provider name for an absent installation: it omits it.
 */
export function notInstalled(provider?: ProviderId, asOf?: Date): DomainError {
  const subject = provider ? canonicalOf(provider) : 'The provider';
  return notFound('not_installed', asOf ? `${subject} was not installed at ${asOf.toISOString()}.` : `${subject} is not installed.`);
}
