/**
 * A resource server on Cloudflare Workers using the packed kit: .ci/packages.sh has wrangler
 * bundle it from the consumer project (so `@latchkey/verify`, jose and hono come from the
 * installed tarballs) and run it in workerd (test/packed/run-worker.mjs), where it verifies
 * tokens of the Latchkey started from the packed server. `/me` uses the framework-free
 * helpers, `/hono/me` the Hono middleware.
 */
import { authenticateRequest, createVerifier, errorResponseFor, type Verifier } from '@latchkey/verify';
import { type AccessTokenVariables, requireAccessToken } from '@latchkey/verify/hono';
import { Hono } from 'hono';

interface Env {
  ISSUER: string;
}

let verifier: Verifier | undefined;
const verifierFor = (env: Env): Verifier => {
  verifier ??= createVerifier({ issuer: env.ISSUER, audience: env.ISSUER });
  return verifier;
};

/** The Hono app, built once per isolate: the verifier needs the ISSUER binding. */
let app: Hono<{ Variables: AccessTokenVariables }> | undefined;
const appFor = (env: Env) => {
  if (!app) {
    app = new Hono<{ Variables: AccessTokenVariables }>();
    app.use('/hono/*', requireAccessToken(verifierFor(env)));
    app.get('/hono/me', (c) => c.json({ sub: c.get('accessToken').sub, runtime: navigator.userAgent }));
  }
  return app;
};

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/hono/')) return appFor(env).fetch(request);
    if (url.pathname !== '/me') return Response.json({ error: 'not_found' }, { status: 404 });
    try {
      const claims = await authenticateRequest(verifierFor(env), request.headers.get('authorization'));
      return Response.json({ sub: claims.sub, sid: claims.sid, runtime: navigator.userAgent });
    } catch (error) {
      const refusal = errorResponseFor(error);
      if (!refusal) throw error;
      return new Response(refusal.body, { status: refusal.status, headers: refusal.headers });
    }
  },
};
