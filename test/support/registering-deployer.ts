import { Deployer, DesiredDeployment, ObservedDeployment } from '../../apps/installer/deployer.port';

interface Run {
  generation: number;
  version: string;
  up: boolean;
}

/**
 * A deployer double for many installations at once: instead of starting a process it registers the
 * generation itself, as a runtime would. Versions in `broken` never register (their runtime is gone
 * at once, so the installer fails them); providers in `hanging` hang in `apply` until `release()`.
 */
export class RegisteringDeployer implements Deployer {
  readonly kind = 'registering-double';
  readonly applied: Array<{ installationId: string; name: string; generation: number; version: string; at: number }> = [];
  private readonly runs = new Map<string, Run[]>();
  private releaseHung: Array<() => void> = [];

  constructor(private readonly options: { broken?: Set<string>; hanging?: Set<string> } = {}) {}

  async apply(desired: DesiredDeployment): Promise<void> {
    this.applied.push({ installationId: desired.installationId, name: desired.name, generation: desired.generation, version: desired.version, at: Date.now() });
    if (this.options.hanging?.has(desired.name)) await new Promise<void>((resolve) => this.releaseHung.push(resolve));
    const up = !this.options.broken?.has(desired.version);
    const runs = (this.runs.get(desired.installationId) ?? []).filter((r) => r.generation !== desired.generation);
    this.runs.set(desired.installationId, [...runs, { generation: desired.generation, version: desired.version, up }]);
    if (up) void this.register(desired);
  }

  async retire(installationId: string, keepGeneration: number): Promise<void> {
    this.runs.set(installationId, (this.runs.get(installationId) ?? []).filter((r) => r.generation >= keepGeneration));
  }

  async stopGeneration(installationId: string, generation: number): Promise<void> {
    this.runs.set(installationId, (this.runs.get(installationId) ?? []).filter((r) => r.generation !== generation));
  }

  async remove(installationId: string): Promise<void> {
    this.runs.delete(installationId);
  }

  async status(installationId: string): Promise<ObservedDeployment | undefined> {
    const newest = [...(this.runs.get(installationId) ?? [])].sort((a, b) => b.generation - a.generation)[0];
    if (!newest) return undefined;
    return {
      deployment_name: `double-${installationId}-g${newest.generation}`,
      generation: newest.generation,
      status: newest.up ? 'available' : 'failed',
      available_replicas: newest.up ? 1 : 0,
      ready_replicas: newest.up ? 1 : 0,
      image: 'double',
      message: newest.up ? null : `version ${newest.version} never starts`,
    };
  }

  release(): void {
    for (const resolve of this.releaseHung.splice(0)) resolve();
  }

  async close(): Promise<void> {
    this.release();
  }

  private async register(desired: DesiredDeployment): Promise<void> {
    const body = { installation_id: desired.installationId, generation: desired.generation, version: desired.version, endpoint: null };
    for (let attempt = 0; attempt < 50; attempt++) {
      const response = await fetch(`${desired.storeUrl}/runtime/registrations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${desired.registrationToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).catch(() => undefined);
      if (response && response.status < 300) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
