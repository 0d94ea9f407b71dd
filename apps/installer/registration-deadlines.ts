import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { installationStream } from '../../libs/installations/installation-identity';
import { mapBounded } from './batch-order';
import { Cause, InstallationEffects } from './installation-effects';

export interface RegistrationDeadlinesOptions {
  registrationTimeoutMs: number;
  /** How often the read model is scanned for deploys stuck in `processing` (those started before a restart). */
  scanIntervalMs?: number;
  /** Whether this replica is the active installer; the clock acts only then. */
  isActive: () => boolean;
}

/** How often the deployer is asked whether an awaited runtime is still there. */
const EXIT_CHECK_INTERVAL_MS = 1_000;
/** Deployer status reads in flight at once while looking for runtimes gone before registering. */
const EXIT_CHECK_CONCURRENCY = 8;

interface Deadline {
  installationId: string;
  generation: number;
  at: number;
  cause: Cause;
}

/**
 * Waiting for a runtime to register is not done inline: each applied deploy gets a deadline, and a
 * clock of its own turns silence past it into DeployFailed. Deploys started before a restart have no
 * deadline in memory; a periodic scan of the read model finds them.
 */
export class RegistrationDeadlines {
  private readonly deadlines = new Map<string, Deadline>();
  private ticker?: NodeJS.Timeout;
  private ticking = false;
  private checkingExits = false;
  private readonly enforcing = new Set<string>();
  private lastScan = 0;
  private lastExitCheck = 0;

  constructor(
    private readonly effects: InstallationEffects,
    private readonly pool: Pool,
    private readonly options: RegistrationDeadlinesOptions,
  ) {}

  /** The deploy of `generation` started at `startedAt`: it must register within the timeout. */
  expect(stream: string, deploy: { installationId: string; generation: number; startedAt: string; cause: Cause }): void {
    const at = Date.parse(deploy.startedAt) + this.options.registrationTimeoutMs;
    this.deadlines.set(stream, { installationId: deploy.installationId, generation: deploy.generation, at, cause: deploy.cause });
  }

  /** A runtime of `generation` registered: its deadline, and any older one, is met. */
  met(stream: string, generation: number): void {
    const deadline = this.deadlines.get(stream);
    if (deadline && deadline.generation <= generation) this.deadlines.delete(stream);
  }

  /** The installation is going away: nothing of it is awaited any more. */
  cancel(stream: string): void {
    this.deadlines.delete(stream);
  }

  /** This replica stopped being the active installer: the next one keeps time from the log. */
  clear(): void {
    this.deadlines.clear();
  }

