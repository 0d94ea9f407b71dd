import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { InstallationQueues } from './installation-queues';

const METADATA = { schema_version: 1, correlation_id: 'c', causation_id: null, actor: 'test', occurred_at: '2024-03-01T09:00:00.000Z' };
const event = (n: number, stream: string): RecordedEvent => ({
  id: `e${n}`,
  streamName: stream,
  type: 'X',
  data: {},
  metadata: METADATA,
  revision: n,
  position: { commit: BigInt(n), prepare: BigInt(n) },
});

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('installation queues', () => {
  function harness(options: { concurrency?: number; hang?: string } = {}) {
    const ran: string[] = [];
    const saved: Position[] = [];
    let release: () => void = () => undefined;
    const hung = new Promise<void>((resolve) => (release = resolve));
    const queues = new InstallationQueues({
      run: async (e) => {
        if (e.streamName === options.hang) await hung;
        ran.push(e.id);
      },
      retryable: () => false,
      retryBaseMs: 1,
      save: async (position) => void saved.push(position),
      concurrency: options.concurrency ?? 4,
      maxOutstanding: 100,
    });
    return { queues, ran, saved, release };
  }

  it('runs each installation in log order', async () => {
    const { queues, ran } = harness();
    await queues.enqueue([event(1, 'a'), event(2, 'b'), event(3, 'a'), event(4, 'a')]);
    await tick();
    expect(ran.filter((id) => ['e1', 'e3', 'e4'].includes(id))).toEqual(['e1', 'e3', 'e4']);
  });

  it('takes the next events while one installation hangs, and runs the others', async () => {
    const { queues, ran, release } = harness({ hang: 'slow' });
    await queues.enqueue([event(1, 'slow'), event(2, 'b')]);
    await queues.enqueue([event(3, 'c'), event(4, 'slow')]);
    await tick();
    expect(ran).toEqual(['e2', 'e3']);
    release();
    await tick();
    expect(ran).toEqual(['e2', 'e3', 'e1', 'e4']);
  });

  it('the checkpoint stays before the lowest unfinished event', async () => {
    const { queues, saved, release } = harness({ hang: 'slow' });
    await queues.enqueue([event(1, 'a'), event(2, 'slow'), event(3, 'b')]);
    await tick();
    expect(saved.map((p) => Number(p.commit))).toEqual([1]);
    release();
    await tick();
    expect(Number(saved[saved.length - 1].commit)).toBe(3);
  });

  it('a hanging installation takes one slot only', async () => {
    const { queues, ran, release } = harness({ concurrency: 2, hang: 'slow' });
    await queues.enqueue([event(1, 'slow'), event(2, 'b'), event(3, 'c'), event(4, 'd')]);
    await tick();
    expect(ran).toEqual(['e2', 'e3', 'e4']);
    release();
  });

  it('an effect that must not be retried fails the next enqueue (the runner redelivers from the checkpoint)', async () => {
    const queues = new InstallationQueues({
      run: async () => {
        throw new Error('deactivated');
      },
      retryable: () => false,
      retryBaseMs: 1,
      save: async () => undefined,
      concurrency: 1,
      maxOutstanding: 10,
    });
    await queues.enqueue([event(1, 'a')]);
    await tick();
    await expect(queues.enqueue([event(2, 'b')])).rejects.toThrow('deactivated');
    queues.reset();
    await expect(queues.enqueue([])).resolves.toBeUndefined();
  });

  it('an effect that fails while the store is away is tried again in place', async () => {
    let calls = 0;
    const queues = new InstallationQueues({
      run: async () => {
        if (++calls < 3) throw new Error('store away');
      },
      retryable: () => true,
      retryBaseMs: 1,
      save: async () => undefined,
      concurrency: 1,
      maxOutstanding: 10,
    });
    await queues.enqueue([event(1, 'a')]);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(3);
  });
});
