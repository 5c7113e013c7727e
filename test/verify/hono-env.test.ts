import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { type AccessTokenVariables, requireAccessToken } from '../../src/verify/hono.js';
import type { Verifier } from '../../src/verify/index.js';

/**
 * requireAccessToken is generic over the app's environment: an app with `Bindings` (a Worker,
 * which may make its verifier per request from `c.env`) takes it, as tsc checks here.
 */
type WorkerEnv = { Bindings: { ISSUER: string }; Variables: AccessTokenVariables };

describe('requireAccessToken in an app with Bindings', () => {
  it('type-checks as route middleware and inside a per-request handler', () => {
    const verifierFor = (_issuer: string): Verifier => ({}) as Verifier;
    const app = new Hono<WorkerEnv>();
    app.use('/a/*', requireAccessToken(verifierFor('https://auth.example.com')));
    app.use('/b/*', (c, next) => requireAccessToken<WorkerEnv>(verifierFor(c.env.ISSUER))(c, next));
    app.get('/a/me', (c) => c.json({ sub: c.get('accessToken').sub }));
    expect(app.routes.length).toBe(3);
  });
});
