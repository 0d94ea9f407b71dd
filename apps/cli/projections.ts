import { Command } from 'commander';
import type { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { encodePosition } from '../../libs/event-store/position';
import { PROJECTIONS } from '../../projections/projections';
import { advisoryLockHolder } from '../../libs/database/advisory-lock';
import { countMatchingEvents } from '../../libs/projection-engine/event-count';
import { RebuildReport, rebuildConsumerOf, rebuildProjection } from '../../libs/projection-engine/rebuild';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { RowDifference, VerifyReport, verifyProjection } from '../../libs/projection-engine/verify';
import { progressView } from './progress';
import { CliState, UsageError, err, fail, out, table, withInfrastructure } from './io';

/** `all`, a projection's name or its table's name → the projections meant. */
export function selectProjections(which: string): RowProjection[] {
  if (which === 'all') return [...PROJECTIONS];
  const found = PROJECTIONS.find((p) => p.name === which || p.table.name === which);
  if (!found) throw new UsageError(`unknown projection "${which}": use all or one of ${PROJECTIONS.map((p) => p.name).join(', ')}`);
  return [found];
}

export interface ProjectionStatus {
  name: string;
  table: string;
  checkpoint: string | null;
  checkpoint_updated_at: string | null;
  head: string | null;
  /** Matching events after the checkpoint; null when the store cannot count them cheaply. */
  lag: number | null;
  /** Whether a replica holds the projection's consumer lock (is projecting). */
  active: boolean;
  holder: { pid: number; application_name: string | null; client_addr: string | null } | null;
  /** Shadow checkpoint of an unfinished rebuild, which the next rebuild resumes from. */
  rebuild_checkpoint: string | null;
}

export async function projectionStatus(infra: Infrastructure): Promise<ProjectionStatus[]> {
  const head = await infra.eventStore.headPosition();
  const checkpoints = new Map((await infra.checkpoints.all()).map((c) => [c.consumer, c]));
  const result: ProjectionStatus[] = [];
  for (const projection of PROJECTIONS) {
    const saved = checkpoints.get(projection.name);
    const position = saved && saved.position.commit >= 0n ? saved.position : undefined;
    const shadow = checkpoints.get(rebuildConsumerOf(projection));
    const holder = await advisoryLockHolder(infra.pool, `consumer:${projection.name}`);
    const lag = head ? await countMatchingEvents(infra.eventStore, projection.eventTypes, position, { upTo: head, pageLimit: 20 }) : 0;
    result.push({
      name: projection.name,
      table: projection.table.name,
      checkpoint: position ? encodePosition(position) : null,
      checkpoint_updated_at: saved ? saved.updatedAt.toISOString() : null,
      head: head ? encodePosition(head) : null,
      lag: lag ?? null,
      active: holder !== undefined,
      holder: holder ?? null,
      rebuild_checkpoint: shadow && shadow.position.commit >= 0n ? encodePosition(shadow.position) : null,
    });
  }
  return result;
}

export function registerProjections(program: Command, state: CliState): void {
  const projections = program
    .command('projections')
    .description('inspect, rebuild and verify read models')
    .addHelpText('after', `\nProjections: ${PROJECTIONS.map((p) => `${p.name} (table ${p.table.name})`).join(', ')}`);
  registerStatus(projections);
  registerRebuild(projections, state);
  registerVerify(projections, state);
}

function registerStatus(projections: Command): void {
  projections
    .command('status')
    .description('checkpoint, head, lag and active replica of each projection')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }) => {
      await withInfrastructure(async (infra) => {
        const statuses = await projectionStatus(infra);
        if (opts.json) {
          await out(`${JSON.stringify(statuses)}\n`);
          return;
        }
        await out(`head: ${statuses[0]?.head ?? '(empty log)'}\n`);
        await out(
          table(
            ['PROJECTION', 'TABLE', 'CHECKPOINT', 'LAG', 'ACTIVE', 'REBUILD'],
            statuses.map((s) => [
              s.name,
              s.table,
              s.checkpoint ?? '-',
              s.lag === null ? '?' : String(s.lag),
              s.holder ? `yes (pid ${s.holder.pid}${s.holder.application_name ? `, ${s.holder.application_name}` : ''})` : 'no',
              s.rebuild_checkpoint ? `interrupted at ${s.rebuild_checkpoint}` : '-',
            ]),
          ),
        );
      });
    });
}

