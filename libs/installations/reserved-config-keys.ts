/**
 * Config keys a tenant may not set. A tenant's `config` becomes its runtime's environment; these names
 * steer the dynamic loader, the interpreters or the platform's own runtime, so accepting one would let
 * a tenant run code in, or redirect, a process the platform starts (an `NODE_OPTIONS=--import=…` ran as
 * the installer's user before this list existed). The platform sets what the runtime needs itself.
 */
export const RESERVED_CONFIG_PREFIXES: readonly string[] = [
  'LD_', // dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT …
  'DYLD_',
  'NODE_', // NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS …
  'NPM_',
  'PYTHON', // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME …
  'PIP_',
  'UV_',
  'VIRTUAL_ENV',
  'PROVIDER_STORE_', // the platform's contract with the runtime
  'PROVIDER_', // PROVIDER_WHEEL_URL and friends
  'OTEL_',
  'GCONV_',
  'MALLOC_',
  'GLIBC_',
];

export const RESERVED_CONFIG_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
  'PWD',
  'IFS',
  'ENV',
  'BASH_ENV',
  'PERL5LIB',
  'PERL5OPT',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'HEARTBEAT_INTERVAL_MS', // read by the bundled runtime
];

/** Whether a tenant may use `key` in config. Case-insensitive: some loaders read lower-case names too. */
export function isReservedConfigKey(key: string): boolean {
  const upper = key.toUpperCase();
  return RESERVED_CONFIG_NAMES.includes(upper) || RESERVED_CONFIG_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/** The reserved keys among `config`'s, in the order given. */
export function reservedKeysIn(config: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(config).filter(isReservedConfigKey);
}
