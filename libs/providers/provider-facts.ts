import { Pool } from 'pg';
import { Aggregates, loadCurrent } from '../application/aggregates';
import { EMPTY_CATALOG, ProviderState, VersionState, isVersionState, providerDecider } from './provider.decider';
import { ProviderScope } from './provider.events';
import { ProviderId, providerStream } from './provider-identity';

/**
 * What an installation command, the installer or a rollout needs of a provider: whether it is listed
 * and to whom, the versions it names and the latest installable one — never every version it ever
 * had. The answer is a ProviderState holding at least those versions (all of them when folded).
 */
export interface ProviderFacts {
  /**
   * `installedBy`: a tenant whose installed version of the provider should be among the answer's
   * versions too, when the store can tell it without another round trip (an upgrade's answer needs the
   * version it leaves). Callers still check: the answer may lack it.
   */
  load(provider: ProviderId, versions: ReadonlyArray<string | null | undefined>, installedBy?: string): Promise<ProviderState>;
  /**
   * As `load`, for a command whose append can require the provider's stream unchanged
   * (`AppendOptions.unchanged`): with the stream revision the answer reflects, where the store can
   * tell it in the same read (the read models); then, with `remembered`, it may be an answer kept
   * from an earlier command, which only such an append may use.
   */
  loadForCommand(provider: ProviderId, versions: ReadonlyArray<string | null | undefined>, installedBy: string, options: { remembered: boolean }): Promise<RevisionedFacts>;
}

export interface RevisionedFacts {
  state: ProviderState;
  /** The provider stream's revision the answer reflects (-1: no stream); undefined when unknown. */
  revision?: number;
}

/** The provider's stream, folded from its snapshot: for stores whose read models are written after the append. */
export class FoldedProviderFacts implements ProviderFacts {
  constructor(private readonly aggregates: Pick<Aggregates, 'eventStore' | 'snapshots'>) {}

  async load(provider: ProviderId): Promise<ProviderState> {
    return (await loadCurrent(this.aggregates, providerDecider, providerStream(provider))).state;
  }

  /** No revision: EventStoreDB cannot check the provider's stream in another stream's append. */
  async loadForCommand(provider: ProviderId): Promise<RevisionedFacts> {
    return { state: await this.load(provider) };
  }
}

interface FactsRow {
  revision: string | null;
  owner_org: string;
  scope: ProviderScope;
  created_at: Date;
  updated_at: Date;
  versions: Record<string, VersionState>;
}

/**
 * From the catalog and provider_versions read models, by key, when the event store writes them in each
 * append's transaction (PostgreSQL inline projections): then they are exactly as current as the
 * provider's stream, and one indexed query replaces folding every version. Each version's
 * `version_state` is what the provider decider's own fold makes of that version's events.
 */
export class ReadModelProviderFacts implements ProviderFacts {
  /**
   * Providers' facts as commands last read them, by stream, with the stream's revision then: what
   * `loadForCommand` may answer with `remembered`, a guess the command's append checks. At most
   * REMEMBERED_PROVIDERS, the least recently read going first.
   */
  private readonly remembered = new Map<string, { revision: number; state: ListedProvider }>();

  constructor(
    private readonly pool: Pool,
    /**
     * Asked when the rows lack the provider or a version named: a mistaken name (a 404 to come) or
     * events some writer appended without the inline read models (a tool, a test). The stream decides.
     */
    private readonly fallback: Pick<ProviderFacts, 'load'>,
  ) {}

  async load(provider: ProviderId, versions: ReadonlyArray<string | null | undefined>, installedBy?: string): Promise<ProviderState> {
    return (await this.read(provider, versions, installedBy ?? null)).state;
  }

  async loadForCommand(provider: ProviderId, versions: ReadonlyArray<string | null | undefined>, installedBy: string, options: { remembered: boolean }): Promise<RevisionedFacts> {
    const stream = providerStream(provider);
    const known = options.remembered ? this.remembered.get(stream) : undefined;
    if (known && namedIn(known.state, versions)) return known;
    const read = await this.read(provider, versions, installedBy);
    if (read.revision !== undefined && read.state.status === 'listed') this.remember(stream, read.revision, read.state);
    return read;
  }

