import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { Decider, fold } from '../domain/decider';
import { DomainError, conflict } from '../domain/domain-error';
import { schemaVersionOf, upcast } from '../domain/upcasters';
import { AppendOptions, DuplicateEventIds, EventMetadata, EventStore, NewEvent, RecordedEvent, WrongExpectedRevision } from '../event-store/event-store.port';
import { Position } from '../event-store/position';
import { DomainEvent, eventsOf } from './stream-state';
import { inSpan, traceContextMetadata } from '../observability/tracing';
import { Aggregates, isAggregates, loadCurrent } from './aggregates';
import { IdempotencyRecord } from './idempotency-index';
import { LoadedAggregate, refreshSnapshotIfDue } from './snapshot-loader';

/** Who and why: becomes every new event's metadata. */
export interface CommandContext {
  actor: string;
  correlationId: string;
  causationId?: string | null;
  /**
   * Scope of idempotency keys: one key, one effect, per scope. A tenant's is its organisation id; the
   * platform's components use the `internal:` scopes of `idempotency-scopes.ts`.
   */
  idempotencyScope: string;
  idempotencyKey?: string | null;
  /** Hash of the request body, so a reused key with another body can be refused. */
  requestHash?: string | null;
  /** From `If-Match`: the stream revision the caller last saw. */
  expectedRevision?: number;
  now: string;
}

export interface CommandOutcome<State> {
  state: State;
  /** Revision of the stream's last event, -1 for an empty stream. */
  revision: number;
  position: Position | undefined;
  appended: number;
  /** True when this is a retry of an idempotent request that had already been applied. */
  replayed: boolean;
  /**
   * The aggregate after this command's events, when it appended some and was given `Aggregates`: where
   * the next command on the stream can start instead of loading it (see AggregateCache).
   */
  aggregate?: LoadedAggregate<State>;
}

const IDEMPOTENCY_NAMESPACE = '4f1c3a52-7d0e-4f8a-9b55-2f6d3b1e9c10';

/**
 * The one command-handling path: load the aggregate, decide, append with the revision that was read,
 * and answer from the state after the new events, never from a read model. A concurrent writer
 * surfaces as a 409; an idempotent retry returns the state its first attempt produced and appends
 * nothing, because its event ids are derived from the key and were stored the first time.
 *
 * Given `Aggregates`, the load starts from the stream's snapshot and a keyed request is looked up in
 * the idempotency index, so the cost does not grow with the stream's history. Given only an event
 * store (tests, tools), the whole stream is read and scanned.
 */
export async function runCommand<Command, State, Event extends DomainEvent>(
  target: Aggregates | EventStore,
  decider: Decider<Command, State, Event>,
  streamName: string,
  command: Command,
  context: CommandContext,
  /** The aggregate as the caller has just loaded it from `target` (to build the command), so it is not loaded twice. */
  justLoaded?: LoadedAggregate<State>,
  /** What the append must also hold to (other streams the command was built on: `AppendOptions.unchanged`). */
  appendOptions?: AppendOptions,
): Promise<CommandOutcome<State>> {
  if (!isAggregates(target)) return runOnWholeStream(target, decider, streamName, command, context);
  const key = context.idempotencyKey ?? null;
  if (key) {
    const first = await target.idempotency.find(context.idempotencyScope, key);
    if (first) return replayFromIndex(target, decider, streamName, first, context);
  }
  const loaded = justLoaded ?? (await loadCurrent(target, decider, streamName));
  // Not in the index but among the events just read: a record the store had not written yet
  // (EventStoreDB: a process that stopped between its append and the record).
  const inTail = key ? loaded.tail.filter((e) => writtenUnderKey(e, key, context)) : [];
  if (key && inTail.length > 0) {
    const record = recordOf(streamName, context, key, inTail[0].revision, inTail[inTail.length - 1].revision, inTail[0].metadata.request_hash ?? null);
    recordKey(target, record);
    return replayFromIndex(target, decider, streamName, record, context);
  }
  try {
    const { outcome, lastEventId } = await decideAndAppend(target.eventStore, decider, streamName, command, context, loaded, appendOptions);
    if (key && outcome.appended > 0 && !target.eventStore.recordsIdempotencyKeys) {
      recordKey(target, recordOf(streamName, context, key, outcome.revision - outcome.appended + 1, outcome.revision, context.requestHash ?? null));
    }
    if (!lastEventId) return outcome;
    const occurredUntil = loaded.occurredUntil !== null && loaded.occurredUntil > context.now ? loaded.occurredUntil : context.now;
    const aggregate = { ...loaded, state: outcome.state, revision: outcome.revision, lastEventId, position: outcome.position, occurredUntil, tail: [] };
    if (decider.snapshot && refreshSnapshotIfDue(target.snapshots, decider.snapshot, streamName, aggregate, (e) => target.onBackgroundError(e))) {
      aggregate.snapshotRevision = aggregate.revision;
    }
    return { ...outcome, aggregate };
  } catch (error) {
    if (!key || !isAppendConflict(error)) throw error;
    // The key's events may stand before the snapshot with no record in the index: written before the
    // index existed, or older than its retention. Their ids collided, so the stream says what the first
    // attempt did; this slow path runs only on such a collision.
    const recorded = (await target.eventStore.readStream(streamName)).map(upcast);
    const replay = replayOf(decider, recorded, key, context);
    if (!replay) throw error;
    const firstRevision = recorded.findIndex((e) => writtenUnderKey(e, key, context));
    recordKey(target, recordOf(streamName, context, key, firstRevision, replay.revision, recorded[firstRevision].metadata.request_hash ?? null));
    return replay;
  }
}

