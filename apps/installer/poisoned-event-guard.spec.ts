import pino from 'pino';
import { EventStore, RecordedEvent } from '../../libs/event-store/event-store.port';
import { Deactivated, PoisonedEventGuard } from './poisoned-event-guard';
import { Reaction, SpentAttempts } from './reaction';

const EVENT: RecordedEvent = {
  id: '00000000-0000-4000-8000-000000000001',
  type: 'InstallRequested',
  data: { generation: 1 },
  metadata: { schema_version: 1, correlation_id: 'c', causation_id: null, actor: 'tenant', occurred_at: '2026-01-01T00:00:00.000Z' },
  streamName: 'installation-t.acme.db',
  revision: 0,
  position: { commit: 1n, prepare: 1n },
};

/** Only `headPosition` matters to the guard: whether the store answers. */
function storeThat(answers: () => boolean): EventStore {
  const unused = () => Promise.reject(new Error('not used by the guard'));
  return {
    headPosition: () => (answers() ? Promise.resolve(undefined) : Promise.reject(new Error('connection refused'))),
    append: unused,
    readStream: unused,
    readStreams: unused,
    readAll: unused,
    subscribeToAll: () => {
      throw new Error('not used by the guard');
    },
    close: () => Promise.resolve(),
  };
}

class ScriptedReaction implements Reaction<RecordedEvent> {
  attempts = 0;
  readonly givenUp: SpentAttempts[] = [];

  constructor(
    private readonly failFirst: number,
    private readonly giveUpFails = false,
  ) {}

  async react(): Promise<void> {
    this.attempts++;
    if (this.attempts <= this.failFirst) throw new Error(`refused #${this.attempts}`);
  }

  async giveUp(_event: RecordedEvent, spent: SpentAttempts): Promise<void> {
    if (this.giveUpFails) throw new Error('the record was refused too');
    this.givenUp.push(spent);
  }
}

const logger = pino({ level: 'silent' });
const direct = (work: () => Promise<void>) => work();
const guardWith = (store: EventStore, maxAttempts = 3) => new PoisonedEventGuard(store, logger, { maxAttempts, retryBaseMs: 1 });

describe('PoisonedEventGuard', () => {
  it('given an effect that fails once, when handled, then it is tried again and nothing is given up', async () => {
    const reaction = new ScriptedReaction(1);
    await guardWith(storeThat(() => true)).handle(EVENT, reaction, direct);
    expect(reaction.attempts).toBe(2);
    expect(reaction.givenUp).toEqual([]);
  });

  it('given an effect that always fails, when handled, then after the last attempt its failure is given up with the last reason', async () => {
    const reaction = new ScriptedReaction(Infinity);
    await guardWith(storeThat(() => true)).handle(EVENT, reaction, direct);
    expect(reaction.attempts).toBe(3);
    expect(reaction.givenUp).toEqual([{ attempts: 3, reason: 'refused #3' }]);
  });

  it('given a store that does not answer, when the effect fails, then the event is redelivered: nothing counted, nothing given up', async () => {
    const reaction = new ScriptedReaction(Infinity);
    await expect(guardWith(storeThat(() => false)).handle(EVENT, reaction, direct)).rejects.toThrow('refused #1');
    expect(reaction.attempts).toBe(1);
    expect(reaction.givenUp).toEqual([]);
  });

  it('given a failure that cannot be recorded either while the store answers, when handled, then the event is passed', async () => {
    const reaction = new ScriptedReaction(Infinity, true);
    await expect(guardWith(storeThat(() => true)).handle(EVENT, reaction, direct)).resolves.toBeUndefined();
    expect(reaction.attempts).toBe(3);
  });

  it('given a failure that cannot be recorded while the store is down, when handled, then the event is redelivered', async () => {
    let answers = true;
    const reaction = new ScriptedReaction(Infinity, true);
    const exclusively = async (work: () => Promise<void>) => {
      // The store goes away between the last attempt and the record of its failure.
      if (reaction.attempts === 3) answers = false;
      await work();
    };
    await expect(guardWith(storeThat(() => answers)).handle(EVENT, reaction, exclusively)).rejects.toThrow('the record was refused too');
  });

  it('given a replica losing its lock while an effect waits to be tried again, then the wait ends with Deactivated', async () => {
    const guard = new PoisonedEventGuard(storeThat(() => true), logger, { maxAttempts: 5, retryBaseMs: 60_000 });
    const handled = guard.handle(EVENT, new ScriptedReaction(Infinity), direct);
    await new Promise((resolve) => setTimeout(resolve, 20));
    guard.abortPauses();
    await expect(handled).rejects.toBeInstanceOf(Deactivated);
  });
});
