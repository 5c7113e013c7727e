import argon2 from 'argon2';
import pLimit from 'p-limit';
import type { PasswordHasher } from '../../ports/password-hasher.js';

export interface Argon2Params {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/**
 * argon2id through the native `argon2` addon (Node). OWASP Password Storage: m=19 MiB, t=2, p=1.
 *
 * The addon hashes on libuv's thread pool (4 threads by default), the same pool that runs
 * every WebCrypto call (the refresh token's SHA-256 and HMAC, the JWT's signature). Left
 * alone, a burst of logins queues dozens of argon2id hashes (tens of ms each) in front of those sub-ms jobs and a
 * refresh waits seconds (npm run bench, "refresh under a login storm"). So at most
 * `concurrency` hashes run at once (p-limit); the others wait in JavaScript, and the pool
 * keeps free threads for everything else. Fewer hashes at once than CPUs would also leave
 * CPU to the event loop, at the cost of login throughput.
 */
export function createArgon2Hasher(
  params: Argon2Params,
  limits: { concurrency?: number } = {},
): PasswordHasher {
  const limit = pLimit(Math.max(1, limits.concurrency ?? 1));
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memoryKib,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  } as const;
  return {
    hash: (password) => limit(() => argon2.hash(password, options)),
    async verify(phcHash, password) {
      try {
        return await limit(() => argon2.verify(phcHash, password));
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
