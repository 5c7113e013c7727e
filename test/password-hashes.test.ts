import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { describe, expect, it, vi } from 'vitest';
import { createArgon2Hasher } from '../src/adapters/password/argon2-native.js';
import { createWasmArgon2Hasher } from '../src/adapters/password/argon2-wasm.js';
import { defaultHashConcurrency } from '../src/entry/node-runtime.js';

const hashOriginal = argon2.hash.bind(argon2);
const verifyOriginal = argon2.verify.bind(argon2);

/**
 * The two argon2id hashers behind the PasswordHasher port (native on Node, WebAssembly on
 * Workers) read each other's PHC strings: one database serves both runtimes. The worker
 * contract run checks the same across real runtimes (test/contract).
 */
const params = { memoryKib: 19456, timeCost: 2, parallelism: 1 }; // the production defaults
const native = createArgon2Hasher(params);
const wasm = createWasmArgon2Hasher(params);
const password = 'correct horse battery staple ✓';

describe('argon2id across runtimes', () => {
  it('a native hash verifies with the WebAssembly hasher', async () => {
    const hash = await native.hash(password);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,(p=1,t=2|t=2,p=1)\$/);
    expect(await wasm.verify(hash, password)).toBe(true);
    expect(await wasm.verify(hash, `${password}!`)).toBe(false);
    expect(wasm.needsRehash(hash)).toBe(false);
  });

  it('a WebAssembly hash verifies with the native hasher', async () => {
    const hash = await wasm.hash(password);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await native.verify(hash, password)).toBe(true);
    expect(await native.verify(hash, 'wrong')).toBe(false);
    expect(native.needsRehash(hash)).toBe(false);
  });

  it('both refuse junk and other variants, and ask for a rehash when parameters change', async () => {
    for (const hasher of [native, wasm]) {
      expect(await hasher.verify('not a hash', password)).toBe(false);
      expect(await hasher.verify('$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA', password)).toBe(false);
    }
    const cheaper = createWasmArgon2Hasher({ memoryKib: 1024, timeCost: 1, parallelism: 1 });
    const hash = await cheaper.hash(password);
    expect(wasm.needsRehash(hash)).toBe(true);
    expect(native.needsRehash(hash)).toBe(true);
    expect(await wasm.verify(hash, password)).toBe(true);
  });
});

describe('native hashing concurrency (keeps libuv threads free for WebCrypto)', () => {
  const cheap = { memoryKib: 1024, timeCost: 1, parallelism: 1 };

  it('runs at most `concurrency` hashes and verifications at once; the rest wait their turn', async () => {
    let inFlight = 0;
    let most = 0;
    const track =
      <A extends unknown[], R>(original: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          return await original(...args);
        } finally {
          inFlight--;
        }
      };
    const hashSpy = vi.spyOn(argon2, 'hash').mockImplementation(track(hashOriginal) as never);
    const verifySpy = vi.spyOn(argon2, 'verify').mockImplementation(track(verifyOriginal) as never);
    try {
      const hasher = createArgon2Hasher(cheap, { concurrency: 2 });
      const hashes = await Promise.all(Array.from({ length: 6 }, (_, i) => hasher.hash(`password ${i}`)));
      expect(most).toBe(2);
      most = 0;
      const checks = await Promise.all(hashes.map((hash, i) => hasher.verify(hash, `password ${i}`)));
      expect(checks).toEqual(Array(6).fill(true));
      expect(most).toBe(2);
    } finally {
      hashSpy.mockRestore();
      verifySpy.mockRestore();
    }
  });

  it('by default one hash per CPU, never more than the pool threads, two when the pool is unsized', () => {
    const before = process.env.UV_THREADPOOL_SIZE;
    try {
      process.env.UV_THREADPOOL_SIZE = '1';
      expect(defaultHashConcurrency()).toBe(1);
      process.env.UV_THREADPOOL_SIZE = '64';
      expect(defaultHashConcurrency()).toBe(availableParallelism());
      // The entries size the pool to the hashes (thread-pool.ts); tsx leaves libuv's four.
      process.env.UV_THREADPOOL_SIZE = '2';
      expect(defaultHashConcurrency()).toBe(Math.min(availableParallelism(), 2));
      delete process.env.UV_THREADPOOL_SIZE;
      expect(defaultHashConcurrency()).toBe(Math.max(1, Math.min(availableParallelism(), 2)));
    } finally {
      if (before === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = before;
    }
  });
});
