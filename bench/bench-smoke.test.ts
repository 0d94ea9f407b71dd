import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BenchResult } from './stats';

/**
 * Runs the compiled benchmark in quick mode (DATABASE_URL inherited from `npm test`) and checks only
 * the shape of its output, never its speed: one JSON object per stdout line, with positive numbers.
 */
const ROOT = resolve(__dirname, '..');
const RUN = resolve(ROOT, 'dist', 'bench', 'run.js');
const MEASURED = ['ops', 'ops_per_sec', 'p50_ms', 'p95_ms', 'p99_ms'] as const;

/** Runs quick mode with `env` added; checks latest.json and latest.md agree with stdout; returns the results and stderr. */
function runQuick(env: Record<string, string>, timeoutMs: number): { results: BenchResult[]; stderr: string } {
  expect(existsSync(RUN)).toBe(true);
  const resultsDir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  const run = spawnSync(process.execPath, [RUN], {
    cwd: ROOT,
    // EventStoreDB lines are checked in bench-eventstoredb.test.ts; here they must be absent, and why said.
    env: { ...process.env, BENCH_QUICK: '1', EVENTSTORE_URL: '', BENCH_RESULTS_DIR: resultsDir, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`bench exited ${run.status} (${run.signal ?? 'no signal'}):\n${run.stderr}`);
  const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
  // The same results in latest.json, and one table row each in latest.md.
  const written = JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as Array<{ name: string }>;
  expect(written.map((r) => r.name)).toEqual(lines.map((l) => (JSON.parse(l) as { name: string }).name));
  const table = readFileSync(join(resultsDir, 'latest.md'), 'utf8');
  for (const r of written) expect(table).toContain(`| ${r.name} |`);
  rmSync(resultsDir, { recursive: true, force: true });
  const results = lines.map((l) => JSON.parse(l) as BenchResult);
  for (const r of results) {
    expect(typeof r.name).toBe('string');
    expect(r.name).not.toMatch(/eventstoredb/);
    expect(typeof r.parameters).toBe('object');
    expect(typeof r.target).toBe('string');
    expect(typeof r.met).toBe('boolean');
    for (const field of [...MEASURED, 'peak_rss_mb', 'ratio'] as const) {
      expect(typeof r[field]).toBe('number');
      expect(r[field]).toBeGreaterThan(0);
    }
    for (const field of MEASURED) {
      expect(typeof r.baseline[field]).toBe('number');
      expect(r.baseline[field]).toBeGreaterThan(0);
    }
  }
  return { results, stderr: run.stderr };
}

describe('bench (quick mode)', () => {
  it('prints one well-formed JSON result per benchmark', () => {
    // The peer event store (bench/peer) runs when already installed, never installed here: no network.
    const peerInstalled = existsSync(join(ROOT, 'bench', 'peer', 'node_modules', '@event-driven-io', 'emmett-postgresql'));
    const { results, stderr } = runQuick({ BENCH_ONLY: 'append,command,query,rebuild', BENCH_PEER_INSTALL: '0' }, 180_000);
    expect(results.length).toBeGreaterThanOrEqual(4);
    expect(stderr).toContain('EVENTSTORE_URL is unset');
    const names = results.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['query_installed_get', 'query_installed_get_http']));
    if (peerInstalled) expect(names).toContain('append_1_peer');
    else expect(stderr).toContain('append_1_peer skipped: bench/peer/node_modules is absent');
    for (const r of results) {
      if (r.name === 'command_http') {
        expect(typeof r.rss_series?.slope_mb_per_min).toBe('number');
        expect(typeof r.rss_series?.growth_mb).toBe('number');
        expect(typeof r.rss_series?.rss_flat).toBe('boolean');
        expect(r.rss_series?.first_window_median_rss_mb).toBeGreaterThan(0);
      }
    }
  }, 190_000);

  // Its own run, with a few requests per size: the shape needs no more.
  it('prints the history group: each stream length and version count in parameters', () => {
    const { results } = runQuick({ BENCH_ONLY: 'history', BENCH_HISTORY_REQUESTS: '6' }, 90_000);
    expect(results.map((r) => r.name)).toEqual(['command_by_stream_length', 'install_by_version_count']);
    const [byLength, byVersions] = results;
    const figures = (sizes: string[]) => Object.fromEntries(sizes.map((size) => [size, expect.objectContaining({ ops: 6, p50_ms: expect.any(Number), p99_ms: expect.any(Number) })]));
    expect(byLength.parameters.by_stream_length).toEqual(figures(['10', '100', '1000', '10000']));
    expect(byVersions.parameters.by_version_count).toEqual(figures(['2', '100', '1000']));
  }, 100_000);
});
