import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { SessionGrant } from '../src/ports/store.js';
import type { AccessTokens } from '../src/services/access-tokens.js';
import { createVerifier } from '../src/verify/index.js';

/**
 * The resource-server kit's verifications per second as a ratio to bare `node:crypto`
 * signature verification of the same tokens on the same key (split the token, decode the
 * signature, verify; synchronous, one thread). One client, sequential awaits, both sides
 * interleaved round by round; the ratio reported is the median round's.
 *   fresh:    every token seen once (signature check, claims, revocation list, cache insert);
 *   repeated: one token seen again and again (the verified-token cache).
 */
export async function benchVerifyKit(input: {
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  issuer: string;
  audience: string;
  accessTokens: AccessTokens;
  grant: SessionGrant & { expiresAt: Date; emailVerified: boolean };
  tokensPerRound: number;
  rounds: number;
}) {
  const { tokensPerRound: n, rounds } = input;
  const verifier = createVerifier({ issuer: input.issuer, audience: input.audience, fetch: input.fetch });
  const batches: string[][] = [];
  for (let round = 0; round <= rounds; round++) {
    const batch: string[] = [];
    for (let i = 0; i < n; i++) batch.push((await input.accessTokens.issue(input.grant)).token);
    batches.push(batch);
  }
  // Warm up: fetch the JWKS and the revocation feed, JIT both paths.
  for (const token of batches[rounds]!) await verifier.verify(token);
  const kid = JSON.parse(Buffer.from(batches[0]![0]!.split('.')[0]!, 'base64url').toString()).kid;
  const jwks = (await (await input.fetch(`${input.issuer}/.well-known/jwks.json`)).json()) as {
    keys: { kid: string }[];
  };
  const publicKey = createPublicKey({ key: jwks.keys.find((key) => key.kid === kid)!, format: 'jwk' });
  const nodeCryptoVerify = (token: string) => {
    const dot = token.lastIndexOf('.');
    if (
      !nodeVerify(
        null,
        Buffer.from(token.slice(0, dot)),
        publicKey,
        Buffer.from(token.slice(dot + 1), 'base64url'),
      )
    )
      throw new Error('bad signature');
  };
  for (const token of batches[rounds]!) nodeCryptoVerify(token);

  // Short chunks, interleaved, in a rotating order: the machine's drift and the cost of
  // switching between a synchronous loop and WebCrypto's thread pool fall on every side alike.
  const CHUNK = 50;
  const timeChunk = async (run: (token: string) => unknown, tokens: string[]) => {
    const start = performance.now();
    for (const token of tokens) await run(token);
    return performance.now() - start;
  };
  // Reference: jose alone (local key set, same pinned options), the floor the kit builds on.
  const localJwks = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
  const joseOnly = (token: string) =>
    jwtVerify(token, localJwks, {
      algorithms: ['EdDSA', 'ES256'],
      typ: 'at+jwt',
      issuer: input.issuer,
      audience: input.audience,
    });
  for (const token of batches[rounds]!) await joseOnly(token);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const fresh: number[] = [];
  const jose: number[] = [];
  const repeated: number[] = [];
  const baselines: number[] = [];
  const repeatedToken = batches[rounds]![0]!;
  for (let round = 0; round < rounds; round++) {
    const batch = batches[round]!;
    const ms = { baseline: 0, kit: 0, jose: 0, repeated: 0 };
    for (let start = 0, chunk = 0; start < n; start += CHUNK, chunk++) {
      const tokens = batch.slice(start, start + CHUNK);
      const sides: [keyof typeof ms, () => Promise<number>][] = [
        ['baseline', () => timeChunk(nodeCryptoVerify, tokens)],
        ['kit', () => timeChunk(verifier.verify, tokens)],
        ['jose', () => timeChunk(joseOnly, tokens)],
        [
          'repeated',
          () =>
            timeChunk(
              verifier.verify,
              tokens.map(() => repeatedToken),
            ),
        ],
      ];
      for (let k = 0; k < sides.length; k++) {
        const [side, run] = sides[(k + chunk) % sides.length]!;
        ms[side] += await run();
      }
    }
    baselines.push((n / ms.baseline) * 1000);
    fresh.push(ms.baseline / ms.kit);
    jose.push(ms.baseline / ms.jose);
    repeated.push(ms.baseline / ms.repeated);
  }
  return {
    baselinePerSecond: median(baselines),
    fresh: median(fresh),
    repeated: median(repeated),
    joseOnly: median(jose),
  };
}
