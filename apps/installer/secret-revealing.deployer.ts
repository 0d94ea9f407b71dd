import { InstallationSecrets } from '../../libs/secrets/installation-secrets';
import { Deployer, DesiredDeployment, ObservedDeployment } from './deployer.port';

/** A deployer that can destroy an installation's secrets once nothing will run it again. */
export interface ShredsSecrets {
  shredSecrets(installationId: string): Promise<void>;
}

export function shredsSecrets(deployer: Deployer): deployer is Deployer & ShredsSecrets {
  return 'shredSecrets' in deployer && typeof deployer.shredSecrets === 'function';
}

/**
 * Opens an installation's sealed config values just before the deployer gets them, so plaintext
 * exists only in this call and in what the deployer hands the runtime (its environment, or a
 * Kubernetes Secret). Every other operation passes through.
 */
export class SecretRevealingDeployer implements Deployer, ShredsSecrets {
  readonly kind: string;

  constructor(
    private readonly inner: Deployer,
    private readonly secrets: InstallationSecrets,
  ) {
    this.kind = inner.kind;
  }

  async apply(desired: DesiredDeployment): Promise<void> {
    const keys = desired.secretConfigKeys ?? [];
    if (keys.length === 0) return this.inner.apply(desired);
    const sealed = Object.fromEntries(keys.filter((k) => desired.config[k] !== undefined).map((k) => [k, desired.config[k]]));
    const revealed = await this.secrets.reveal(desired.installationId, sealed);
    return this.inner.apply({ ...desired, config: { ...desired.config, ...revealed }, secretConfigKeys: [] });
  }

  /** Crypto-shredding: the data key is deleted, and every sealed value of the installation with it. */
  async shredSecrets(installationId: string): Promise<void> {
    await this.secrets.shred(installationId);
  }

  retire(installationId: string, keepGeneration: number): Promise<void> {
    return this.inner.retire(installationId, keepGeneration);
  }

  async stopGeneration(installationId: string, generation: number): Promise<void> {
    await this.inner.stopGeneration(installationId, generation);
  }

  remove(installationId: string): Promise<void> {
    return this.inner.remove(installationId);
  }

  status(installationId: string): Promise<ObservedDeployment | undefined> {
    return this.inner.status(installationId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
