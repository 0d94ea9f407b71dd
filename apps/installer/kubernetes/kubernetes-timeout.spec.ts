import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { KubernetesDeployer } from './kubernetes.deployer';

/** An API server that accepts every request and never answers. */
function silentApiServer(): Promise<Server> {
  const server = createServer(() => undefined);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function kubeConfigFor(server: Server): KubeConfig {
  const { port } = server.address() as AddressInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'silent', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'silent', user: 'u' }],
    currentContext: 'c',
  });
  return kubeConfig;
}

describe('kubernetes deployer: every call has a timeout', () => {
  let server: Server;
  beforeAll(async () => (server = await silentApiServer()));
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('a status read against an API server that never answers fails after KUBERNETES_REQUEST_TIMEOUT_MS', async () => {
    const deployer = new KubernetesDeployer({ namespace: 'ns', runtimeImage: 'img', logger: pino({ level: 'silent' }), kubeConfig: kubeConfigFor(server), requestTimeoutMs: 300 });
    const started = Date.now();
    await expect(deployer.status('7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11')).rejects.toThrow(/(list|watch) Deployments failed/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('so does a removal', async () => {
    const deployer = new KubernetesDeployer({ namespace: 'ns', runtimeImage: 'img', logger: pino({ level: 'silent' }), kubeConfig: kubeConfigFor(server), requestTimeoutMs: 300 });
    const started = Date.now();
    await expect(deployer.remove('7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11')).rejects.toThrow(/kubernetes .* failed/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
