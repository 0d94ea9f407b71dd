import { RecordedEvent } from '../libs/event-store/event-store.port';
import { parseInstallationStream } from '../libs/installations/installation-identity';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';

function providerOf(event: RecordedEvent): { prefix: string; name: string } | undefined {
  const id = parseInstallationStream(event.streamName);
  return id ? { prefix: id.provider.prefix, name: id.provider.name } : undefined;
}

/**
 * How many tenants have each provider installed, in a row of its own: an install used to rewrite the
 * catalog row, whose `versions` names every version ever published (tens of kilobytes for a provider
 * with a thousand), only to add one. A provider nobody has installed has no row (count 0).
 */
export const providerInstallCountsProjection: RowProjection = {
  name: 'provider-install-counts',
  eventTypes: ['InstallRequested', 'Uninstalled'],
  table: {
    name: 'provider_install_counts',
    key: ['prefix', 'name'],
    columns: {
      prefix: 'text',
      name: 'text',
      install_count: 'integer',
    },
  },
  keyOf: providerOf,
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    const provider = providerOf(event);
    if (!provider) return row;
    const count = Math.max(0, Number(row?.install_count ?? 0) + (event.type === 'InstallRequested' ? 1 : -1));
    return count === 0 ? null : { ...provider, install_count: count };
  },
};
