import { SpanKind } from '@opentelemetry/api';
import { Deployer, DesiredDeployment } from '../../apps/installer/deployer.port';
import { observabilityMetrics } from './metrics';
import { inSpan } from './tracing';

const instrumented = new WeakSet<Deployer>();

/**
 * Makes a deployer's `apply` a span (continuing the trace of the event that asked for it), counted
 * and timed by deployer and outcome (`succeeded` | `failed`). The deployer itself is kept, not
 * wrapped: the installer and tests reach deployer-specific methods (`stopGeneration`, `running`).
 */
export function instrumentDeployer<D extends Deployer>(deployer: D): D {
  if (instrumented.has(deployer)) return deployer;
  instrumented.add(deployer);
  const apply = deployer.apply.bind(deployer);
  deployer.apply = (desired: DesiredDeployment) => observedApply(deployer.kind, desired, apply);
  return deployer;
}

async function observedApply(kind: string, desired: DesiredDeployment, apply: (desired: DesiredDeployment) => Promise<void>): Promise<void> {
  const metrics = observabilityMetrics();
  const end = metrics.deployDuration.startTimer({ deployer: kind });
  const attributes = { 'provider_store.installation_id': desired.installationId, 'provider_store.generation': desired.generation };
  let outcome = 'failed';
  try {
    await inSpan('deploy apply', { kind: SpanKind.CLIENT, attributes }, () => apply(desired));
    outcome = 'succeeded';
  } finally {
    end({ outcome });
    metrics.deploysTotal.inc({ deployer: kind, outcome });
  }
}
