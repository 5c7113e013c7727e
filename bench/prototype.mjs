import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { rotationParams } from './rotation-params.mjs';

/**
 * Issue #21's prototype of a refresh, on Latchkey's own table: the least a refresh can cost on
 * the stack the server is built on. POST /v1/auth/refresh reads the JSON body, works out the
 * successor (HMAC-SHA-256) and both SHA-256 hashes, sends the server's own rotation statement
 * (captured from src/ by sql-baseline.ts, prepared, through postgres.js on a pool of the
 * server's size), signs an Ed25519 JWT of the real access token's length and answers the pair.
 * None of what the server does besides: no middleware (request id, log, security headers, CORS,
 * body limit), no validation schema, no rate limit, no binding check, no metrics.
 *
 * Environment: PORT, HOST, PROTOTYPE_DATABASE_URL, PROTOTYPE_STATEMENT (a JSON file:
 * sql-baseline.ts's RotationTemplate), PROTOTYPE_POOL, FLOOR_ACCESS_TOKEN_LENGTH.
 */
const template = JSON.parse(readFileSync(process.env.PROTOTYPE_STATEMENT, 'utf8'));
const sql = postgres(process.env.PROTOTYPE_DATABASE_URL, {
  max: Number(process.env.PROTOTYPE_POOL) || 4,
  onnotice: () => {},
});
const successorKey = randomBytes(32);
const { privateKey } = generateKeyPairSync('ed25519');
const tokenLength = Number(process.env.FLOOR_ACCESS_TOKEN_LENGTH) || 600;
const issuer = 'http://localhost:3000';

const sha256 = (value) => createHash('sha256').update(value).digest('base64url');
const base64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const header = base64url({ alg: 'EdDSA', typ: 'at+jwt', kid: 'prototype' });

function accessToken(row, iat) {
  const claims = {
    iss: issuer,
    sub: row.user_id,
    aud: issuer,
    exp: iat + 900,
    iat,
    jti: randomUUID(),
    sid: row.session_id,
    client_id: 'default',
    fill: '',
  };
  // Padded to the real token's length: the signature and the answer are of the same size.
  const bare = `${header}.${base64url(claims)}`.length + 87;
  claims.fill = 'x'.repeat(Math.max(0, Math.floor(((tokenLength - bare) * 3) / 4)));
  const input = `${header}.${base64url(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

const app = new Hono();
app.get('/health', (c) => c.json({ status: 'ok' }));
app.post('/v1/auth/refresh', async (c) => {
  const body = await c.req.json();
  const presented = body?.refresh_token;
  if (typeof presented !== 'string' || presented.length > 100) {
    return c.json({ error: 'invalid_request' }, 400);
  }
  const successor = `lkr_${createHmac('sha256', successorKey).update(presented).digest('base64url')}`;
  const now = new Date();
  const rows = await sql.unsafe(
    template.text,
    rotationParams(template, sha256(presented), sha256(successor), now),
    {
      prepare: true,
    },
  );
  if (rows.length !== 1) return c.json({ error: 'invalid_grant' }, 400);
  return c.json({
    access_token: accessToken(rows[0], Math.floor(now.getTime() / 1000)),
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: successor,
    refresh_token_expires_in: Math.round(template.refreshTokenTtlMs / 1000),
  });
});
const server = serve({
  fetch: app.fetch,
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? '127.0.0.1',
});
const stop = () => server.close(() => sql.end({ timeout: 5 }).then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
