import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Tests start real processes (openssl, the lmgw-ca CLI); give them room on a busy 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // An accidental `.only` must not silently skip the rest of the suite in CI.
    allowOnly: !process.env.CI,
  },
});
