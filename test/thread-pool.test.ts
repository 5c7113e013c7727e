import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { poolNiceness, sizeThreadPool, threadPoolSize } from '../src/entry/thread-pool.js';
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

  it('PASSWORD_HASH_NICENESS: 19 unless set; what the configuration refuses counts as unset', () => {
    expect(poolNiceness({})).toBe(19);
    expect(poolNiceness({ PASSWORD_HASH_NICENESS: '0' })).toBe(0);
    expect(poolNiceness({ PASSWORD_HASH_NICENESS: '7' })).toBe(7);
    expect(poolNiceness({ PASSWORD_HASH_NICENESS: '20' })).toBe(19);
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

/** Each thread's niceness (proc(5): field 19 of /proc/PID/task/TID/stat), the main thread first. */
function threadNiceness(pid: number): number[] {
  const ids = readdirSync(`/proc/${pid}/task`).sort((a, b) => Number(a) - Number(b));
  return ids.map((id) => {
    const stat = readFileSync(`/proc/${pid}/task/${id}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

/** `latchkey serve` on a fresh PGlite directory; its threads once it listens. */
async function serveThreads(extraEnv: Record<string, string>): Promise<number> {
  return (await serveProcess(extraEnv, (pid) => threadNiceness(pid))).length;
}

async function serveProcess<T>(extraEnv: Record<string, string>, read: (pid: number) => T): Promise<T> {
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
    return read(child.pid!);
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

  it('runs the pool (the password hashes) at nice 19, the event loop and the rest as started', async () => {
    const niceness = await serveProcess({}, threadNiceness);
    expect(niceness[0]).toBe(0);
    // Two pool threads, and only they.
    expect(niceness.filter((value) => value === 19)).toHaveLength(2);
    expect(niceness.filter((value) => value !== 19 && value !== 0)).toEqual([]);
    // PASSWORD_HASH_NICENESS: another niceness, or 0 for none.
    expect(
      (await serveProcess({ PASSWORD_HASH_NICENESS: '5' }, threadNiceness)).filter((v) => v === 5),
    ).toHaveLength(2);
    expect(await serveProcess({ PASSWORD_HASH_NICENESS: '0' }, threadNiceness)).toEqual(
      niceness.map(() => 0),
    );
  }, 60_000);
});
