import type { Config } from '../../config.js';
import { DEFAULT_KEY_CACHE_TTL_MS, type KeyRing } from '../../services/key-ring.js';
import { DEFAULT_JWKS_MAX_AGE_SECONDS } from '../../verify/key-set.js';
import type { Writer } from './output.js';

/**
 * `keys:rotate`: a new key, published now and signing after KEY_PREPUBLICATION, the old one
 * published until its tokens expire. `--now` is for a compromised key: the new key signs at
 * once and every other key is withdrawn at once (KeyRing.rotate, `compromised`).
 */
export async function rotateKeysCommand(
  deps: {
    keyRing: Pick<KeyRing, 'ensureSigningKey' | 'rotate'>;
    config: Pick<Config, 'signingAlg'>;
    out: Writer;
  },
  input: { now: boolean },
): Promise<{ kid: string; withdrawn: string[] }> {
  const { keyRing, config, out } = deps;
  await keyRing.ensureSigningKey();
  if (!input.now) {
    const { kid, activatesAt } = await keyRing.rotate();
    out(
      `new signing key ${kid} (${config.signingAlg}) is published now and signs from ${activatesAt.toISOString()}`,
    );
    out('previous keys stop signing then, and stay published until the tokens they signed have expired');
    return { kid, withdrawn: [] };
  }
  const { kid, withdrawn } = await keyRing.rotate({ compromised: true });
  out(`new signing key ${kid} (${config.signingAlg}) is published and signs from now on`);
  out(
    `withdrawn (deleted with their private halves, gone from the JWKS): ${withdrawn.join(', ') || 'no other key'}`,
  );
  out(
    `access tokens they signed are refused by every instance within ${DEFAULT_KEY_CACHE_TTL_MS / 1000} s ` +
      `and by latchkey/verify within a further ${DEFAULT_JWKS_MAX_AGE_SECONDS} s; clients refresh (sessions go on)`,
  );
  return { kid, withdrawn };
}
