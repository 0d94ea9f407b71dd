/**
 * `node dist/bench/autocannon-worker.js < input.json`: drives autocannon in its own process (so the load
 * generator does not share a CPU core's event loop with the API under test) and prints one JSON line:
 * the number of 2xx responses (in all, and per second of the run), elapsed time, exact latency percentiles of every response, non-2xx
 * and error counts.
 */
export {};

/**
 * What this worker uses of autocannon: called without a callback it returns an instance that emits
 * each response and resolves to the totals (its published typings claim a bare Promise).
 */
interface AutocannonRun extends PromiseLike<{ duration: number; errors: number; timeouts: number }> {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => AutocannonRun;

interface WorkerInput {
  url: string;
  connections: number;
  durationSec: number;
  method: string;
  headers: Record<string, string>;
  /** Rotated over, one per request. */
  paths: string[];
  body?: string;
  /** When set, alternates the path suffix: `${path}/${suffixes[i % n]}` (upgrade / downgrade). */
  suffixes?: string[];
  /** When set, rotated over instead of `paths`: each request's own path and body, and headers added to `headers`. */
  requests?: Array<{ path: string; body?: string; headers?: Record<string, string> }>;
  /** Stop after this many requests instead of after `durationSec`. */
  amount?: number;
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WorkerInput;
  let next = 0;
  const latencies: number[] = [];
  let non2xx = 0;
  let ok = 0;
  const okPerSecond: number[] = [];
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: input.url,
    connections: input.connections,
    ...(input.amount ? { amount: input.amount } : { duration: input.durationSec }),
    method: input.method,
    headers: input.headers,
    body: input.body,
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => {
          const i = next++;
          if (input.requests) {
            const r = input.requests[i % input.requests.length];
            return { ...req, path: r.path, ...(r.body !== undefined ? { body: r.body } : {}), ...(r.headers ? { headers: { ...input.headers, ...r.headers } } : {}) };
          }
          const base = input.paths[i % input.paths.length];
          const path = input.suffixes ? `${base}/${input.suffixes[Math.floor(i / input.paths.length) % input.suffixes.length]}` : base;
          return { ...req, path };
        },
      },
    ],
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      const second = Math.floor(Number(process.hrtime.bigint() - started) / 1e9);
      while (okPerSecond.length <= second) okPerSecond.push(0);
      okPerSecond[second]++;
    }
    else non2xx++;
  });
  const result = await instance;
  const elapsedMs = !input.amount && typeof result.duration === 'number' && result.duration > 0 ? result.duration * 1000 : Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ ok, non2xx, errors: result.errors + result.timeouts, elapsedMs, latencies, okPerSecond }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
