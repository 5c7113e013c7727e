import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // PGlite is heavy; two workers match the two cores of CI machines.
    maxWorkers: 2,
    // The files of a worker share its loaded modules: each file loading the server's modules
    // anew cost a fifth of each run on 2 vCPU (the PGlite suite: 442 s with it, 348 s without). A file must
    // then leave the process as it found it (test/verify/webcrypto-engine.test.ts shows how).
    isolate: false,
  },
});
