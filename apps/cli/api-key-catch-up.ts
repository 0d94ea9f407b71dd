import type { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { apiKeysProjection } from '../../projections/api-keys.projection';
import { ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { advisoryUnlockOn, tryAdvisoryLockOn } from '../../libs/database/advisory-lock';
import { sleep, waitUntil } from '../../libs/event-store/consumers/wait-until';

export type CatchUpOutcome = 'projected' | 'observed' | 'timeout';

/**
 * Makes a just-written API key change visible to the auth guard at once. When no app is projecting
 * (the `api-keys` consumer lock is free), the CLI takes the lock and runs the projection's catch-up
 * itself, exactly as the app would (checkpoint row lock, dedupe), then lets the lock go. When an app
 * holds the lock, it is projecting already: the CLI only waits, bounded, until the row shows the change.
 */
export async function catchUpApiKeys(
  infra: Pick<Infrastructure, 'pool' | 'eventStore' | 'checkpoints'>,
  ready: () => Promise<boolean>,
  timeoutMs = 10_000,
  /** The same for another read model the CLI changes (organisations). */
  projection: RowProjection = apiKeysProjection,
): Promise<CatchUpOutcome> {
  const deadline = Date.now() + timeoutMs;
  const lockName = `consumer:${projection.name}`;
  const client = await infra.pool.connect();
  let locked = false;
  try {
    locked = await tryAdvisoryLockOn(client, lockName);
    if (locked) {
      const consumer = new ProjectionConsumer(infra.pool, projection, infra.checkpoints);
      for (;;) {
        const events = await infra.eventStore.readAll({
          fromPosition: await consumer.loadCheckpoint(),
          filter: consumer.filter,
          limit: consumer.batchSize,
        });
        if (events.length > 0) {
          await consumer.handle(events);
          continue;
        }
        // Drained. An older transaction still in flight can hide the new event for a moment.
        if (await ready()) return 'projected';
        if (Date.now() >= deadline) return 'timeout';
        await sleep(50);
      }
    }
    return (await waitUntil(ready, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100 })) ? 'observed' : 'timeout';
  } finally {
    if (locked) {
      try {
        await advisoryUnlockOn(client, lockName);
        client.release();
      } catch {
        client.release(true);
      }
    } else {
      client.release();
    }
  }
}
