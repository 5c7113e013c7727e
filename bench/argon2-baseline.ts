import { createHash } from 'node:crypto';
import argon2 from 'argon2';

/**
 * The bare side of the login benchmark: argon2id verifications per second with the native
 * addon (libuv's thread pool, UV_THREADPOOL_SIZE or 4 threads) at `concurrency` verifications
 * in flight, on a hash made with the configured parameters: what a login cannot beat.
 */
export async function runArgon2Verifications(input: {
  params: { memoryKib: number; timeCost: number; parallelism: number };
  password: string;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
}): Promise<{ concurrency: number; seconds: number; verifications: number; perSecond: number }> {
  const hash = await argon2.hash(input.password, {
    type: argon2.argon2id,
    memoryCost: input.params.memoryKib,
    timeCost: input.params.timeCost,
    parallelism: input.params.parallelism,
  });
  let measuring = false;
  let stop = false;
  let count = 0;
  const loop = async () => {
    while (!stop) {
      if (!(await argon2.verify(hash, input.password))) throw new Error('argon2 verify failed');
      if (measuring) count++;
    }
  };
  const loops = Array.from({ length: input.concurrency }, loop);
  await new Promise((resolve) => setTimeout(resolve, input.warmupSeconds * 1000));
  measuring = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, input.seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(loops);
  return {
    concurrency: input.concurrency,
    seconds: elapsed,
    verifications: count,
    perSecond: count / elapsed,
  };
}

/**
 * Diagnostic for the storm block: the latency of one small WebCrypto SHA-256 (which Node runs
 * on libuv's thread pool, like argon2) and of the same hash with synchronous node:crypto, on
 * an idle pool and with `inFlight` argon2id verifications queued on it. The refresh path
 * awaits WebCrypto several times (successor HMAC, two SHA-256, the JWT signature).
 */
export async function probeThreadPool(input: {
  params: { memoryKib: number; timeCost: number; parallelism: number };
  password: string;
  inFlight: number;
  seconds: number;
}) {
  const hash = await argon2.hash(input.password, {
    type: argon2.argon2id,
    memoryCost: input.params.memoryKib,
    timeCost: input.params.timeCost,
    parallelism: input.params.parallelism,
  });
  const data = new TextEncoder().encode(`lkr_${'x'.repeat(43)}`);
  const measure = async (seconds: number) => {
    const web: number[] = [];
    const sync: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (performance.now() < deadline) {
      let start = performance.now();
      await crypto.subtle.digest('SHA-256', data);
      web.push(performance.now() - start);
      start = performance.now();
      createHash('sha256').update(data).digest();
      sync.push(performance.now() - start);
      await new Promise((done) => setTimeout(done, 5));
    }
    const pct = (values: number[], p: number) =>
      values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;
    return {
      samples: web.length,
      webCryptoMs: { p50: pct(web, 50), p99: pct(web, 99) },
      nodeCryptoSyncMs: { p50: pct(sync, 50), p99: pct(sync, 99) },
    };
  };
  const idle = await measure(Math.min(2, input.seconds));
  let stop = false;
  const loops = Array.from({ length: input.inFlight }, async () => {
    while (!stop) await argon2.verify(hash, input.password);
  });
  await new Promise((done) => setTimeout(done, 500));
  const loaded = await measure(input.seconds);
  stop = true;
  await Promise.all(loops);
  return { inFlight: input.inFlight, idle, loaded };
}
