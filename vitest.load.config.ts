import { defineConfig } from 'vitest/config';

/**
 * Load test (`npm run test:load`): the real server as a child process on a fresh PostgreSQL
 * database, a few hundred concurrent virtual users on loopback, then an audit of the
 * database. Slow and CPU-hungry, so kept out of `npm test` (whose config includes only
 * test/**\/*.test.ts); one file at a time, with generous timeouts.
 */
export default defineConfig({
  test: {
    include: ['test/load/**/*.load.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
