/**
 * Polls `condition` until it holds, the deadline passes or `signal` aborts: the one loop behind
 * "wait until a consumer has caught up" (read-after-write, the CLI, verify). True when it held.
 */
export async function waitUntil(
  condition: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline || options.signal?.aborted) return false;
    await sleep(Math.min(options.intervalMs ?? 100, Math.max(1, deadline - Date.now())));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
