/**
 * Profiling helper (not a benchmark): `node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/profile-api.js [get|list] [seconds]`
 * starts the API on a fresh database (embedded server `pg-bench` unless DATABASE_URL is set), seeds
 * installations as the query benchmarks do, and loads one route with autocannon in a child process,
 * so the API process's CPU profile shows where a request's time goes.
 */
import { scratchBenchDatabase } from './admin-sql';
import { runAutocannon, seedInstalled, startApi } from './http';

async function main(): Promise<void> {
  const route = process.argv[2] ?? 'get';
  const seconds = Number(process.argv[3] ?? 5);
  const { url, drop } = await scratchBenchDatabase('bench_prof');
  try {
    const api = await startApi(url);
    try {
      await seedInstalled(api.infrastructure.pool, 'prof', 2000, 20000);
      const key = await api.createKey('prof', ['read']);
      const paths =
        route === 'list'
          ? Array.from({ length: 20 }, (_, i) => `/providers/installed?limit=50&offset=${i * 50}`)
          : Array.from({ length: 500 }, (_, i) => {
              const g = 1 + ((i * 7919) % 2000);
              return `/providers/installed/p${g % 100}/n${g}`;
            });
      const out = await runAutocannon({ url: api.baseUrl, connections: 16, durationSec: seconds, method: 'GET', headers: { authorization: `Bearer ${key}` }, paths });
      const sorted = [...out.latencies].sort((a, b) => a - b);
      process.stderr.write(`${route}: ${out.ok} ok, ${out.non2xx} non-2xx, ${(out.ok / (out.elapsedMs / 1000)).toFixed(0)}/s, p50 ${sorted[Math.floor(sorted.length / 2)]} p99 ${sorted[Math.floor(sorted.length * 0.99)]}\n`);
    } finally {
      await api.close();
    }
  } finally {
    await drop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
