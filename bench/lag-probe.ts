/**
 * `node dist/bench/lag-probe.js` (forked by bench/command-http.ts): the sender of projection_lag's
 * samples, in a process of its own so that a busy event loop (the API's) does not delay when a
 * commit is seen. On `start` it appends, one at a time and every 20 ms (a few thousand samples a
 * minute, a small fraction of the API's appends), an `InstallRequested` to a new installation stream
 * of `LAG_PROBE_TENANT` (a tenant no request uses), noting when each append resolved
 * (`process.hrtime`: CLOCK_MONOTONIC, one clock for every process of the machine), until `pause`.
 * On `stop` it answers `{ appendedAt }` (`stream#revision` → time) and exits.
 */
import { randomUUID } from 'node:crypto';
import { createPool } from '../libs/database/database';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { installationStream } from '../libs/installations/installation-identity';
import { LAG_PROBE_TENANT } from './lag-probe-streams';

const PROBE_EVERY_MS = 20;
const appendedAt: Array<[string, string]> = [];
let next = 0;

/** Appends until `running()` turns false, each to a new installation stream of the probe's tenant. */
async function probe(store: PostgresEventStore, running: () => boolean): Promise<void> {
  const tenant = LAG_PROBE_TENANT;
  while (running()) {
    const name = `p${next++}`;
    const stream = installationStream(tenant, { prefix: 'lagprobe', name });
    const at = new Date().toISOString();
    const data = { at, installation_id: randomUUID(), tenant, prefix: 'lagprobe', name, version: '1.0.0', resource_tier: 'free', upgrade_policy: 'manual', config: {}, generation: 1 };
    const metadata = { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'bench-lag-probe', occurred_at: at };
    await store.append(stream, [{ id: randomUUID(), type: 'InstallRequested', data, metadata }], 'no_stream');
    appendedAt.push([`${stream}#0`, process.hrtime.bigint().toString()]);
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('lag-probe.js needs DATABASE_URL');
const pool = createPool(databaseUrl, 2, 'bench-lag-probe');
const store = new PostgresEventStore(pool);
let running = false;
let probing: Promise<void> = Promise.resolve();
process.on('message', (message) => {
  if (message === 'start') {
    running = true;
    probing = probing.then(() => probe(store, () => running));
  } else if (message === 'pause') {
    running = false;
  } else if (message === 'stop') {
    running = false;
    probing
      // Exiting only once the report is sent: a large one is still being written when send returns.
      .then(() => new Promise<void>((resolve, reject) => process.send?.({ appendedAt }, undefined, undefined, (error) => (error ? reject(error) : resolve()))))
      .catch((error: unknown) => {
        process.stderr.write(`lag probe failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      })
      .finally(() => void store.close().finally(() => pool.end().finally(() => process.exit())));
  }
});
process.send?.('ready');
