import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DesiredDeployment, runtimeEnvironment } from '../deployer.port';
import { EffectLine, LocalProcessDeployer } from './local-process.deployer';

/*
 * An installer can be SIGKILLed at any instant around spawn(). These cases recreate what it leaves
 * behind at each instant, with real processes, and check that the next installer's deployer neither
 * starts a second copy nor loses or repeats the start in its effect log.
 */

const IDLE = `${process.execPath} -e setInterval(()=>{},1e3)`;

function desired(installationId: string, generation = 1): DesiredDeployment {
  return {
    installationId,
    tenant: 'acme',
    prefix: 'acme',
    name: 'widgets',
    generation,
    version: '1.0.0',
    runtimeVersion: '1.0.0',
    wheelUrl: 'https://example.invalid/w.whl',
    wheelSha256: null,
    packageName: null,
    entrypoint: null,
    config: {},
    resourceTier: 'free',
    registrationToken: 'secret-token',
    storeUrl: 'http://127.0.0.1:1',
  };
}

describe('LocalProcessDeployer after an installer died around spawn()', () => {
  let dir: string;
  let runtimeDir: string;
  let effectLog: string;
  const strays: ChildProcess[] = [];
  const deployers: LocalProcessDeployer[] = [];

  const deployer = () => {
    const d = new LocalProcessDeployer({ logger: pino({ level: 'silent' }), runtimeCommand: IDLE, effectLogFile: effectLog, runtimeDir, startupGraceMs: 50 });
    deployers.push(d);
    return d;
  };
  const effects = (): EffectLine[] =>
    existsSync(effectLog)
      ? readFileSync(effectLog, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as EffectLine)
      : [];
  /** What the dead installer had spawned: a runtime carrying the generation's environment. */
  const strayRuntime = async (d: DesiredDeployment): Promise<number> => {
    const [file, ...args] = IDLE.split(' ');
    const child = spawn(file, args, { env: { PATH: process.env.PATH, ...runtimeEnvironment(d) }, stdio: 'ignore' });
    strays.push(child);
    await new Promise((resolve) => child.once('spawn', resolve));
    return child.pid as number;
  };
  const pidFile = (d: DesiredDeployment) => path.join(runtimeDir, 'state', `${d.installationId}.g${d.generation}.json`);
  /** The pid file a dead installer left: only the intent (`null`), or the pid without the mark. */
  const leavePidFile = (d: DesiredDeployment, pid: number | null) => {
    const startTime = pid === null ? null : readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    mkdirSync(path.dirname(pidFile(d)), { recursive: true });
    writeFileSync(pidFile(d), JSON.stringify({ pid, start_time: startTime, image: 'local-process:runtime-command@1.0.0', uid: null }));
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'local-deployer-'));
    runtimeDir = path.join(dir, 'runtimes');
    effectLog = path.join(dir, 'effects.jsonl');
  });

  afterEach(async () => {
    await Promise.all(deployers.splice(0).map((d) => d.close()));
    for (const child of strays.splice(0)) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('given only the intent and the runtime running, when the generation is applied again, then the runtime is adopted and its start logged once', async () => {
    const d = desired(randomUUID());
    const pid = await strayRuntime(d);
    leavePidFile(d, null);

    const next = deployer();
    await next.apply(d);

    expect(next.running(d.installationId)).toEqual([{ generation: 1, pid }]);
    expect(effects().filter((e) => e.action === 'start')).toEqual([expect.objectContaining({ installation_id: d.installationId, generation: 1, pid })]);
    expect(JSON.parse(readFileSync(pidFile(d), 'utf8'))).toMatchObject({ pid, effect_recorded: true });

    // Another installer (the first still holds it: close() would stop it) adopts from the completed
    // pid file and logs nothing more.
    const third = deployer();
    expect((await third.status(d.installationId))?.status).toBe('available');
    expect(effects().filter((e) => e.action === 'start')).toHaveLength(1);
  });

  it('given only the intent and no runtime, when the generation is applied again, then exactly one runtime starts', async () => {
    const d = desired(randomUUID());
    leavePidFile(d, null);

    const next = deployer();
    await next.apply(d);

    const running = next.running(d.installationId);
    expect(running).toHaveLength(1);
    expect(effects().filter((e) => e.action === 'start').map((e) => e.pid)).toEqual([running[0].pid]);
  });

  it('given the pid file but no start line, when another installer looks, then the start is logged once', async () => {
    const d = desired(randomUUID());
    const pid = await strayRuntime(d);
    leavePidFile(d, pid);

    const next = deployer();
    await next.apply(d);
    await next.apply(d);

    expect(next.running(d.installationId)).toEqual([{ generation: 1, pid }]);
    expect(effects().filter((e) => e.action === 'start').map((e) => e.pid)).toEqual([pid]);
  });

  it('given the pid file and the start line but not the mark, when another installer looks, then nothing is logged twice', async () => {
    const d = desired(randomUUID());
    const pid = await strayRuntime(d);
    leavePidFile(d, pid);
    const line: EffectLine = { installation_id: d.installationId, generation: 1, action: 'start', at: new Date().toISOString(), pid };
    writeFileSync(effectLog, `${JSON.stringify(line)}\n`);

    const next = deployer();
    await next.apply(d);

    expect(next.running(d.installationId)).toEqual([{ generation: 1, pid }]);
    expect(effects()).toHaveLength(1);
  });

  it('when a generation starts normally, then the pid file ends marked and one start is logged', async () => {
    const d = desired(randomUUID());
    const first = deployer();
    await first.apply(d);
    const [{ pid }] = first.running(d.installationId);
    expect(JSON.parse(readFileSync(pidFile(d), 'utf8'))).toMatchObject({ pid, effect_recorded: true });
    expect(effects().map((e) => [e.action, e.pid])).toEqual([['start', pid]]);
    await first.remove(d.installationId);
    expect(existsSync(pidFile(d))).toBe(false);
  });
});
