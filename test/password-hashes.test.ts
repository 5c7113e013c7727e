import { describe, expect, it } from 'vitest';
import { createArgon2Hasher } from '../src/adapters/password/argon2-native.js';
import { createWasmArgon2Hasher } from '../src/adapters/password/argon2-wasm.js';

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
