export interface WaitOptions {
  timeoutMs: number;
  /** First pause between checks (default 100 ms); doubles up to `maxIntervalMs` (default: no growth). */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Polls `condition` until it holds, the deadline passes or `signal` aborts: the one loop behind
 * "wait until a consumer has caught up" (read-after-write, the CLI, verify). True when it held.
 */
export async function waitUntil(condition: () => Promise<boolean>, options: WaitOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  let interval = options.intervalMs ?? 100;
  const maxInterval = Math.max(interval, options.maxIntervalMs ?? interval);
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline || options.signal?.aborted) return false;
    await sleep(Math.min(interval, Math.max(1, deadline - Date.now())));
    interval = Math.min(interval * 2, maxInterval);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
