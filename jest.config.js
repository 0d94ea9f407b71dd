/** @type {import('jest').Config} */
// ESM-only packages (the Kubernetes client 1.x and its OIDC dependencies, @fastify/static's own
// content-disposition) are compiled to CommonJS for jest, whose module system cannot require ES
// modules; Node itself loads them natively. A package may sit one level down, under its dependent.
const ESM_PACKAGES = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'rfc4648', 'jsonpath-plus', 'content-disposition'];
const transform = {
  '^.+\\.ts$': 'ts-jest',
  '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, checkJs: false, isolatedModules: true } }],
};
const common = {
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns: [`/node_modules/(?!((@[^/]+/)?[^/]+/node_modules/)?(${ESM_PACKAGES.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  maxWorkers: 2,
  // Built by `npm test` (npm run build) before jest runs: PostgreSQL and KurrentDB in containers when
  // a container engine answers, else one line saying why and the embedded server and test double.
  globalSetup: '<rootDir>/dist/test/support/testcontainers-setup.js',
  globalTeardown: '<rootDir>/dist/test/support/testcontainers-teardown.js',
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,projections}/**/*.spec.ts'] },
    { ...common, displayName: 'contract', testMatch: ['<rootDir>/test/contract/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...common, displayName: 'reliability', testMatch: ['<rootDir>/test/reliability/**/*.test.ts'] },
    { ...common, displayName: 'bench', testMatch: ['<rootDir>/bench/**/*.test.ts'] },
  ],
};