/** A 409 from the append itself (another writer at the same revision, or event ids already used). */
function isAppendConflict(error: unknown): boolean {
  return error instanceof DomainError && (error.code === 'concurrent_modification' || error.code === 'idempotency_key_reused');
}

/** Without snapshots or an index: the whole stream is read, scanned for the key and folded. */
async function runOnWholeStream<Command, State, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<Command, State, Event>,
  streamName: string,
  command: Command,
  context: CommandContext,
): Promise<CommandOutcome<State>> {
  const recorded = (await store.readStream(streamName)).map(upcast);
  const key = context.idempotencyKey ?? null;
  if (key) {
    const replay = replayOf(decider, recorded, key, context);
    if (replay) return replay;
  }
  const revision = recorded.length - 1;
  const loaded = { state: fold(decider, eventsOf<Event>(recorded)), revision, position: recorded[revision]?.position };
  const { outcome } = await decideAndAppend(store, decider, streamName, command, context, loaded);
  return outcome;
}

/** The first attempt's answer, from its record: the stream as it stood after the attempt's last event. */
async function replayFromIndex<Command, State, Event extends DomainEvent>(
  aggregates: Aggregates,
  decider: Decider<Command, State, Event>,
  streamName: string,
  first: IdempotencyRecord,
  context: CommandContext,
): Promise<CommandOutcome<State>> {
  if (first.streamName !== streamName) {
    throw conflict('idempotency_key_reused', `Idempotency-Key "${first.key}" was already used for a different request.`);
  }
  if (first.requestHash !== (context.requestHash ?? null)) {
    throw conflict('idempotency_key_reused', `Idempotency-Key "${first.key}" was already used with a different request body.`);
  }
  const then = await loadCurrent(aggregates, decider, streamName, first.lastRevision);
  return { state: then.state, revision: then.revision, position: then.position, appended: 0, replayed: true };
}

/** The record of a key's first attempt: `requestHash` is that attempt's, as its events carry it. */
function recordOf(streamName: string, context: CommandContext, key: string, firstRevision: number, lastRevision: number, requestHash: string | null): IdempotencyRecord {
  return { scope: context.idempotencyScope, key, streamName, firstRevision, lastRevision, requestHash };
}

/** Not awaited: should it fail, a retry finds the events by their ids instead (see `runCommand`). */
function recordKey(aggregates: Aggregates, record: IdempotencyRecord): void {
  aggregates.idempotency.record(record).catch((e: unknown) => aggregates.onBackgroundError(e));
}

