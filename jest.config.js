/** Jest in ESM mode: ts-jest transpiles, Node runs the modules natively. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: 20000,
  // One private redis-server for the suite (TEST_REDIS_URL); tests needing Sentinel or a Cluster start their own.
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
};
