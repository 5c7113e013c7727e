import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sizeThreadPool, threadPoolSize } from '../src/entry/thread-pool.js';
import { freePort } from './support/ports.js';
import { serverOutput } from './support/spawned.js';

/**
 * libuv's thread pool sized to the password hashes by the server's CommonJS entries, before
 * Node starts it (src/entry/thread-pool.ts; issue #21: each hashing thread keeps its 19 MiB).
 */

describe('the thread pool size', () => {
  it('is the hashes that may run at once: two by default, at least two', () => {
    expect(threadPoolSize({})).toBe(2);
    expect(threadPoolSize({ PASSWORD_HASH_CONCURRENCY: '6' })).toBe(6);
    expect(threadPoolSize({ PASSWORD_HASH_CONCURRENCY: '1' })).toBe(2);
    // 0 is automatic; what is not a number is the configuration's to refuse, not ours.
    expect(threadPoolSize({ PASSWORD_HASH_CONCURRENCY: '0' })).toBe(2);
    expect(threadPoolSize({ PASSWORD_HASH_CONCURRENCY: 'many' })).toBe(2);
  });

  it("leaves the operator's UV_THREADPOOL_SIZE alone", () => {
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '16' })).toBeUndefined();
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '1', PASSWORD_HASH_CONCURRENCY: '4' })).toBeUndefined();
  });

  it('sets it in the environment the process starts its pool from', () => {
    const env: NodeJS.ProcessEnv = { PASSWORD_HASH_CONCURRENCY: '3' };
    sizeThreadPool(env);
    expect(env.UV_THREADPOOL_SIZE).toBe('3');
    sizeThreadPool(env);
    expect(env.UV_THREADPOOL_SIZE).toBe('3');
  });
});

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/entry/latchkey.cjs');

/** `latchkey serve` on a fresh PGlite directory; its thread count once it listens. */
async function serveThreads(extraEnv: Record<string, string>): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-pool-'));
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    child = spawn(process.execPath, [bin, 'serve'], {
      cwd: dataDir,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: join(dataDir, 'data'), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await serverOutput(child).listening;
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
  } finally {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe.runIf(existsSync('/proc/self/status'))('latchkey serve', () => {
  it("starts libuv's pool with two threads, not four, unless told otherwise", async () => {
    const sized = await serveThreads({});
    const libuvDefault = await serveThreads({ UV_THREADPOOL_SIZE: '4' });
    const configured = await serveThreads({ PASSWORD_HASH_CONCURRENCY: '5' });
    expect(libuvDefault - sized).toBe(2);
    expect(configured - sized).toBe(3);
  }, 90_000);
});
