import { readdirSync, stat } from 'node:fs';
import { setPriority } from 'node:os';
import { EnvSchema } from '../config.js';

/** Password hashes at once when nothing is configured (see defaultHashConcurrency). */
export const DEFAULT_HASHES = 2;

/**
 * libuv's thread pool, sized to the password hashes before Node starts it (issue #21).
 *
 * Each thread that runs an argon2id hash keeps its 19 MiB buffer after the hash: glibc raises
 * its mmap threshold to the size of the first such block freed, and each thread has its own
 * malloc arena. libuv hands a job to whichever thread is free, so with the default pool of four
 * and two hashes at a time, all four threads end up holding a buffer: 76 MiB of an idle
 * server's 220 MiB (BENCHMARKS.md). With a pool as large as the hashes that may run at once,
 * only those threads hold one. On Node nothing else of a request uses the pool: the token
 * crypto is synchronous (src/lib/crypto.ts); DNS lookups, file writes and the rare WebCrypto call
 * wait at most one hash when every thread is hashing.
 *
 * The pool starts at the first job, and an ES module entry is read through it, so the size
 * has to be in the environment before the first `import`: hence the CommonJS entries
 * (serve.cts, latchkey.cts) that load this module synchronously (`require` of an ES module,
 * Node 20.19 and later), set it, and only then import the server. An operator's own
 * UV_THREADPOOL_SIZE always wins.
 */
export function threadPoolSize(env: NodeJS.ProcessEnv): number | undefined {
  if (env.UV_THREADPOOL_SIZE !== undefined && env.UV_THREADPOOL_SIZE !== '') return undefined;
  // The configuration's own reading of the variable; a value it refuses is its to report (the
  // server exits with its message), so it counts as unset here.
  const parsed = EnvSchema.shape.PASSWORD_HASH_CONCURRENCY.safeParse(env.PASSWORD_HASH_CONCURRENCY);
  // Never fewer than the default two: a one-CPU machine hashes one at a time and keeps a
  // thread for the rest.
  return Math.max(DEFAULT_HASHES, parsed.success ? parsed.data : 0);
}

/** Sets UV_THREADPOOL_SIZE in this process's environment unless the operator set it. */
export function sizeThreadPool(env: NodeJS.ProcessEnv = process.env): void {
  const size = threadPoolSize(env);
  if (size !== undefined) env.UV_THREADPOOL_SIZE = String(size);
}

/**
 * The niceness of libuv's pool threads (Linux): PASSWORD_HASH_NICENESS, 19 unless set (a value
 * the configuration refuses counts as unset here; the server exits with its message).
 */
export function poolNiceness(env: NodeJS.ProcessEnv): number {
  const parsed = EnvSchema.shape.PASSWORD_HASH_NICENESS.safeParse(env.PASSWORD_HASH_NICENESS);
  return parsed.success ? parsed.data : 19;
}

/** This process's thread ids (Linux), or undefined where /proc cannot tell them. */
function threadIds(): Set<string> | undefined {
  try {
    return new Set(readdirSync('/proc/self/task'));
  } catch {
    return undefined;
  }
}

/**
 * Starts libuv's pool now and lowers its threads' priority (PASSWORD_HASH_NICENESS, 19 unless
 * set; Linux), then runs `next`.
 *
 * The pool's threads hash passwords; the main thread answers every other request. Under a login
 * storm (credential stuffing, a thundering herd after an outage) the hashes would take the
 * CPUs from the event loop at equal priority, and a refresh waited behind them: its p99 went
 * from 5 ms to 19-23 ms (BENCHMARKS.md, the storm row). Niced, the hashes get all the CPU the
 * event loop leaves, and the loop gets a CPU as soon as it has work: logins ran at the same rate
 * (44-46/s during the storm), refreshes 1,000-1,100/s before and 1,600/s after, p99 16 ms. On an
 * idle machine nothing changes. Nice counts within the process's cgroup (a container, a
 * systemd service): other services are not slowed or favoured by it.
 * Linux's `setpriority` takes a thread id: only the pool's threads change.
 *
 * libuv creates all its threads at its first job, from the thread that queues it, so they
 * are the threads that appear across that job. If the pool had started already, none appear
 * and nothing changes. Elsewhere than Linux, `next` runs at once.
 */
export function startPoolBelowEventLoop(next: () => void, env: NodeJS.ProcessEnv = process.env): void {
  const niceness = poolNiceness(env);
  const before = threadIds();
  if (!before || niceness === 0) {
    next();
    return;
  }
  // A job for the pool: libuv starts its threads to run it.
  stat('/proc/self', () => {
    for (const id of threadIds() ?? []) {
      if (before.has(id)) continue;
      try {
        setPriority(Number(id), niceness);
      } catch {
        // Not allowed here (a sandbox): the pool runs at the process's priority, as before.
      }
    }
    next();
  });
}
