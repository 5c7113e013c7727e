import { FRESH_AAL2, FRESH_AUTH } from '../../domain/assurance.js';
import type { RouteContext } from '../context.js';
import type { AuthVariables } from '../middleware/require-auth.js';
import * as R from '../responses.js';
import { BAD_INPUT, BEARER_ERRORS, bearerGuard, routeTable } from '../route-table.js';
import { ActivateTotpBody } from '../schemas.js';

/** `/v1/mfa/*`: TOTP enrollment and recovery codes, guarded as RFC 9470 describes. */
export function mfaRoutes(ctx: RouteContext) {
  const { mfa } = ctx;
  const table = routeTable<{ Variables: AuthVariables }>('/v1/mfa');
  const bearer = bearerGuard(ctx);
  // RFC 9470 requirements named once, in domain/assurance.ts (the /account pages ask the same).
  const fresh = bearerGuard(ctx, FRESH_AUTH);
  const freshAal2 = bearerGuard(ctx, FRESH_AAL2);

  table.route(
    {
      method: 'post',
      path: '/totp/enroll',
      tag: 'mfa',
      summary: 'Start TOTP enrolment: secret, otpauth URI and QR code (SVG)',
      security: fresh,
      ok: { status: 200, description: 'A pending factor', schema: R.TotpEnrollment },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_already_enabled'],
    },
    async (c) => {
      const { secret, otpauthUri, qrSvg } = await mfa.enroll(c.get('caller'));
      return c.json({ secret, otpauth_uri: otpauthUri, qr_svg: qrSvg });
    },
  );

  table.route(
    {
      method: 'post',
      path: '/totp/activate',
      tag: 'mfa',
      summary: 'Activate TOTP with a first code; returns 10 recovery codes, shown once',
      security: bearer,
      body: { schema: ActivateTotpBody },
      ok: { status: 200, description: 'Recovery codes', schema: R.RecoveryCodes },
      errors: [
        ...BAD_INPUT,
        ...BEARER_ERRORS,
        'wrong_code',
        'mfa_already_enabled',
        'mfa_not_enabled',
        'rate_limited',
      ],
    },
    async (c, { body }) => c.json({ recovery_codes: await mfa.activate(c.get('caller'), body.code) }),
  );

  table.route(
    {
      method: 'delete',
      path: '/totp',
      tag: 'mfa',
      summary: 'Turn TOTP off; every other session is revoked',
      security: freshAal2,
      ok: { status: 204, description: 'Disabled' },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_not_enabled'],
    },
    async (c) => {
      await mfa.disable(c.get('caller'));
      return c.body(null, 204);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/recovery-codes',
      tag: 'mfa',
      summary: 'Replace the recovery codes',
      security: freshAal2,
      ok: {
        status: 200,
        description: 'New recovery codes; the old ones stop working',
        schema: R.RecoveryCodes,
      },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_not_enabled'],
    },
    async (c) => c.json({ recovery_codes: await mfa.regenerateRecoveryCodes(c.get('caller')) }),
  );

  return table.done();
}
