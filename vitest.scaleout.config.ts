import { defineConfig } from 'vitest/config';

/**
 * Scale-out test (`npm run test:scaleout`; CI: .ci/scaleout.sh): three instances of the real
 * server on one PostgreSQL behind HAProxy, one killed with SIGKILL mid-run and restarted.
 * Its file is test/scaleout/*.test.ts, which the default config's include also matches: it
 * runs only with LATCHKEY_SCALEOUT=1, set here, and is skipped with a message in `npm test`.
 * Slow and CPU-hungry (three servers on two cores): one file at a time, generous timeouts.
 */
export default defineConfig({
  test: {
    include: ['test/scaleout/**/*.test.ts'],
    env: { LATCHKEY_SCALEOUT: '1' },
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
