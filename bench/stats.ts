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
  /** command_http only: the API process's RSS and heap over the measured run. */
  rss_series?: RssSeriesSummary;
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

export interface RssSeriesSummary {
  samples: number;
  interval_s: number;
  duration_s: number;
  /** Length of the first and last windows compared: 60 s, or a third of a shorter run. */
  window_s: number;
  first_window_median_rss_mb: number;
  last_window_median_rss_mb: number;
  growth_mb: number;
  /** Least-squares slope of RSS over time after the first window (the warm-up), MB per minute. */
  slope_mb_per_min: number;
  first_window_median_heap_used_mb: number;
  last_window_median_heap_used_mb: number;
  heap_used_slope_mb_per_min: number;
  /** RSS (MB) every `every_s` seconds, for eyeballing the shape. */
  rss_mb_every_s: number[];
  every_s: number;
  flat_threshold: string;
  rss_flat: boolean;
}

/** A run shorter than this says nothing about growth: `rss_flat` is still computed, but noted. */
export const RSS_FLAT_MIN_DURATION_S = 120;
/** RSS counts as flat when it grows more slowly than this after the warm-up window. */
export const RSS_FLAT_SLOPE_MB_PER_MIN = 2;

/**
 * The process's RSS and V8 heap used, sampled every `intervalMs` from `start()` to `stop()`, for
 * telling a steady state from growth: a cache without bounds shows as a slope that does not level
 * off once the first minute's allocations (JIT, pools, buffers) are done.
 */
export class RssSeries {
  private readonly samples: Array<{ t: number; rss: number; heap: number }> = [];
  private timer?: NodeJS.Timeout;
  private started = 0n;

  constructor(private readonly intervalMs = 1000) {}

  start(): void {
    this.started = process.hrtime.bigint();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): RssSeriesSummary {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return summariseRss(this.samples, this.intervalMs / 1000);
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.samples.push({ t: Number(process.hrtime.bigint() - this.started) / 1e9, rss: m.rss / 1048576, heap: m.heapUsed / 1048576 });
  }
}

export function summariseRss(samples: ReadonlyArray<{ t: number; rss: number; heap: number }>, intervalS: number): RssSeriesSummary {
  const duration = samples.length ? samples[samples.length - 1].t : 0;
  const window = Math.min(60, duration / 3);
  const first = samples.filter((s) => s.t <= window);
  const last = samples.filter((s) => s.t >= duration - window);
  const afterWarmUp = samples.filter((s) => s.t >= window);
  const median = (xs: number[]) => {
    if (xs.length === 0) return 0;
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const slope = (key: 'rss' | 'heap') => {
    if (afterWarmUp.length < 2) return 0;
    const n = afterWarmUp.length;
    const mt = afterWarmUp.reduce((a, s) => a + s.t, 0) / n;
    const mv = afterWarmUp.reduce((a, s) => a + s[key], 0) / n;
    let num = 0;
    let den = 0;
    for (const s of afterWarmUp) {
      num += (s.t - mt) * (s[key] - mv);
      den += (s.t - mt) ** 2;
    }
    return den === 0 ? 0 : (num / den) * 60;
  };
  const every = duration > 120 ? 10 : 1;
  const series: number[] = [];
  for (let t = 0; t <= duration; t += every) {
    const s = samples.find((x) => x.t >= t);
    if (s) series.push(round(s.rss));
  }
  const firstRss = median(first.map((s) => s.rss));
  const lastRss = median(last.map((s) => s.rss));
  const rssSlope = slope('rss');
  return {
    samples: samples.length,
    interval_s: intervalS,
    duration_s: round(duration),
    window_s: round(window),
    first_window_median_rss_mb: round(firstRss),
    last_window_median_rss_mb: round(lastRss),
    growth_mb: round(lastRss - firstRss),
    slope_mb_per_min: round(rssSlope, 2),
    first_window_median_heap_used_mb: round(median(first.map((s) => s.heap))),
    last_window_median_heap_used_mb: round(median(last.map((s) => s.heap))),
    heap_used_slope_mb_per_min: round(slope('heap'), 2),
    rss_mb_every_s: series,
    every_s: every,
    flat_threshold:
      `slope_mb_per_min < ${RSS_FLAT_SLOPE_MB_PER_MIN} after the first window` +
      (duration < RSS_FLAT_MIN_DURATION_S ? `; this run lasted ${round(duration)} s, too short to tell growth from warm-up` : ''),
    rss_flat: rssSlope < RSS_FLAT_SLOPE_MB_PER_MIN,
  };
}