  private async read(provider: ProviderId, versions: ReadonlyArray<string | null | undefined>, installedBy: string | null): Promise<RevisionedFacts> {
    const named = versions.filter((v): v is string => typeof v === 'string');
    const found = await this.fromReadModels(provider, named, installedBy);
    if (found.state.status === 'listed' && namedIn(found.state, named)) return found;
    return { state: await this.fallback.load(provider, versions) };
  }

  /** Versions read at one revision are the same at that revision: they add to what is kept, unless the stream moved. */
  private remember(stream: string, revision: number, state: ListedProvider): void {
    const known = this.remembered.get(stream);
    this.remembered.delete(stream);
    const versions = known?.revision === revision ? { ...known.state.versions, ...state.versions } : state.versions;
    this.remembered.set(stream, { revision, state: { ...state, versions } });
    if (this.remembered.size > REMEMBERED_PROVIDERS) {
      const oldest = this.remembered.keys().next();
      if (!oldest.done) this.remembered.delete(oldest.value);
    }
  }

  private async fromReadModels(provider: ProviderId, named: readonly string[], installedBy: string | null): Promise<RevisionedFacts> {
    const { rows } = await this.pool.query<FactsRow>({
      name: 'provider_facts',
      // The stream's revision in the same statement, so in the same snapshot as the rows its events wrote.
      text: `SELECT (SELECT e.stream_revision FROM es_events e WHERE e.stream_name = $5 ORDER BY e.stream_revision DESC LIMIT 1)::text AS revision,
                    c.owner_org, c.scope, c.created_at, c.updated_at,
                    coalesce((SELECT jsonb_object_agg(v.version, v.version_state) FROM provider_versions v
                               WHERE v.prefix = c.prefix AND v.name = c.name
                                 AND (v.version = ANY($3::text[]) OR v.version = c.latest_version
                                      -- By the parameters, not the catalog row: evaluated once, not per version.
                                      OR v.version = (SELECT i.installed_version FROM installed_providers i
                                                       WHERE i.tenant = $4 AND i.prefix = $1 AND i.name = $2))), '{}'::jsonb) AS versions
               FROM catalog_providers c WHERE c.prefix = $1 AND c.name = $2`,
      values: [provider.prefix, provider.name, named, installedBy, providerStream(provider)],
    });
    const row = rows[0];
    if (!row) return { state: { status: 'unknown' } };
    return {
      revision: row.revision === null ? undefined : Number(row.revision),
      state: {
        status: 'listed',
        prefix: provider.prefix,
        name: provider.name,
        ownerOrg: row.owner_org,
        // Only the scope decides an install; the rest of the catalog entry is the catalog's business.
        catalog: { ...EMPTY_CATALOG, scope: row.scope },
        versions: row.versions,
        createdAt: row.created_at.toISOString(),
        updatedAt: row.updated_at.toISOString(),
      },
    };
  }
}

/** How many providers' facts `ReadModelProviderFacts` keeps for commands. */
const REMEMBERED_PROVIDERS = 1000;

type ListedProvider = Exclude<ProviderState, { status: 'unknown' }>;

function namedIn(state: ListedProvider, versions: ReadonlyArray<string | null | undefined>): boolean {
  return versions.every((v) => typeof v !== 'string' || isVersionState(state.versions[v]));
}

/** The read models when the store writes both inline, else the folded stream. */
export function providerFactsFor(aggregates: Pick<Aggregates, 'eventStore' | 'snapshots'>, pool: Pool): ProviderFacts {
  const inline = aggregates.eventStore.inlineProjections ?? [];
  const folded = new FoldedProviderFacts(aggregates);
  return inline.includes('catalog') && inline.includes('provider-versions') ? new ReadModelProviderFacts(pool, folded) : folded;
}
