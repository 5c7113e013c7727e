import { beforeAll } from 'vitest';
import { createWasmArgon2Hasher } from '../../src/adapters/password/argon2-wasm.js';
import type { Requester } from '../support/client.js';
import { buildLatchkey, TestClock, useDatabase } from '../support/harness.js';

/**
 * Where the contract tests send their requests. By default: the app in-process on Node, on
 * the test database. With CONTRACT_WORKER_URL (and CONTRACT_WORKER_URL_NO_GRACE, a second
 * worker with REFRESH_REUSE_GRACE=0): workers served by workerd (`wrangler dev`) on
 * PostgreSQL, so the same test bodies hold the edge to the same contract.
 *
 * The tests never move a clock: a worker runs on real time. The Node app's clock is set to
 * the real time at start, so TOTP codes computed from Date.now() are good on both.
 */
export interface Targets {
  runtime: 'node' | 'worker';
  /** The server with the default configuration (reuse grace 10 s). */
  main: Requester;
  /** The same, with REFRESH_REUSE_GRACE=0: a replay is reuse at once. */
  noGrace: Requester;
  /**
   * A server of the other password hasher on the same database: WASM when `main` is native
   * (Node), native when `main` is the worker (WASM).
   */
  otherHasher: Requester;
}

const over = (base: string): Requester => ({
  request: (path, init) => fetch(`${base.replace(/\/+$/, '')}${path}`, init),
});

export function useTargets(): { readonly current: Targets } {
  const workerUrl = process.env.CONTRACT_WORKER_URL;
  const database = workerUrl ? undefined : useDatabase();
  let targets: Targets | undefined;
  beforeAll(async () => {
    if (workerUrl) {
      const noGraceUrl = process.env.CONTRACT_WORKER_URL_NO_GRACE;
      const databaseUrl = process.env.CONTRACT_DATABASE_URL;
      if (!noGraceUrl || !databaseUrl) {
        throw new Error('CONTRACT_WORKER_URL needs CONTRACT_WORKER_URL_NO_GRACE and CONTRACT_DATABASE_URL');
      }
      const { openPostgres } = await import('../../src/adapters/db/postgres.js');
      const opened = openPostgres(databaseUrl, { max: 4 });
      const node = await buildLatchkey({ db: opened.db } as never, { clock: realTime() });
      targets = {
        runtime: 'worker',
        main: over(workerUrl),
        noGrace: over(noGraceUrl),
        otherHasher: node.app,
      };
      return;
    }
    const clock = realTime();
    const main = await buildLatchkey(database!.current, { clock });
    const noGrace = await buildLatchkey(database!.current, { clock, env: { REFRESH_REUSE_GRACE: '0' } });
    const wasm = await buildLatchkey(database!.current, {
      clock,
      hasher: createWasmArgon2Hasher(main.config.argon2),
    });
    targets = { runtime: 'node', main: main.app, noGrace: noGrace.app, otherHasher: wasm.app };
  });
  return {
    get current() {
      if (!targets) throw new Error('the targets are set up in beforeAll');
      return targets;
    },
  };
}

/** A clock that follows real time (TestClock frozen at a moment would drift from TOTP codes). */
function realTime(): TestClock {
  const clock = new TestClock(new Date());
  clock.now = () => new Date();
  return clock;
}
