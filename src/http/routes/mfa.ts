import { Hono } from 'hono';
import type { RouteContext } from '../context.js';
import { type AuthVariables, requireAuth } from '../middleware/require-auth.js';
import { readJson } from '../request.js';
import { ActivateTotpBody } from '../schemas.js';

/** "Fresh auth" is an `auth_time` within 300 s (API.md, Step-up). */
export const FRESH_AUTH_SECONDS = 300;

/** `/v1/mfa/*`: TOTP enrollment and recovery codes, guarded as RFC 9470 describes. */
export function mfaRoutes(ctx: RouteContext) {
  const { sessions, clock, mfa } = ctx;
  const app = new Hono<{ Variables: AuthVariables }>();
  const fresh = requireAuth(sessions, clock, { maxAge: FRESH_AUTH_SECONDS });
  const freshAal2 = requireAuth(sessions, clock, { acr: 'aal2', maxAge: FRESH_AUTH_SECONDS });

  app.post('/totp/enroll', fresh, async (c) => {
    const { secret, otpauthUri, qrSvg } = await mfa.enroll(c.get('caller'));
    return c.json({ secret, otpauth_uri: otpauthUri, qr_svg: qrSvg });
  });

  app.post('/totp/activate', requireAuth(sessions, clock), async (c) => {
    const body = await readJson(c, ActivateTotpBody);
    return c.json({ recovery_codes: await mfa.activate(c.get('caller'), body.code) });
  });

  app.delete('/totp', freshAal2, async (c) => {
    await mfa.disable(c.get('caller'));
    return c.body(null, 204);
  });

  app.post('/recovery-codes', freshAal2, async (c) => {
    return c.json({ recovery_codes: await mfa.regenerateRecoveryCodes(c.get('caller')) });
  });

  return app;
}
