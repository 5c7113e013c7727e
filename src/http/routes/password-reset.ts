import type { Context } from 'hono';
import { z } from 'zod';
import { EMAIL_MAX_LENGTH } from '../../domain/credentials.js';
import type { PasswordReset } from '../../services/password-reset.js';
import type { RouteContext } from '../context.js';
import { requestDevice } from '../request.js';
import { BAD_INPUT, routeTable } from '../route-table.js';
import { EMAIL_SHAPE } from '../schemas.js';

/**
 * Password reset (issue #17, flow 1; API.md, Password reset): ask for a link by email, then
 * set a new password with the token from it. No Bearer token: whoever holds the link (and,
 * for an account with TOTP, a code) may finish it.
 */

/** At most `max` UTF-16 units; nothing after this runs on a longer string (see schemas.ts). */
const text = (max: number) =>
  z.string().max(max, { abort: true, error: `must be at most ${max} characters` });

export const ForgotPasswordBody = z.object({
  email: text(1024)
    .transform((value) => value.trim())
    .pipe(text(EMAIL_MAX_LENGTH).regex(EMAIL_SHAPE, 'must be an email address')),
});

/**
 * Any token string reaches the service, which answers one code for every unusable token
 * (truncated, forged, expired, used); only absurd lengths stop here.
 */
export const ResetPasswordBody = z
  .object({
    token: text(1024),
    // Generous outer bound: the service applies the policy of registration (8–128 after NFKC).
    password: text(1024).min(1),
    code: text(32).optional(),
    recovery_code: text(64).optional(),
  })
  .refine((body) => body.code === undefined || body.recovery_code === undefined, {
    error: 'send code or recovery_code, not both',
  });

export const ForgotPasswordAccepted = z.object({
  status: z.literal('accepted').meta({
    description: 'The same for every address: a mail goes out only if it has an account',
  }),
});

export function passwordResetRoutes(
  ctx: Pick<RouteContext, 'config' | 'getClientIp'> & { passwordReset: PasswordReset },
) {
  const { config, passwordReset } = ctx;
  const table = routeTable('/v1/auth/password');
  const device = (c: Context) => requestDevice(c, config, ctx.getClientIp);

  table.route(
    {
      method: 'post',
      path: '/forgot',
      tag: 'auth',
      summary: 'Ask for a password reset link by email',
      description:
        'Always 202 with the same body, whether or not the address has an account. At most PASSWORD_RESETS_PER_ADDRESS mails per address per hour (past it: still 202, no mail); PASSWORD_RESETS_PER_IP requests per client network per hour (past it: 429).',
      body: { schema: ForgotPasswordBody },
      ok: { status: 202, description: 'Accepted', schema: ForgotPasswordAccepted },
      errors: [...BAD_INPUT, 'rate_limited'],
    },
    async (c, { body }) => {
      await passwordReset.requestReset({ email: body.email, device: device(c) });
      return c.json({ status: 'accepted' as const }, 202);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/reset',
      tag: 'auth',
      summary: 'Set a new password with the token of a reset link',
      description:
        'Every session of the user is revoked. An account with TOTP also needs `code` or `recovery_code`. An unknown, expired, used, forged or truncated token: 400 `invalid_email_token`, nothing changed.',
      body: { schema: ResetPasswordBody },
      ok: { status: 204, description: 'The password is changed; every session is revoked' },
      errors: [
        ...BAD_INPUT,
        'invalid_email_token',
        'invalid_password',
        'mfa_required',
        'invalid_code',
        'rate_limited',
      ],
    },
    async (c, { body }) => {
      await passwordReset.resetPassword({
        token: body.token,
        password: body.password,
        factor:
          body.code !== undefined
            ? { code: body.code }
            : body.recovery_code !== undefined
              ? { recoveryCode: body.recovery_code }
              : undefined,
        device: device(c),
      });
      return c.body(null, 204);
    },
  );

  return table.done();
}
