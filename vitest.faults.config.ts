import { defineConfig } from 'vitest/config';

/**
 * Fault tests (`npm run test:faults`): the real server as a child process on a private
 * PostgreSQL cluster, killed and stopped on purpose. Slow, so kept out of `npm test`
 * (whose config includes only test/**\/*.test.ts); one file at a time.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
