import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventStoreDbTestDouble } from '../test/support/eventstoredb-test-double/eventstoredb-test-double';

/**
 * Runs the compiled benchmark (quick mode, append and rebuild only, a 20,000-event history) with
 * EVENTSTORE_URL pointing at the gRPC test double of EventStoreDB, and checks the shape of the
 * EventStoreDB lines, never their speed: the double's figures are not EventStoreDB's.
 */
const ROOT = resolve(__dirname, '..');
const RUN = resolve(ROOT, 'dist', 'bench', 'run.js');
const MEASURED = ['ops', 'ops_per_sec', 'p50_ms', 'p95_ms', 'p99_ms'] as const;

/** Not spawnSync: the double answers from this process's event loop while the bench runs. */
function runBench(env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RUN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

describe('bench with EVENTSTORE_URL (quick mode, on the gRPC test double)', () => {
  let server: EventStoreDbTestDouble;
  let connectionString: string;

  beforeAll(async () => {
    server = new EventStoreDbTestDouble();
    ({ connectionString } = await server.start());
  });

  afterAll(async () => {
    await server.stop();
  });

  it('reports append and rebuild on EventStoreDB beside the PostgreSQL lines, against the same baselines', async () => {
    expect(existsSync(RUN)).toBe(true);
    const run = await runBench({
      ...process.env,
      BENCH_QUICK: '1',
      BENCH_ONLY: 'append,rebuild',
      BENCH_REBUILD_EVENTS: '20000',
      EVENTSTORE_URL: connectionString,
      // The peer (bench/peer) is never installed by a test: no network. Where it is, its line is not this test's.
      BENCH_PEER_INSTALL: '0',
      BENCH_RESULTS_DIR: mkdtempSync(join(tmpdir(), 'bench-results-')),
    });
    if (run.status !== 0) throw new Error(`bench exited ${run.status}:\n${run.stderr}`);
    const results = run.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l))
      .filter((r: { name: string }) => r.name !== 'append_1_peer');
    const byName = new Map(results.map((r) => [r.name, r]));
    expect([...byName.keys()]).toEqual(['append_1', 'append_1_eventstoredb', 'append_100', 'append_100_eventstoredb', 'rebuild', 'rebuild_eventstoredb']);
    expect(run.stderr).toContain('TEST DOUBLE');

    for (const [name, postgresName] of [
      ['append_1_eventstoredb', 'append_1'],
      ['append_100_eventstoredb', 'append_100'],
      ['rebuild_eventstoredb', 'rebuild'],
    ]) {
      const r = byName.get(name);
      const postgres = byName.get(postgresName);
      expect(Object.keys(r).sort()).toEqual(Object.keys(postgres).sort());
      expect(r.parameters.target_store).toBe('eventstoredb');
      expect(r.parameters.eventstoredb_test_double).toBe(true);
      expect(r.parameters.note).toMatch(/not EventStoreDB figures/);
      expect(typeof r.target).toBe('string');
      expect(typeof r.met).toBe('boolean');
      for (const field of [...MEASURED, 'peak_rss_mb', 'ratio']) {
        expect(typeof r[field]).toBe('number');
        expect(r[field]).toBeGreaterThan(0);
      }
      // The baseline is the raw PostgreSQL one measured for the PostgreSQL line in the same run.
      expect(r.baseline).toEqual(postgres.baseline);
    }
    expect(byName.get('rebuild_eventstoredb').parameters.rows_written).toBe(byName.get('rebuild_eventstoredb').parameters.installations);
  }, 180_000);
});
