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

/** Every operation's duration and the wall-clock time of one timed run, for merging interleaved rounds. */
export interface TimedSamples {
  durationsMs: number[];
  elapsedMs: number;
}

/**
 * Runs `concurrency` loops for `durationMs`, each calling `op(worker, iteration)` back to back, and
 * records every operation's wall-clock duration (process.hrtime.bigint). An operation that throws
 * aborts the whole run: a benchmark must not count failures as work.
 */
export async function timedSamples(
  durationMs: number,
  concurrency: number,
  op: (worker: number, iteration: number) => Promise<void>,
): Promise<TimedSamples> {
  const durationsMs: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(durationMs * 1e6));
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; process.hrtime.bigint() < deadline; i++) {
        const t0 = process.hrtime.bigint();
        await op(worker, i);
        durationsMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  return { durationsMs, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** `timedSamples`, summarised. */
export async function timedLoop(
  durationMs: number,
  concurrency: number,
  op: (worker: number, iteration: number) => Promise<void>,
): Promise<Measured> {
  const { durationsMs, elapsedMs } = await timedSamples(durationMs, concurrency, op);
  return summarise(durationsMs, elapsedMs);
}

/** Several rounds of one side as one run: every operation, over the rounds' summed time. */
export function summariseRounds(rounds: readonly TimedSamples[]): Measured {
  return summarise(
    rounds.flatMap((r) => r.durationsMs),
    rounds.reduce((ms, r) => ms + r.elapsedMs, 0),
  );
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
  /**
   * Slope, after the first window (the warm-up), of the RSS floor: the lowest sample of each
   * `every_s` bucket. Raw samples swing by ±50 MB with the collector's cycles; the floor is what
   * survives them, so it is what an unbounded cache makes grow. Theil–Sen (the median of the slopes
   * between every two buckets), so that one stretch between two major collections — the old
   * generation filling with garbage for 20 s, as seen at the end of a 5-minute run — does not decide
   * it as it does a least-squares line. MB per minute.
   */
  slope_mb_per_min: number;
  /** Least-squares slope of the same floors, for comparison: pulled by a spike at either end. */
  lsq_slope_mb_per_min: number;
  first_window_median_heap_used_mb: number;
  last_window_median_heap_used_mb: number;
  /** The same (Theil–Sen) slope for the floor of V8's heap used. */
  heap_used_slope_mb_per_min: number;
  every_s: number;
  /** The RSS floor (MB) of each `every_s` bucket, for seeing the shape. */
  rss_floor_mb: number[];
  /** The heap-used floor (MB) of each `every_s` bucket. */
  heap_used_floor_mb: number[];
  flat_threshold: string;
  rss_flat: boolean;
}

/** A run shorter than this says nothing about growth: `rss_flat` is still computed, but noted. */
export const RSS_FLAT_MIN_DURATION_S = 120;
/** RSS counts as flat when its floor grows more slowly than this after the warm-up window. */
export const RSS_FLAT_SLOPE_MB_PER_MIN = 2;

type MemorySample = { t: number; rss: number; heap: number };

/**
 * The process's RSS and V8 heap used, sampled every `intervalMs` from `start()` to `stop()`, for
 * telling a steady state from growth: a cache without bounds shows as a floor that keeps rising once
 * the first minute's allocations (JIT, pools, buffers) are done.
 */
export class RssSeries {
  private readonly samples: MemorySample[] = [];
  private timer?: NodeJS.Timeout;
  private started = 0n;

  constructor(private readonly intervalMs = 1000) {}

  start(): void {
    this.started = process.hrtime.bigint();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Seconds since `start()`. */
  elapsedS(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  stop(): RssSeriesSummary {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return summariseRss(this.samples, this.intervalMs / 1000);
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.samples.push({ t: this.elapsedS(), rss: m.rss / 1048576, heap: m.heapUsed / 1048576 });
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Theil–Sen slope of `points` (t in s, v in MB): the median of the pairwise slopes, in MB per minute. */
function robustSlopePerMinute(points: Array<{ t: number; v: number }>): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      if (points[j].t !== points[i].t) slopes.push((points[j].v - points[i].v) / (points[j].t - points[i].t));
    }
  }
  return median(slopes) * 60;
}

/** Least-squares slope of `points` (t in s, v in MB), in MB per minute. */
function slopePerMinute(points: Array<{ t: number; v: number }>): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mv = points.reduce((a, p) => a + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

export function summariseRss(samples: readonly MemorySample[], intervalS: number): RssSeriesSummary {
  const duration = samples.length ? samples[samples.length - 1].t : 0;
  const window = Math.min(60, duration / 3);
  const first = samples.filter((s) => s.t <= window);
  const last = samples.filter((s) => s.t >= duration - window);
  const every = duration > 120 ? 10 : 1;
  const buckets: Array<{ t: number; rss: number; heap: number }> = [];
  for (let from = 0; from < duration; from += every) {
    const inBucket = samples.filter((s) => s.t >= from && s.t < from + every);
    if (inBucket.length === 0) continue;
    buckets.push({ t: from + every / 2, rss: Math.min(...inBucket.map((s) => s.rss)), heap: Math.min(...inBucket.map((s) => s.heap)) });
  }
  const afterWarmUp = buckets.filter((b) => b.t >= window);
  const rssFloor = afterWarmUp.map((b) => ({ t: b.t, v: b.rss }));
  const rssSlope = robustSlopePerMinute(rssFloor);
  const firstRss = median(first.map((s) => s.rss));
  const lastRss = median(last.map((s) => s.rss));
  return {
    samples: samples.length,
    interval_s: intervalS,
    duration_s: round(duration),
    window_s: round(window),
    first_window_median_rss_mb: round(firstRss),
    last_window_median_rss_mb: round(lastRss),
    growth_mb: round(lastRss - firstRss),
    slope_mb_per_min: round(rssSlope, 2),
    lsq_slope_mb_per_min: round(slopePerMinute(rssFloor), 2),
    first_window_median_heap_used_mb: round(median(first.map((s) => s.heap))),
    last_window_median_heap_used_mb: round(median(last.map((s) => s.heap))),
    heap_used_slope_mb_per_min: round(robustSlopePerMinute(afterWarmUp.map((b) => ({ t: b.t, v: b.heap }))), 2),
    every_s: every,
    rss_floor_mb: buckets.map((b) => round(b.rss)),
    heap_used_floor_mb: buckets.map((b) => round(b.heap)),
    flat_threshold:
      `slope_mb_per_min (Theil–Sen, of the RSS floor per ${every} s) < ${RSS_FLAT_SLOPE_MB_PER_MIN} after the first window` +
      (duration < RSS_FLAT_MIN_DURATION_S ? `; this run lasted ${round(duration)} s, too short to tell growth from warm-up` : ''),
    rss_flat: rssSlope < RSS_FLAT_SLOPE_MB_PER_MIN,
  };
}
