import path from 'node:path';
import { ConfigError, loadConfig } from './app-config';

describe('configuration', () => {
  it('has a default for every setting', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      databaseUrl: undefined,
      eventStoreUrl: undefined,
      databasePoolSize: 20,
      projectionsPoolSize: 0,
      bodyLimitBytes: 1024 * 1024,
      installer: { deployer: 'local-process', concurrency: 8 },
      health: { heartbeatTimeoutMs: 30_000 },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses sizes, lists and URLs', () => {
    const config = loadConfig({
      BODY_LIMIT: '512kb',
      WHEEL_FETCH_ALLOW_HOSTS: ' 127.0.0.1, files.internal ,10.0.0.0/8',
      DATABASE_URL: 'postgres://u:p@db:5432/store',
      EVENTSTORE_URL: 'esdb://127.0.0.1:2113?tls=false',
      DEPLOYER: 'kubernetes',
    });
    expect(config.bodyLimitBytes).toBe(512 * 1024);
    expect(config.wheelFetch.allowHosts).toEqual(['127.0.0.1', 'files.internal', '10.0.0.0/8']);
    expect(config.installer.deployer).toBe('kubernetes');
  });

  it('names every bad value at once, with what it must be', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DEPLOYER: 'nomad', DATABASE_URL: 'mysql://x', BODY_LIMIT: 'lots', RUNTIME_VERSION: 'latest' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/PORT="eighty" must be an integer from 0 to 65535/);
    expect(problems.join('\n')).toMatch(/DEPLOYER="nomad" must be one of local-process, kubernetes/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must use postgres: or postgresql:/);
    expect(problems.join('\n')).toMatch(/BODY_LIMIT="lots" must be a size/);
    expect(problems.join('\n')).toMatch(/RUNTIME_VERSION="latest" must be a semantic version/);
  });

  it('keeps local runtimes in the checkout’s git-ignored .data/ unless told otherwise, with their uids and heartbeat set by the operator', () => {
    const defaults = loadConfig({});
    expect(defaults.installer).toMatchObject({
      runtimeDir: path.resolve(__dirname, '..', '..', '.data', 'runtimes'),
      runtimeUidBase: 200_000,
      runtimeHeartbeatIntervalMs: 2_000,
    });
    const set = loadConfig({ RUNTIME_DIR: '/srv/provider-store/runtimes', RUNTIME_UID_BASE: '500000', RUNTIME_HEARTBEAT_INTERVAL_MS: '250' });
    expect(set.installer).toMatchObject({ runtimeDir: '/srv/provider-store/runtimes', runtimeUidBase: 500_000, runtimeHeartbeatIntervalMs: 250 });
    expect(() => loadConfig({ RUNTIME_UID_BASE: '0' })).toThrow(/RUNTIME_UID_BASE="0" must be an integer from 1000/);
    expect(() => loadConfig({ RUNTIME_HEARTBEAT_INTERVAL_MS: '5' })).toThrow(/RUNTIME_HEARTBEAT_INTERVAL_MS="5" must be an integer from 10/);
  });
});
