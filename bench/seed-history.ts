import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { DomainEvent } from '../libs/application/stream-state';
import { Decider } from '../libs/domain/decider';
import { schemaVersionOf } from '../libs/domain/upcasters';
import { CheckpointStore } from '../libs/event-store/consumers/checkpoint-store';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { InstallationCommand } from '../libs/installations/installation.commands';
import { installationDecider } from '../libs/installations/installation.decider';
import { installationStream } from '../libs/installations/installation-identity';
import { copyField, copyIn } from '../libs/projection-engine/copy-in';
import { rebuildProjection } from '../libs/projection-engine/rebuild';
import { ProviderCommand } from '../libs/providers/provider.commands';
import { providerDecider } from '../libs/providers/provider.decider';
import { ProviderId, providerStream } from '../libs/providers/provider-identity';
import { PROJECTIONS } from '../projections/projections';

/**
 * Long histories for the history benchmarks, written with COPY straight into es_events. The events
 * are the deciders' own: each stream's commands go through `decide` and `evolve` here, so every
 * seeded event has the shape and sequence the command path would have appended, and the API folds
 * them as it folds its own.
 */

/** One stream to seed: its name and the commands that make its history. */
export interface SeededStream<Command> {
  stream: string;
  commands: Iterable<Command>;
}

const BASE_TIME = Date.parse('2026-01-01T00:00:00Z');
/** Seconds between two seeded events of one stream (only their order matters). */
const at = (i: number) => new Date(BASE_TIME + i * 1000).toISOString();
const LINES_PER_CHUNK = 1000;

/** The events `commands` decide, one after the other, each against the state the previous ones left. */
function* decided<Command, State, Event extends DomainEvent>(decider: Decider<Command, State, Event>, commands: Iterable<Command>): Generator<Event> {
  let state = decider.initialState;
  for (const command of commands) {
    for (const event of decider.decide(command, state)) {
      state = decider.evolve(state, event);
      yield event;
    }
  }
}

/** The stream's events as COPY text lines, with the metadata the command runner writes (no idempotency key). */
function* copyChunks<Command, State, Event extends DomainEvent>(decider: Decider<Command, State, Event>, streams: Iterable<SeededStream<Command>>): Generator<string> {
  let lines: string[] = [];
  for (const { stream, commands } of streams) {
    let revision = 0;
    for (const event of decided(decider, commands)) {
      const metadata = {
        schema_version: schemaVersionOf(event.type),
        correlation_id: randomUUID(),
        causation_id: null,
        actor: 'bench',
        occurred_at: at(revision),
        idempotency_key: null,
        idempotency_scope: null,
        request_hash: null,
      };
      lines.push([stream, revision++, randomUUID(), event.type, JSON.stringify(event.data), JSON.stringify(metadata)].map(copyField).join('\t') + '\n');
      if (lines.length === LINES_PER_CHUNK) {
        yield lines.join('');
        lines = [];
      }
    }
  }
  if (lines.length > 0) yield lines.join('');
}

const COLUMNS = ['stream_name', 'stream_revision', 'event_id', 'event_type', 'data', 'metadata'];

/** Copies the streams' decided events into es_events, one COPY (one transaction) per decider. */
export async function seedStreams(
  url: string,
  providers: ReadonlyArray<SeededStream<ProviderCommand>>,
  installations: ReadonlyArray<SeededStream<InstallationCommand>>,
): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await copyIn(client, 'es_events', COLUMNS, copyChunks(providerDecider, providers));
    await copyIn(client, 'es_events', COLUMNS, copyChunks(installationDecider, installations));
    await client.query('ANALYZE es_events');
  } finally {
    await client.end();
  }
}

/** Versions `1.0.0` … `1.0.{count-1}`: the last is the latest installable. */
export const versionOf = (i: number) => `1.0.${i}`;

/** A public provider with `count` published versions, as `POST /providers` would publish them one by one. */
export function providerHistory(provider: ProviderId, count: number): SeededStream<ProviderCommand> {
  function* commands(): Generator<ProviderCommand> {
    for (let i = 0; i < count; i++) {
      const version = versionOf(i);
      yield {
        type: 'PublishVersion',
        provider,
        publisher: { organizationId: provider.prefix, platformAdmin: false },
        version,
        runtimeVersion: '1.0.0',
        wheelUrl: `https://files.example.com/${provider.prefix}_${provider.name}-${version}-py3-none-any.whl`,
        wheelSha256: 'ab'.repeat(32),
        packageName: `${provider.prefix}_${provider.name}`,
        entrypoint: null,
        schemas: [{ resource_type: 'db', schema: { type: 'object', properties: { size: { type: 'integer' }, engine: { type: 'string' } } } }],
        configSchema: null,
        outputsSchema: null,
        changelog: `release ${version}`,
        metadata: { display_name: `${provider.prefix}/${provider.name}`, description: 'history benchmark provider', tags: ['db'] },
        now: at(i),
      };
    }
  }
  return { stream: providerStream(provider), commands: commands() };
}

/**
 * `tenant`'s installation of `provider` holding `events` events: the install of `from`, then
 * upgrades to `to` and downgrades back, alternating (one event each: the installer is not involved,
 * so there are no deploy events). `installedVersionAfter` says where it ends.
 */
export function installationHistory(tenant: string, provider: ProviderId, events: number, from: string, to: string): SeededStream<InstallationCommand> {
  function* commands(): Generator<InstallationCommand> {
    yield {
      type: 'InstallProvider',
      installationId: randomUUID(),
      tenant,
      prefix: provider.prefix,
      name: provider.name,
      version: from,
      resourceTier: 'standard',
      upgradePolicy: 'manual',
      config: { replicas: '2', region: 'eu-west-1' },
      now: at(0),
    };
    for (let i = 1; i < events; i++) {
      const up = i % 2 === 1;
      yield { type: 'ChangeVersion', direction: up ? 'up' : 'down', targetVersion: up ? to : from, reason: 'manual', targetYanked: false, now: at(i) };
    }
  }
  return { stream: installationStream(tenant, provider), commands: commands() };
}

/** The version an `installationHistory` of `events` events leaves installed. */
export function installedVersionAfter(events: number, from: string, to: string): string {
  return events % 2 === 0 ? to : from;
}

/** Rebuilds every read model from the log, as `projections rebuild all` does, so the API sees what COPY wrote. */
export async function rebuildReadModels(pool: Pool): Promise<void> {
  const eventStore = new PostgresEventStore(pool);
  try {
    for (const projection of PROJECTIONS) await rebuildProjection({ pool, eventStore, checkpoints: new CheckpointStore(pool) }, projection);
  } finally {
    await eventStore.close();
  }
}
