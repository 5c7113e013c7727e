/**
 * The in-process section of `npm run bench` (the first version of the bench, kept): the app
 * (`createApp`, no HTTP server) wired as `npm start` wires it, on a scratch PGlite, one client,
 * medians of sequential calls, each measure side by side with its baseline:
 *   - the server verifying an access token (our full check) vs bare node:crypto Ed25519;
 *   - the resource-server kit's verifications per second vs bare node:crypto (verify-kit.ts):
 *     the goals of the verify block (fresh >= 0.6, repeated >= 5);
 *   - a refresh through the app vs the bare rotation statement (one client);
 *   - a login through the app vs one argon2id hash with the same parameters.
 */
import { KeyObject, verify as nodeVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import argon2 from 'argon2';
import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { parseConfig } from '../src/config.js';
import { openNodeRuntime } from '../src/entry/node-runtime.js';
import { createApp } from '../src/http/app.js';
import { benchVerifyKit } from './verify-kit.js';

async function median(iterations: number, run: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await run(i);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export interface InProcessResult {
  database: 'PGlite';
  serverVerifyMs: number;
  nodeCryptoVerifyMs: number;
  kit: { baselinePerSecond: number; fresh: number; repeated: number; joseOnly: number };
  refreshMs: number;
  /** The same refresh of a DPoP-bound session, each with a fresh proof (signed beforehand). */
  dpopRefreshMs: number;
  bareRotationMs: number;
  loginMs: number;
  oneHashMs: number;
}

export async function runInProcess(options: {
  iterations: number;
  kitTokens: number;
}): Promise<InProcessResult> {
  const ITERATIONS = options.iterations;
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-inprocess-'));
  try {
    const runtime = await openNodeRuntime(
      parseConfig({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        MASTER_SECRET: 'bench-master-secret-0123456789-abcdefghijklmn',
        DATA_DIR: dir,
      }),
    );
    const database = runtime.database;
    try {
      const { config, clock, store } = runtime;
      const { keyRing, accessTokens } = runtime.services;
      await keyRing.ensureSigningKey();
      const app = createApp(runtime);
      const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
        const res = await app.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
        if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
        return res.status === 204 ? undefined : res.json();
      };

      const email = `bench-${Date.now()}@example.com`;
      const password = 'correct horse battery staple';
      await post('/v1/auth/register', { email, password });
      const pair = (await post('/v1/auth/login', { email, password })) as {
        access_token: string;
        refresh_token: string;
      };

      // Token verification: our check (pinned alg/typ/iss/aud, claim shapes) vs raw Ed25519.
      const [h, p, s] = pair.access_token.split('.');
      const signed = new TextEncoder().encode(`${h}.${p}`);
      const signature = Buffer.from(s!, 'base64url');
      const kid = JSON.parse(Buffer.from(h!, 'base64url').toString()).kid;
      const publicKey = (await keyRing.verificationKey({ kid, alg: 'EdDSA' }))!;
      const nodeKey = KeyObject.from(publicKey);
      const rawVerify = await median(ITERATIONS * 5, async () =>
        nodeVerify(null, signed, nodeKey, signature),
      );
      const fullVerify = await median(ITERATIONS * 5, () => accessTokens.verify(pair.access_token));

      // The resource-server kit (latchkey/verify) vs bare node:crypto, fresh and repeated tokens.
      const kit = await benchVerifyKit({
        fetch: async (url, init) => app.request(url, init),
        issuer: config.issuer,
        audience: config.audience,
        accessTokens,
        grant: {
          sessionId: crypto.randomUUID(),
          userId: crypto.randomUUID(),
          clientId: 'default',
          emailVerified: true,
          acr: 'aal1',
          amr: ['pwd'],
          authTime: clock.now(),
          remembered: false,
          expiresAt: new Date(clock.now().getTime() + 24 * 3600 * 1000),
        },
        tokensPerRound: options.kitTokens,
        rounds: 5,
      });

      // Refresh through the app vs the bare statement it needs (same shape, on a dummy row).
      let refreshToken = pair.refresh_token;
      const refresh = await median(ITERATIONS, async () => {
        const next = (await post('/v1/auth/refresh', { refresh_token: refreshToken })) as {
          refresh_token: string;
        };
        refreshToken = next.refresh_token;
      });

      // The same through a DPoP-bound session (RFC 9449): the proof's checks, its replay-cache
      // insert, the key condition in the rotation. Proofs are signed before the clock starts.
      const dpopKey = await generateKeyPair('ES256');
      const jwk = await exportJWK(dpopKey.publicKey);
      const proofFor = (path: string) =>
        new SignJWT({
          jti: crypto.randomUUID(),
          htm: 'POST',
          htu: `${config.issuer}${path}`,
          iat: Math.floor(clock.now().getTime() / 1000),
        })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
          .sign(dpopKey.privateKey);
      const bound = (await post(
        '/v1/auth/login',
        { email, password },
        { dpop: await proofFor('/v1/auth/login') },
      )) as {
        refresh_token: string;
      };
      const proofs = await Promise.all(
        Array.from({ length: ITERATIONS }, () => proofFor('/v1/auth/refresh')),
      );
      let boundToken = bound.refresh_token;
      const dpopRefresh = await median(ITERATIONS, async (i) => {
        const next = (await post(
          '/v1/auth/refresh',
          { refresh_token: boundToken },
          { dpop: proofs[i]! },
        )) as { refresh_token: string };
        boundToken = next.refresh_token;
      });

      const userId = (await store.findUserByEmail(email))!.id;
      await database.db.execute(sql`
        INSERT INTO refresh_tokens (id, token_hash, session_id, user_id, client_id, remembered, acr, amr, auth_time,
          session_created_at, session_expires_at, issued_at, expires_at)
        VALUES (gen_random_uuid(), 'bare-0', gen_random_uuid(), ${userId}, 'bench', false, 'aal1', ARRAY['pwd'], now(),
          now(), now() + interval '1 day', now(), now() + interval '1 day')`);
      const bareSql = await median(ITERATIONS, (i) =>
        database.db.execute(sql`
          WITH claimed AS (
            UPDATE refresh_tokens SET rotated_at = now()
            WHERE token_hash = ${`bare-${i}`} AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
            RETURNING *)
          INSERT INTO refresh_tokens (id, token_hash, session_id, user_id, client_id, remembered, acr, amr, auth_time,
            session_created_at, session_expires_at, issued_at, expires_at)
          SELECT gen_random_uuid(), ${`bare-${i + 1}`}, session_id, user_id, client_id, remembered, acr, amr, auth_time,
            session_created_at, session_expires_at, now(), expires_at FROM claimed
          RETURNING session_id`),
      );

      // Login through the app vs one argon2id hash with the configured parameters.
      const loginIterations = Math.max(10, Math.floor(ITERATIONS / 10));
      const login = await median(loginIterations, () => post('/v1/auth/login', { email, password }));
      const oneHash = await median(loginIterations, () =>
        argon2.hash(password, {
          type: argon2.argon2id,
          memoryCost: config.argon2.memoryKib,
          timeCost: config.argon2.timeCost,
          parallelism: config.argon2.parallelism,
        }),
      );
      return {
        database: 'PGlite',
        serverVerifyMs: fullVerify,
        nodeCryptoVerifyMs: rawVerify,
        kit,
        refreshMs: refresh,
        dpopRefreshMs: dpopRefresh,
        bareRotationMs: bareSql,
        loginMs: login,
        oneHashMs: oneHash,
      };
    } finally {
      await database.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
