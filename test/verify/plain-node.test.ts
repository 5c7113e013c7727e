import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The built kit (dist/, built by the vitest global setup) is importable from plain Node by
 * its package name, `@latchkey/verify` (an npm workspace), and works there on its own: jose for the token, a
 * node:http JWKS, Node's global fetch.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs an ES module script in a plain Node child (no vitest, no tsx), from the package root. */
const runNode = (script: string): string =>
  execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });

describe('@latchkey/verify from plain Node', () => {
  it('exports the kit by its package name', () => {
    const out = runNode(`
      import('@latchkey/verify').then((m) => {
        const kinds = Object.fromEntries(Object.entries(m).map(([name, value]) => [name, typeof value]));
        console.log(JSON.stringify(kinds));
      });
    `);
    const kinds = JSON.parse(out.trim());
    expect(kinds).toMatchObject({
      createVerifier: 'function',
      authenticateRequest: 'function',
      errorResponseFor: 'function',
      BearerError: 'function',
      VerifierUnavailableError: 'function',
      checkAssurance: 'function',
      bearerToken: 'function',
      MemoryDpopReplayCache: 'function',
    });
  });

  it('resolves to dist/, with type declarations', () => {
    const out = runNode(`console.log(import.meta.resolve('@latchkey/verify'))`);
    expect(out.trim()).toBe(new URL('packages/verify/dist/verify/index.js', `file://${root}`).href);
    const declarations = `${root}packages/verify/dist/verify/index.d.ts`;
    expect(existsSync(declarations)).toBe(true);
    const text = readFileSync(declarations, 'utf8');
    for (const name of ['createVerifier', 'authenticateRequest', 'errorResponseFor', 'BearerError']) {
      expect(text).toContain(name);
    }
    // The Hono middleware is a subpath, so the main entry needs no hono types.
    expect(text).not.toContain('hono');
    expect(readFileSync(`${root}packages/verify/dist/verify/hono.d.ts`, 'utf8')).toContain(
      'requireAccessToken',
    );
  });

  it('verifies a token end to end: a JWKS on node:http, a token signed with jose', () => {
    const out = runNode(`
      import { createServer } from 'node:http';
      import { SignJWT, exportJWK, generateKeyPair } from 'jose';
      import { BearerError, createVerifier, errorResponseFor } from '@latchkey/verify';

      const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] };
      let jwksRequests = 0;
      const server = createServer((req, res) => {
        jwksRequests++;
        res.writeHead(req.url === '/.well-known/jwks.json' ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(jwks));
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const issuer = 'http://127.0.0.1:' + server.address().port;
      const audience = 'https://api.example.com';
      const now = Math.floor(Date.now() / 1000);
      const sign = (header, claims = {}) =>
        new SignJWT({ client_id: 'default', sid: 'session-1', auth_time: now, acr: 'aal1', amr: ['pwd'], ...claims })
          .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', ...header })
          .setIssuer(issuer)
          .setSubject('user-123')
          .setAudience(audience)
          .setIssuedAt(now)
          .setExpirationTime(now + 60)
          .setJti('jti-1')
          .sign(privateKey);
      try {
        const verifier = createVerifier({ issuer, audience, revocation: false });
        const claims = await verifier.verify(await sign({}));
        const refusals = [];
        for (const token of [await sign({ typ: 'JWT' }), await sign({}, { acr: 'aal3' }), 'junk']) {
          const error = await verifier.verify(token).catch((e) => e);
          refusals.push(error instanceof BearerError ? errorResponseFor(error).status + ' ' + error.code : String(error));
        }
        console.log(JSON.stringify({ sub: claims.sub, sid: claims.sid, refusals, jwksRequests }));
      } finally {
        server.close();
      }
    `);
    expect(JSON.parse(out.trim())).toEqual({
      sub: 'user-123',
      sid: 'session-1',
      refusals: ['401 invalid_token', '401 invalid_token', '401 invalid_token'],
      jwksRequests: 1,
    });
  });
});
