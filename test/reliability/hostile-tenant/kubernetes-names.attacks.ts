import pino from 'pino';
import { DesiredDeployment } from '../../../apps/installer/deployer.port';
import { KubernetesDeployer } from '../../../apps/installer/kubernetes/kubernetes.deployer';
import { generationName } from '../../../apps/installer/kubernetes/kubernetes-manifests';
import { KubernetesApiTestDouble } from '../../support/kubernetes-test-double/kubernetes-api-test-double';
import { TestDoubleCluster, startTestDoubleCluster } from '../../support/kubernetes-test-double/test-double-cluster';

/*
 * A tenant choosing its organisation and provider names so that `ps-${tenant}-${prefix}-${name}`
 * equals another tenant's: tenant `acme-x` installing `y/z` against tenant `acme` installing `x-y/z`.
 * Before names were hashed, the second apply overwrote the first tenant's Secret (its config and
 * registration token). Run against the Kubernetes API test double (no cluster runs here).
 */

const NS = 'provider-store';

function desired(owner: { tenant: string; prefix: string; name: string; installationId: string }, secret: string): DesiredDeployment {
  return {
    ...owner,
    generation: 1,
    version: '1.0.0',
    runtimeVersion: '1.0.0',
    wheelUrl: 'https://wheels.example.com/pkg-1.0.0-py3-none-any.whl',
    wheelSha256: null,
    packageName: null,
    entrypoint: null,
    config: { DATABASE_PASSWORD: secret },
    resourceTier: 'standard',
    registrationToken: `token-of-${owner.tenant}`,
    storeUrl: 'https://store.example.com',
  };
}

/** A value of a stored Secret, as the API server keeps it (`data`, base64) or as it was sent (`stringData`). */
function secretValue(secret: { data?: Record<string, string>; stringData?: Record<string, string> } | undefined, key: string): string | undefined {
  const plain = secret?.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret?.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

export function kubernetesNameAttacks(): void {
  describe('Kubernetes object names', () => {
    let cluster: TestDoubleCluster;
    let double: KubernetesApiTestDouble;
    let deployer: KubernetesDeployer;

    beforeAll(async () => {
      cluster = await startTestDoubleCluster();
      double = cluster.double;
      deployer = new KubernetesDeployer({ namespace: NS, runtimeImage: 'ghcr.io/provider-store/runtime', logger: pino({ level: 'silent' }) });
    });

    afterAll(async () => {
      await deployer.close();
      await cluster.close();
    });

    it('a tenant whose names join to another tenant’s gets objects of its own; the victim’s Secret and Deployment are untouched', async () => {
      const victim = { tenant: 'acme', prefix: 'x-y', name: 'z', installationId: '22222222-2222-4222-8222-222222222222' };
      const attacker = { tenant: 'acme-x', prefix: 'y', name: 'z', installationId: '11111111-1111-4111-8111-111111111111' };
      await deployer.apply(desired(victim, 'victim-password'));
      await deployer.apply(desired(attacker, 'attacker-password'));

      const victimName = generationName({ ...victim, generation: 1 });
      const attackerName = generationName({ ...attacker, generation: 1 });
      expect(attackerName).not.toBe(victimName);
      for (const name of [victimName, attackerName]) expect(name.length).toBeLessThanOrEqual(63);
      const victimSecret = double.get('secrets', NS, victimName) as { data?: Record<string, string>; stringData?: Record<string, string> } | undefined;
      expect(secretValue(victimSecret, 'DATABASE_PASSWORD')).toBe('victim-password');
      expect(secretValue(victimSecret, 'registration-token')).toBe('token-of-acme');
      expect(double.get('deployments', NS, victimName)?.metadata?.labels).toMatchObject({ 'provider-store/tenant': 'acme' });

      // Removing the attacker's installation leaves the victim's running.
      await deployer.remove(attacker.installationId);
      expect(double.names('deployments', NS)).toEqual([victimName]);
      await deployer.remove(victim.installationId);
    });
  });
}
