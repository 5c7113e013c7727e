import { argon2id } from 'argon2-wasm-edge';
import { equalBytes } from '../../lib/crypto.js';
import type { PasswordHasher } from '../../ports/password-hasher.js';
import type { Argon2Params } from './argon2-native.js';

/**
 * argon2id in WebAssembly (argon2-wasm-edge), for Cloudflare Workers: the same PHC strings
 * as the native `argon2` addon, both ways (test/password-hashes.test.ts). On Workers the
 * entry point hands it the precompiled modules (`setWASMModules`): workerd forbids
 * compiling WebAssembly at run time.
 */

const PHC = /^\$argon2id\$v=19\$((?:[mtp]=\d+,){2}[mtp]=\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

interface ParsedHash {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

const fromBase64 = (value: string) =>
  Uint8Array.from(atob(value + '='.repeat((4 - (value.length % 4)) % 4)), (c) => c.charCodeAt(0));

/** A PHC string of argon2id v19, its parameters in any order (native argon2 writes m,p,t). */
function parse(phc: string): ParsedHash | undefined {
  const match = phc.match(PHC);
  if (!match) return undefined;
  const params = Object.fromEntries(match[1]!.split(',').map((item) => item.split('=') as [string, string]));
  const memoryKib = Number(params.m);
  const timeCost = Number(params.t);
  const parallelism = Number(params.p);
  if (![memoryKib, timeCost, parallelism].every((value) => Number.isSafeInteger(value) && value > 0))
    return undefined;
  // A stored hash is trusted input, but bound the work a corrupted one could ask for.
  if (memoryKib > 4 * 1024 * 1024 || timeCost > 100 || parallelism > 16) return undefined;
  return { memoryKib, timeCost, parallelism, salt: fromBase64(match[2]!), hash: fromBase64(match[3]!) };
}

export function createWasmArgon2Hasher(params: Argon2Params): PasswordHasher {
  return {
    async hash(password) {
      const salt = crypto.getRandomValues(new Uint8Array(16));
      return argon2id({
        password,
        salt,
        iterations: params.timeCost,
        parallelism: params.parallelism,
        memorySize: params.memoryKib,
        hashLength: 32,
        outputType: 'encoded',
      });
    },
    async verify(phcHash, password) {
      const parsed = parse(phcHash);
      if (!parsed) return false;
      try {
        const computed = await argon2id({
          password,
          salt: parsed.salt,
          iterations: parsed.timeCost,
          parallelism: parsed.parallelism,
          memorySize: parsed.memoryKib,
          hashLength: parsed.hash.length,
          outputType: 'binary',
        });
        return equalBytes(computed, parsed.hash);
      } catch {
        return false;
      }
    },
    needsRehash(phcHash) {
      const parsed = parse(phcHash);
      return (
        !parsed ||
        parsed.memoryKib !== params.memoryKib ||
        parsed.timeCost !== params.timeCost ||
        parsed.parallelism !== params.parallelism
      );
    },
  };
}
