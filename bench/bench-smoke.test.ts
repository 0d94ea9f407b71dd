import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Runs the compiled benchmark in quick mode (DATABASE_URL inherited from `npm test`) and checks only
 * the shape of its output, never its speed: one JSON object per stdout line, with positive numbers.
 */
const ROOT = resolve(__dirname, '..');
const RUN = resolve(ROOT, 'dist', 'bench', 'run.js');
const MEASURED = ['ops', 'ops_per_sec', 'p50_ms', 'p95_ms', 'p99_ms'] as const;

describe('bench (quick mode)', () => {
  it('prints one well-formed JSON result per benchmark', () => {
    expect(existsSync(RUN)).toBe(true);
    const resultsDir = mkdtempSync(join(tmpdir(), 'bench-results-'));
    const run = spawnSync(process.execPath, [RUN], {
      cwd: ROOT,
      // EventStoreDB lines are checked in bench-eventstoredb.test.ts; here they must be absent, and why said.
      // The history group's shape needs only a few requests per length.
      env: { ...process.env, BENCH_QUICK: '1', EVENTSTORE_URL: '', BENCH_RESULTS_DIR: resultsDir, BENCH_HISTORY_REQUESTS: '6' },
      encoding: 'utf8',
      timeout: 170_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (run.status !== 0) throw new Error(`bench exited ${run.status} (${run.signal ?? 'no signal'}):\n${run.stderr}`);
    const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const names = lines.map((l) => (JSON.parse(l) as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['command_by_stream_length', 'install_by_version_count']));
    // The same results in latest.json, and one table row each in latest.md.
    const written = JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as Array<{ name: string }>;
    expect(written.map((r) => r.name)).toEqual(lines.map((l) => (JSON.parse(l) as { name: string }).name));
    const table = readFileSync(join(resultsDir, 'latest.md'), 'utf8');
    for (const r of written) expect(table).toContain(`| ${r.name} |`);
    rmSync(resultsDir, { recursive: true, force: true });
    expect(run.stderr).toContain('EVENTSTORE_URL is unset');
    for (const line of lines) {
      const r = JSON.parse(line);
      expect(typeof r.name).toBe('string');
      expect(r.name).not.toMatch(/eventstoredb/);
      expect(typeof r.parameters).toBe('object');
      expect(typeof r.target).toBe('string');
      expect(typeof r.met).toBe('boolean');
      for (const field of [...MEASURED, 'peak_rss_mb', 'ratio']) {
        expect(typeof r[field]).toBe('number');
        expect(r[field]).toBeGreaterThan(0);
      }
      for (const field of MEASURED) {
        expect(typeof r.baseline[field]).toBe('number');
        expect(r.baseline[field]).toBeGreaterThan(0);
      }
      if (r.name === 'command_by_stream_length') {
        expect(Object.keys(r.parameters.by_stream_length)).toEqual(['10', '100', '1000', '10000']);
        expect(r.parameters.by_stream_length['10000'].p99_ms).toBeGreaterThan(0);
      }
      if (r.name === 'install_by_version_count') {
        expect(Object.keys(r.parameters.by_version_count)).toEqual(['2', '100', '1000']);
        expect(r.parameters.by_version_count['100'].p50_ms).toBeGreaterThan(0);
      }
      if (r.name === 'command_http') {
        expect(typeof r.rss_series.slope_mb_per_min).toBe('number');
        expect(typeof r.rss_series.growth_mb).toBe('number');
        expect(typeof r.rss_series.rss_flat).toBe('boolean');
        expect(r.rss_series.first_window_median_rss_mb).toBeGreaterThan(0);
      }
    }
  }, 180_000);
});