  start(): void {
    if (this.ticker) return;
    const every = Math.min(1000, Math.max(20, Math.floor(this.options.registrationTimeoutMs / 10)));
    this.ticker = setInterval(() => void this.tick(), every);
    this.ticker.unref();
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.options.isActive()) return;
    this.ticking = true;
    try {
      const now = this.effects.clock().getTime();
      // Asking the deployer is slow (a cluster's API): it runs beside the deadlines, never before them.
      if (now - this.lastExitCheck >= EXIT_CHECK_INTERVAL_MS && !this.checkingExits) {
        this.lastExitCheck = now;
        this.checkingExits = true;
        void this.failGoneRuntimes().finally(() => (this.checkingExits = false));
      }
      for (const [stream, deadline] of [...this.deadlines]) {
        if (deadline.at > now) continue;
        this.deadlines.delete(stream);
        this.enforce(stream, deadline.generation, deadline.cause, () => this.deadlines.set(stream, { ...deadline, at: now + 1000 }));
      }
      const scanEvery = this.options.scanIntervalMs ?? Math.max(1000, Math.min(30_000, Math.floor(this.options.registrationTimeoutMs / 2)));
      if (now - this.lastScan >= scanEvery) {
        this.lastScan = now;
        await this.scanStuckDeploys().catch((error: unknown) => this.effects.logger.warn({ err: errorMessage(error) }, 'watchdog scan failed'));
      }
    } finally {
      this.ticking = false;
    }
  }

  /**
   * A runtime that exited (or a rollout the deployer reports failed) before registering will not
   * register: its deploy fails now rather than at the deadline, with the deployer's reason.
   */
  private async failGoneRuntimes(): Promise<void> {
    await mapBounded([...this.deadlines], EXIT_CHECK_CONCURRENCY, async ([stream, deadline]) => {
      const reason = await this.goneReason(deadline).catch(() => undefined);
      if (reason === undefined) return;
      await this.effects
        .exclusively(stream, async () => {
          if (this.deadlines.get(stream) !== deadline) return;
          const { state } = await this.effects.load(stream);
          if (state.status !== 'present' || state.lifecycle !== 'processing' || state.generation !== deadline.generation) return;
          this.deadlines.delete(stream);
          await this.effects.failDeploy(stream, deadline.installationId, deadline.generation, `runtime stopped before registering: ${reason}`, deadline.cause);
        })
        .catch((error: unknown) => this.effects.logger.warn({ stream, err: errorMessage(error) }, 'failed runtime could not be recorded; the deadline still stands'));
    });
  }

  /** Why the awaited generation's runtime is gone, or undefined while it is there. */
  private async goneReason(deadline: Deadline): Promise<string | undefined> {
    const observed = await this.effects.deployer.status(deadline.installationId);
    if (!observed || observed.generation < deadline.generation) return `no runtime of generation ${deadline.generation} is left`;
    if (observed.generation === deadline.generation && observed.status === 'failed') return observed.message ?? 'the deployer reports it failed';
    return undefined;
  }

  private async scanStuckDeploys(): Promise<void> {
    const { rows } = await this.pool.query<{ tenant: string; prefix: string; name: string }>(
      `SELECT tenant, prefix, name FROM installed_providers
        WHERE lifecycle_state = 'processing' AND updated_at < now() - ($1::double precision * interval '1 millisecond')
        ORDER BY updated_at LIMIT 500`,
      [this.options.registrationTimeoutMs],
    );
    for (const row of rows) {
      const stream = installationStream(row.tenant, { prefix: row.prefix, name: row.name });
      if (!this.deadlines.has(stream)) this.enforce(stream);
    }
  }

  /**
   * Times a deploy out without waiting for it: the installation's lock may be held by a deploy that
   * hangs, and that must not stop the clock for every other installation's deadline.
   */
  private enforce(stream: string, generation?: number, cause?: Cause, retry?: () => void): void {
    if (this.enforcing.has(stream)) return;
    this.enforcing.add(stream);
    void this.timeOut(stream, generation, cause)
      .catch((error: unknown) => {
        this.effects.logger.warn({ stream, err: errorMessage(error) }, 'registration timeout could not be recorded; retrying');
        retry?.();
      })
      .finally(() => this.enforcing.delete(stream));
  }

  /** Fails the current deploy if, by the log, it is still waiting past its deadline. */
  private timeOut(stream: string, generation?: number, cause?: Cause): Promise<void> {
    return this.effects.exclusively(stream, async () => {
      const { state } = await this.effects.load(stream);
      if (state.status !== 'present' || state.lifecycle !== 'processing') return;
      if (state.deployedGeneration !== state.generation || (generation !== undefined && generation !== state.generation)) return;
      const startedAt = state.deployStartedAt ?? state.updatedAt;
      if (Date.parse(startedAt) + this.options.registrationTimeoutMs > this.effects.clock().getTime()) {
        this.expect(stream, { installationId: state.installationId, generation: state.generation, startedAt, cause: cause ?? { correlationId: randomUUID(), causationId: null } });
        return;
      }
      const message = `no registration within ${this.options.registrationTimeoutMs} ms`;
      await this.effects.failDeploy(stream, state.installationId, state.generation, message, cause);
    });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
