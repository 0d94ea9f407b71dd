import { EffectLog } from './effect-log';
import { findRuntimeByEnvironment, isAlive, processStartTime, processUid } from './proc';
import { Runtime, sleep } from './runtime-process';
import { PidFile, PidFiles } from './runtime-state';

/**
 * Finds the runtime a previous installer process left running for this generation, from its pid
 * file: the process must still be alive, have started at the recorded moment (pids are reused), and
 * run under the recorded uid. Returns undefined (and removes the stale pid file) otherwise.
 * `onExit` runs once the adopted process has gone (polled: it is not our child).
 */
export function adoptRuntime(
  files: PidFiles,
  effects: EffectLog,
  target: { installationId: string; generation: number },
  onExit: (runtime: Runtime) => void,
): Runtime | undefined {
  const { installationId, generation } = target;
  let saved = files.read(installationId, generation);
  if (!saved) return undefined;
  if (saved.pid === null) {
    // Only the intent: the previous installer died around spawn(). The runtime, if it was started,
    // carries its installation and generation in its environment (and runs under the recorded uid).
    const found = findRuntimeByEnvironment(installationId, generation, saved.uid ?? undefined);
    if (found === undefined) {
      files.forget(installationId, generation);
      return undefined;
    }
    saved = { ...saved, pid: found, start_time: processStartTime(found) };
    files.write(installationId, generation, saved);
  }
  const pid = saved.pid ?? -1;
  if (!isSameProcess(pid, saved)) {
    files.forget(installationId, generation);
    return undefined;
  }
  const runtime: Runtime = {
    installationId,
    generation,
    pid,
    image: saved.image,
    uid: saved.uid,
    exited: false,
    stderrTail: [],
    sawOutOfMemory: false,
    stopping: false,
    whenExited: Promise.resolve(),
  };
  runtime.whenExited = (async () => {
    while (isAlive(runtime.pid)) await sleep(100);
    runtime.exited = true;
    // Not our child: its exit status went to the installer that died.
    runtime.exitDescription = 'exited';
    onExit(runtime);
  })();
  if (!saved.effect_recorded) {
    // Its installer died before or just after the start line: write it unless the log has it.
    effects.recordStartOnce(runtime);
    files.write(installationId, generation, { ...saved, effect_recorded: true });
  }
  return runtime;
}

function isSameProcess(pid: number, saved: PidFile): boolean {
  if (!isAlive(pid)) return false;
  if (saved.start_time !== null && processStartTime(pid) !== saved.start_time) return false;
  return saved.uid === null || processUid(pid) === saved.uid;
}
