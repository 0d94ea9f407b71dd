/**
 * `node dist/bench/projections-process.js` (forked by bench/http.ts `startProjectionsProcess`): the
 * read-model projections alone on DATABASE_URL, in a process of their own as a deployment runs them
 * (apps/projections, deploy/, docker-compose.yml); settings from the environment. For projection_lag
 * it notes, for every installed-providers event of the lag probe's tenant (streams named
 * `LAG_PROBE_STREAMS…`, bench/lag-probe.ts), the moment (`process.hrtime`: CLOCK_MONOTONIC, one clock
 * for every process of the machine) the batch that wrote it committed. Messages: `report` (answered
 * with `{ committedAt }`), `stop`. Sends `ready` once its consumers run.
 */
import { loadConfig } from '../libs/config/app-config';
import { createInfrastructure } from '../libs/infrastructure/infrastructure';
import { ProjectionConsumer } from '../libs/projection-engine/projection-consumer';
import { startProjections } from '../libs/projection-engine/start-projections';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { LAG_PROBE_STREAMS } from './lag-probe-streams';

const committedAt = new Map<string, string>();

// Wrapped, then called with the consumer as `this`: the product code is not changed, only timed.
// eslint-disable-next-line @typescript-eslint/unbound-method
const originalHandle = ProjectionConsumer.prototype.handle;
ProjectionConsumer.prototype.handle = async function (this: ProjectionConsumer, events: RecordedEvent[]) {
  await originalHandle.call(this, events);
  if (this.name !== 'installed-providers') return;
  const t = process.hrtime.bigint().toString();
  for (const e of events) if (e.streamName.startsWith(LAG_PROBE_STREAMS)) committedAt.set(`${e.streamName}#${e.revision}`, t);
};

async function main(): Promise<void> {
  const infrastructure = await createInfrastructure(loadConfig({ LOG_LEVEL: 'silent', ...process.env }), 'bench-projections');
  const runners = startProjections(infrastructure);
  process.on('message', (message) => {
    if (message === 'report') {
      process.send?.({ committedAt: [...committedAt] });
      committedAt.clear();
    } else if (message === 'stop') {
      void Promise.all(runners.map((r) => r.stop()))
        .then(() => infrastructure.close())
        .finally(() => process.exit(0));
    }
  });
  process.send?.('ready');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
