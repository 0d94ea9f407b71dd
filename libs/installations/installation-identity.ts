import { ProviderId } from '../providers/provider-identity';

const INSTALLATION_STREAM_PREFIX = 'installation-';

export function installationStream(tenant: string, provider: ProviderId): string {
  return `${tenantInstallationsPrefix(tenant)}${provider.prefix}.${provider.name}`;
}

/** The prefix every one of a tenant's installation streams starts with (the dot ends the tenant). */
export function tenantInstallationsPrefix(tenant: string): string {
  return `${INSTALLATION_STREAM_PREFIX}${tenant}.`;
}

/** Tokens never contain dots, so the stream name splits back into its three parts. */
export function parseInstallationStream(streamName: string): { tenant: string; provider: ProviderId } | undefined {
  if (!streamName.startsWith(INSTALLATION_STREAM_PREFIX)) return undefined;
  const parts = streamName.slice(INSTALLATION_STREAM_PREFIX.length).split('.');
  if (parts.length !== 3) return undefined;
  return { tenant: parts[0], provider: { prefix: parts[1], name: parts[2] } };
}
