import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DesiredDeployment } from '../../../apps/installer/deployer.port';
import { LocalProcessDeployer } from '../../../apps/installer/local-process/local-process.deployer';

/*
 * What a tenant could learn from, or leave behind on, the host: the deployment's `image` named a host
 * path, runtime pid files lived in one `/tmp` folder shared by every instance on the host and stayed
 * after a clean stop, and a failed generation kept running. Real child processes, no API needed.
 */

const IDLE = `${process.execPath} -e setInterval(()=>{},1e3)`;

function desired(installationId: string, tenant: string, generation: number): DesiredDeployment {
  return {
    installationId,
    tenant,
    prefix: tenant,
    name: 'db',
    generation,
    version: `${generation}.0.0`,
    runtimeVersion: '1.0.0',
    wheelUrl: 'https://example.invalid/db.whl',
    wheelSha256: null,
    packageName: null,
    entrypoint: null,
    config: {},
    resourceTier: 'free',
    registrationToken: `token-${generation}`,
    storeUrl: 'http://127.0.0.1:1',
  };
}

/** Every file below `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

export function leftoverAttacks(): void {
  describe('leaks and leftovers', () => {
    let runtimeDir: string;
    let deployer: LocalProcessDeployer;

    beforeAll(() => {
      runtimeDir = mkdtempSync(path.join(tmpdir(), 'leftovers-'));
      deployer = new LocalProcessDeployer({ logger: pino({ level: 'silent' }), runtimeCommand: IDLE, runtimeDir, startupGraceMs: 50 });
    });

    afterAll(async () => {
      await deployer.close();
      rmSync(runtimeDir, { recursive: true, force: true });
    });

    it('no host path in the deployment, runtime state only under the instance’s own folder and gone after a stop; a failed generation stops while another tenant’s keeps running', async () => {
      const mallory = randomUUID();
      const victim = randomUUID();
      await deployer.apply(desired(victim, 'victim', 1));
      await deployer.apply(desired(mallory, 'mallory', 1));
      await deployer.apply(desired(mallory, 'mallory', 2));

      const observed = await deployer.status(mallory);
      expect(observed?.image).toBeDefined();
      // Neither the command nor any folder of the host: the platform's own name for the runtime.
      expect(observed?.image).not.toMatch(/\/(usr|root|work|tmp|home|opt)\b|node_modules|dist\//);
      const stateFiles = filesUnder(runtimeDir);
      expect(stateFiles.some((f) => f.includes(mallory))).toBe(true);

      // Mallory's second generation fails: it is stopped, its first keeps running, and so does the victim's runtime.
      await deployer.stopGeneration(mallory, 2);
      expect(deployer.running(mallory).map((r) => r.generation)).toEqual([1]);
      expect(deployer.running(victim).map((r) => r.generation)).toEqual([1]);

      // A clean stop leaves nothing of mallory's runtimes on disk.
      await deployer.remove(mallory);
      expect(deployer.running(mallory)).toEqual([]);
      expect(filesUnder(runtimeDir).filter((f) => f.includes(mallory))).toEqual([]);
      expect(deployer.running(victim).map((r) => r.generation)).toEqual([1]);
      await deployer.remove(victim);
      expect(filesUnder(runtimeDir).filter((f) => f.includes(victim))).toEqual([]);
    });
  });
}
