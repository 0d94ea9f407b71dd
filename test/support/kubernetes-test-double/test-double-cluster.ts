import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubernetesApiTestDouble } from './kubernetes-api-test-double';

export interface TestDoubleCluster {
  double: KubernetesApiTestDouble;
  /** Stops the double and gives KUBECONFIG back its previous value. */
  close(): Promise<void>;
}

/** The Kubernetes API test double, reached the production way: KUBECONFIG names a file pointing at it. */
export async function startTestDoubleCluster(): Promise<TestDoubleCluster> {
  const double = new KubernetesApiTestDouble();
  await double.start();
  const dir = mkdtempSync(path.join(tmpdir(), 'kube-double-'));
  const file = path.join(dir, 'kubeconfig.yaml');
  writeFileSync(file, double.kubeconfig());
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  return {
    double,
    close: async () => {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
      await double.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
