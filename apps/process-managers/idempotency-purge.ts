import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { Stoppable } from './start-process-managers';

/** How often records past the retention are deleted (lookups ignore them meanwhile). */
const PURGE_EVERY_MS = 15 * 60_000;

/**
 * Keeps the idempotency index as small as its retention: a lookup already ignores older records, so
 * this only bounds the table. Any replica may run it; a DELETE that finds nothing costs one index scan.
 */
export function startIdempotencyPurge(infrastructure: Pick<Infrastructure, 'aggregates' | 'logger'>, everyMs = PURGE_EVERY_MS): Stoppable {
  let running: Promise<void> | undefined;
  const purge = () => {
    running ??= infrastructure.aggregates.idempotency
      .purge()
      .then((deleted) => {
        if (deleted > 0) infrastructure.logger.info({ deleted }, 'idempotency records past the retention deleted');
      })
      .catch((error: unknown) => infrastructure.logger.warn({ err: String(error) }, 'idempotency purge failed'))
      .finally(() => (running = undefined));
  };
  purge();
  const timer = setInterval(purge, everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
