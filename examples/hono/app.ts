import type { Verifier } from '@latchkey/verify';
import { type AccessTokenVariables, requireAccessToken } from '@latchkey/verify/hono';
import { Hono } from 'hono';

/**
 * A small API protected by Latchkey access tokens. Every route but /health needs a valid
 * token; moving money needs a second factor (`aal2`) used in the last 5 minutes — a user
 * who signed in with a password only gets a 401 with an RFC 9470 challenge, steps up
 * (POST /v1/auth/step-up on Latchkey) and retries.
 */
export function createResourceServer(verifier: Verifier) {
  const app = new Hono<{ Variables: AccessTokenVariables }>();

  app.get('/health', (c) => c.json({ status: 'ok' }));

  app.get('/me', requireAccessToken(verifier), (c) => {
    const token = c.get('accessToken');
    return c.json({ user_id: token.sub, session_id: token.sid, acr: token.acr });
  });

  app.post('/payouts', requireAccessToken(verifier, { acr: 'aal2', maxAge: 300 }), async (c) => {
    const token = c.get('accessToken');
    return c.json({ status: 'scheduled', requested_by: token.sub }, 201);
  });

  return app;
}
