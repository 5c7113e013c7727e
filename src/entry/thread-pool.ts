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
