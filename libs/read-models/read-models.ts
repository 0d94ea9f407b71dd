import { DeclaredTable } from '../database/table-spec';
import { PROJECTIONS } from '../../projections/projections';
import { deploymentObservationsTable, runtimeHeartbeatsTable } from './telemetry-tables';

/**
 * Every table start-up creates from its declaration (besides the event store's own): each
 * projection's table, refolded from the log when its declaration changes, and the telemetry tables.
 */
export const READ_MODEL_TABLES: readonly DeclaredTable[] = [
  ...PROJECTIONS.map((projection): DeclaredTable => ({ spec: projection.table, onChange: { kind: 'refold', consumers: [projection.name] } })),
  runtimeHeartbeatsTable,
  deploymentObservationsTable,
];
