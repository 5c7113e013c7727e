import argon2 from 'argon2';
import type { PasswordHasher } from '../../ports/password-hasher.js';

export interface Argon2Params {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/** argon2id through the native `argon2` addon (Node). OWASP Password Storage: m=19 MiB, t=2, p=1. */
export function createArgon2Hasher(params: Argon2Params): PasswordHasher {
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memoryKib,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  } as const;
  return {
    hash: (password) => argon2.hash(password, options),
    async verify(phcHash, password) {
      try {
        return await argon2.verify(phcHash, password);
      } catch {
        return false;
      }
    },
    needsRehash(phcHash) {
      try {
        return !phcHash.startsWith('$argon2id$') || argon2.needsRehash(phcHash, options);
      } catch {
        return true;
      }
    },
  };
}
