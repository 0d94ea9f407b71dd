import { Logger } from 'pino';
import { ProjectionAdminDeps } from './admin-deps';
import { isInline } from './inline-projections';
import { ProjectionBusy, rebuildProjection } from './rebuild';
import { RowProjection } from './row-projection';

/**
 * A changed declaration empties a read model and resets its checkpoint ("refold"). An asynchronous
 * runner then folds the log again; a read model written inline has no runner that applies events,
 * so start-up rebuilds it here (shadow table and swap: safe beside other replicas' inline writes).
 */
export async function refoldInlineProjections(
  deps: ProjectionAdminDeps,
  projections: readonly RowProjection[],
  refoldedTables: readonly string[],
  logger: Logger,
): Promise<void> {
  for (const projection of projections) {
    if (!refoldedTables.includes(projection.table.name) || !isInline(deps.eventStore, projection)) continue;
    try {
      const report = await rebuildProjection(deps, projection);
      logger.warn({ projection: projection.name, events: report.events }, 'inline read model rebuilt after its declaration changed');
    } catch (error) {
      // Another process is rebuilding it already: its swap brings the table back.
      if (!(error instanceof ProjectionBusy)) throw error;
      logger.warn({ projection: projection.name }, 'inline read model is being rebuilt by another process');
    }
  }
}