function registerRebuild(projections: Command, state: CliState): void {
  projections
    .command('rebuild')
    .description('rebuild read models from the whole history without downtime (safe to interrupt and rerun)')
    .argument('<name>', `all, or one of ${PROJECTIONS.map((p) => p.name).join(', ')}`)
    .option('--batch-size <n>', 'events per page and transaction', parsePositiveInt, 5000)
    .option('--json', 'print {name, events, seconds, events_per_second} (an array for all)')
    .addHelpText(
      'after',
      '\nFolds the history into <table>__rebuild, then swaps it in with one short transaction. Interrupting\n(Ctrl-C) stops after the page in flight; running the command again resumes from there.',
    )
    .action(async (name: string, opts: { batchSize: number; json?: boolean }) => {
      const selected = selectProjections(name);
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        err('\ninterrupting after the current page… (again to quit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await withInfrastructure(async (infra) => {
          const reports = await rebuildAll(infra, selected, state, { ...opts, signal: controller.signal });
          if (opts.json) {
            const shown = reports.map((r) => ({ name: r.name, events: r.events, seconds: r.seconds, events_per_second: r.events_per_second }));
            await out(`${JSON.stringify(name === 'all' ? shown : shown[0])}\n`);
          }
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** Rebuilds the projections in turn, showing progress; stops at the first interrupted one. */
async function rebuildAll(
  infra: Infrastructure,
  selected: readonly RowProjection[],
  state: CliState,
  opts: { batchSize: number; json?: boolean; signal: AbortSignal },
): Promise<RebuildReport[]> {
  const reports: RebuildReport[] = [];
  for (const projection of selected) {
    // With --json, stdout carries only the report; progress goes to stderr.
    const progressStream = opts.json ? process.stderr : process.stdout;
    const view = progressView(projection.name, progressStream);
    let report: RebuildReport;
    try {
      report = await rebuildProjection(infra, projection, {
        batchSize: opts.batchSize,
        signal: opts.signal,
        onStart: ({ total, resumedFrom }) => {
          if (resumedFrom) progressStream.write(`rebuild ${projection.name}: resuming after ${encodePosition(resumedFrom)}\n`);
          view.start(total);
        },
        onProgress: (p) => view.update(p.processed, p.eventsPerSecond),
      });
    } finally {
      view.stop();
    }
    reports.push(report);
    if (report.aborted) {
      err(`rebuild ${projection.name}: interrupted after ${report.events} events; run the command again to resume\n`);
      fail(state);
      break;
    }
    if (!opts.json) await out(`rebuilt ${projection.name}: ${report.events} events in ${report.seconds.toFixed(1)} s (${report.events_per_second} ev/s)\n`);
  }
  return reports;
}

function registerVerify(projections: Command, state: CliState): void {
  projections
    .command('verify')
    .description('compare read models with a fresh fold of the history; exit code 1 on any difference')
    .argument('<name>', `all, or one of ${PROJECTIONS.map((p) => p.name).join(', ')}`)
    .option('--wait <ms>', 'how long to wait for a running projection to catch up', parsePositiveInt, 10_000)
    .option('--json', 'print {name, differences: [...]} (an array for all)')
    .action(async (name: string, opts: { wait: number; json?: boolean }) => {
      const selected = selectProjections(name);
      await withInfrastructure(async (infra) => {
        const reports: VerifyReport[] = [];
        for (const projection of selected) {
          const report = await verifyProjection(infra, projection, { waitMs: opts.wait });
          reports.push(report);
          if (report.differences.length > 0 || !report.verified) fail(state);
          if (!opts.json) await out(renderVerify(report));
        }
        if (opts.json) await out(`${JSON.stringify(name === 'all' ? reports : reports[0])}\n`);
      });
    });
}

export function renderVerify(report: VerifyReport): string {
  const lines: string[] = [];
  const at = report.position ? ` at ${report.position}` : '';
  if (!report.verified) {
    lines.push(`verify ${report.name}: NOT VERIFIED, the live projection did not reach ${report.lag?.expected_position ?? 'the head'} in time`);
  } else if (report.differences.length === 0) {
    lines.push(`verify ${report.name}: OK, ${report.live_rows} rows match${at}`);
  } else {
    const n = report.differences.length;
    lines.push(
      `verify ${report.name}: ${n} row${n === 1 ? '' : 's'} differ${n === 1 ? 's' : ''}${at} (${report.live_rows} live rows, ${report.expected_rows} expected)`,
    );
    for (const d of report.differences) lines.push(...renderDifference(d));
  }
  if (report.lag) {
    const behind = report.lag.events_behind === null ? 'some' : String(report.lag.events_behind);
    lines.push(
      `  lag: ${behind} events behind (checkpoint ${report.lag.checkpoint ?? 'none'}, should be at ${report.lag.expected_position ?? '-'}); projection ${report.lag.running ? 'running' : 'not running'}`,
    );
  }
  return lines.join('\n') + '\n';
}

function renderDifference(d: RowDifference): string[] {
  const key = JSON.stringify(d.key);
  if (!d.live) return [`  ${key}: missing from the live table; expected ${JSON.stringify(d.expected)}`];
  if (!d.expected) return [`  ${key}: in the live table but not in the history: ${JSON.stringify(d.live)}`];
  return [
    `  ${key}: ${d.columns.join(', ')}`,
    ...d.columns.map((c) => `      ${c}: live ${JSON.stringify(d.live?.[c] ?? null)}, expected ${JSON.stringify(d.expected?.[c] ?? null)}`),
  ];
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UsageError(`"${value}" must be a whole number from 1 to 1000000`);
  return n;
}