/** Checks `If-Match`, decides, and appends with the revision that was read. */
async function decideAndAppend<Command, State, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<Command, State, Event>,
  streamName: string,
  command: Command,
  context: CommandContext,
  loaded: { state: State; revision: number; position: Position | undefined },
  appendOptions?: AppendOptions,
): Promise<{ outcome: CommandOutcome<State>; lastEventId: string | null }> {
  const { state, revision } = loaded;
  if (context.expectedRevision !== undefined && context.expectedRevision !== revision) {
    throw new DomainError(
      'precondition_failed',
      'revision_mismatch',
      `If-Match names revision ${context.expectedRevision}, but the resource is at revision ${revision}; fetch it again and retry.`,
    );
  }

  const decided = decider.decide(command, state);
  if (decided.length === 0) {
    return { outcome: { state, revision, position: loaded.position, appended: 0, replayed: false }, lastEventId: null };
  }

  const events = newEvents(decided, context);
  const key = context.idempotencyKey ?? null;
  try {
    const result = await inSpan('event-store append', { attributes: { 'provider_store.stream': streamName } }, () =>
      store.append(streamName, events, revision === -1 ? 'no_stream' : revision, appendOptions),
    );
    const outcome = {
      state: decided.reduce((folded, event) => decider.evolve(folded, event), state),
      revision: result.nextExpectedRevision,
      position: result.position,
      appended: events.length,
      replayed: false,
    };
    return { outcome, lastEventId: events[events.length - 1].id };
  } catch (error) {
    if (error instanceof WrongExpectedRevision) {
      throw conflict('concurrent_modification', 'Another request changed this resource at the same moment; fetch it again and retry.');
    }
    if (error instanceof DuplicateEventIds) {
      throw conflict('idempotency_key_reused', `Idempotency-Key "${key}" was already used for a different request.`);
    }
    throw error;
  }
}

/**
 * With a key, each event's id derives from scope, key and index, so a retry that slipped past the
 * replay check (a concurrent duplicate) collides in the store instead of appending twice.
 */
function newEvents(decided: readonly DomainEvent[], context: CommandContext): NewEvent[] {
  const key = context.idempotencyKey ?? null;
  return decided.map((event, index) => {
    const metadata: ScopedMetadata = {
      schema_version: schemaVersionOf(event.type),
      correlation_id: context.correlationId,
      causation_id: context.causationId ?? null,
      actor: context.actor,
      occurred_at: context.now,
      idempotency_key: key,
      idempotency_scope: key ? context.idempotencyScope : null,
      request_hash: context.requestHash ?? null,
      // The request's trace, continued by whichever consumer handles the event.
      ...traceContextMetadata(),
    };
    return {
      id: key ? uuidv5(`${context.idempotencyScope}\u0000${key}\u0000${index}`, IDEMPOTENCY_NAMESPACE) : randomUUID(),
      type: event.type,
      data: event.data,
      metadata,
    };
  });
}

/** Event metadata as the runner writes it: the key's scope beside the key. */
interface ScopedMetadata extends EventMetadata {
  idempotency_scope: string | null;
}

function scopeOf(metadata: EventMetadata): string | null {
  return 'idempotency_scope' in metadata && typeof metadata.idempotency_scope === 'string' ? metadata.idempotency_scope : null;
}

/**
 * Whether `event` was written under this context's key. The scope must match too: a tenant who sends
 * the installer's own key (they are guessable) must neither replay nor block the installer's append.
 * Events written before scopes were stored carry none; for those the actor stands in for the scope,
 * since an actor (an API key, the installer, one runtime) always wrote within a single scope, so a
 * match on it cannot cross from one scope into another.
 */
function writtenUnderKey(event: RecordedEvent, key: string, context: CommandContext): boolean {
  if (event.metadata.idempotency_key !== key) return false;
  const scope = scopeOf(event.metadata);
  return scope !== null ? scope === context.idempotencyScope : event.metadata.actor === context.actor;
}

function replayOf<Command, State, Event extends DomainEvent>(
  decider: Decider<Command, State, Event>,
  recorded: RecordedEvent[],
  key: string,
  context: CommandContext,
): CommandOutcome<State> | undefined {
  const first = recorded.findIndex((e) => writtenUnderKey(e, key, context));
  if (first === -1) return undefined;
  if ((recorded[first].metadata.request_hash ?? null) !== (context.requestHash ?? null)) {
    throw conflict('idempotency_key_reused', `Idempotency-Key "${key}" was already used with a different request body.`);
  }
  let last = first;
  while (last + 1 < recorded.length && writtenUnderKey(recorded[last + 1], key, context)) last++;
  return {
    state: fold(decider, eventsOf<Event>(recorded.slice(0, last + 1))),
    revision: last,
    position: recorded[last].position,
    appended: 0,
    replayed: true,
  };
}
