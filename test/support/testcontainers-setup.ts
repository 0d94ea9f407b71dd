import type { StartedTestContainer } from 'testcontainers';

/**
 * jest's globalSetup (`npm test` builds it to dist/ first): when a container engine answers, starts
 * PostgreSQL and KurrentDB with testcontainers — the tests' databases are then made on that
 * PostgreSQL, and the EventStoreDB contract and e2e suites run against the real KurrentDB
 * (TEST_KURRENTDB_URL). When none answers, says why once and leaves the embedded PostgreSQL and the
 * EventStoreDB test double in place, so CI without Docker stays green.
 */
export const KURRENTDB_IMAGE = 'kurrentplatform/kurrentdb:25.1.0';
export const POSTGRES_IMAGE = 'postgres:17-alpine';
const PROBE_TIMEOUT_MS = 3_000;
const KURRENTDB_PORT = 2113;

interface StartedContainers {
  containers: StartedTestContainer[];
}

const state = globalThis as typeof globalThis & { providerStoreContainers?: StartedContainers };

/** Why no container engine can be used, or undefined when one answers. */
export async function containerRuntimeUnavailable(): Promise<string | undefined> {
  if (process.env.TESTCONTAINERS_DISABLED === '1') return 'TESTCONTAINERS_DISABLED=1';
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]).finally(() => clearTimeout(timer));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.split('\n')[0] : String(error);
  }
}

export default async function setup(): Promise<void> {
  const unavailable = await containerRuntimeUnavailable();
  if (unavailable) {
    process.stdout.write(
      `\ntestcontainers: no container engine (${unavailable}); using the embedded PostgreSQL and the EventStoreDB test double\n`,
    );
    return;
  }
  const { GenericContainer, Wait } = await import('testcontainers');
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const [postgres, kurrentdb] = await Promise.all([
    new PostgreSqlContainer(POSTGRES_IMAGE).start(),
    new GenericContainer(KURRENTDB_IMAGE)
      .withEnvironment({ KURRENTDB_INSECURE: 'true', KURRENTDB_MEM_DB: 'true', KURRENTDB_RUN_PROJECTIONS: 'None' })
      .withExposedPorts(KURRENTDB_PORT)
      .withWaitStrategy(Wait.forHttp('/health/live', KURRENTDB_PORT).forStatusCode(204))
      .start(),
  ]);
  state.providerStoreContainers = { containers: [postgres, kurrentdb] };
  // Workers start after this and inherit the environment.
  process.env.DATABASE_URL = postgres.getConnectionUri();
  process.env.TEST_KURRENTDB_URL = `kurrentdb://${kurrentdb.getHost()}:${kurrentdb.getMappedPort(KURRENTDB_PORT)}?tls=false`;
  process.stdout.write(`\ntestcontainers: PostgreSQL (${POSTGRES_IMAGE}) and KurrentDB (${KURRENTDB_IMAGE}) started\n`);
}

export async function teardown(): Promise<void> {
  const started = state.providerStoreContainers;
  state.providerStoreContainers = undefined;
  await Promise.all((started?.containers ?? []).map((c) => c.stop()));
}
