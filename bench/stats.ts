/** Measurement helpers shared by the benchmarks: timed concurrent loops, percentiles, peak RSS. */

export interface Measured {
  ops: number;
  ops_per_sec: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface BenchResult extends Measured {
  name: string;
  parameters: Record<string, unknown>;
  peak_rss_mb: number;
  baseline: Measured;
  ratio: number;
  target: string;
  met: boolean;
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sortedMs.length) - 1;
  return sortedMs[Math.min(sortedMs.length - 1, Math.max(0, rank))];
}

export function summarise(durationsMs: number[], elapsedMs: number): Measured {
  const sorted = Float64Array.from(durationsMs).sort();
  const arr = Array.from(sorted);
  return {
    ops: arr.length,
    ops_per_sec: round(arr.length / (elapsedMs / 1000)),
    p50_ms: round(percentile(arr, 50), 3),
    p95_ms: round(percentile(arr, 95), 3),
    p99_ms: round(percentile(arr, 99), 3),
  };
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Runs `concurrency` loops for `durationMs`, each calling `op(worker, iteration)` back to back, and
 * records every operation's wall-clock duration (process.hrtime.bigint). An operation that throws
 * aborts the whole run: a benchmark must not count failures as work.
 */
export async function timedLoop(
  durationMs: number,
  concurrency: number,
  op: (worker: number, iteration: number) => Promise<void>,
): Promise<Measured> {
  const durations: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(durationMs * 1e6));
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; process.hrtime.bigint() < deadline; i++) {
        const t0 = process.hrtime.bigint();
        await op(worker, i);
        durations.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  return summarise(durations, elapsedMs);
}

/** process.memoryUsage().rss sampled every 100 ms; `reset()` starts a new peak for the next benchmark. */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }

  reset(): void {
    this.peak = 0;
    this.sample();
  }

  peakMb(): number {
    this.sample();
    return round(this.peak / (1024 * 1024));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const rss = process.memoryUsage().rss;
    if (rss > this.peak) this.peak = rss;
  }
}
