import type { Context } from 'hono';
import { z } from 'zod';
import type { EmailAddress } from '../../services/email-address.js';
import type { RouteContext } from '../context.js';
import { requestDevice } from '../request.js';
import * as R from '../responses.js';
import { BAD_INPUT, routeTable } from '../route-table.js';
import { ForgotPasswordAccepted, ForgotPasswordBody } from './password-reset.js';

/**
 * The links of the address mails (issue #17, flows 2 and 3; API.md, Email address): verify an
 * address, ask for the link again, confirm a change from the new address, or revert it from the
 * old one. No Bearer token: whoever holds the link may use it. The account pages answer the
 * GET of each link with a page and a button that POSTs here, so that a mail scanner fetching
 * the link uses nothing up.
 */

/** Any token string reaches the service, which answers one code for every unusable token. */
export const TokenBody = z.object({
  token: z.string().max(1024, { abort: true, error: 'must be at most 1024 characters' }),
});

/** `email` as in registration; `password`: the current one (bounded; the service normalises). */
export const ChangeEmailBody = z.object({
  email: ForgotPasswordBody.shape.email,
  password: z.string().max(1024, { abort: true, error: 'must be at most 1024 characters' }).min(1),
});

export function emailRoutes(
  ctx: Pick<RouteContext, 'config' | 'getClientIp'> & { emailAddress: EmailAddress },
) {
  const { config, emailAddress } = ctx;
  const table = routeTable('/v1/auth/email');
  const device = (c: Context) => requestDevice(c, config, ctx.getClientIp);
  const TOKEN_ERRORS = [...BAD_INPUT, 'invalid_email_token'] as const;

  table.route(
    {
      method: 'post',
      path: '/verify',
      tag: 'auth',
      summary: 'Verify the address with the token of a verification link',
      description:
        'Single use; a link sent to an address the account no longer has is invalid. An unknown, expired, used, forged or truncated token: 400 `invalid_email_token`, nothing changed. The next access token of every session carries `email_verified: true`.',
      body: { schema: TokenBody },
      ok: { status: 200, description: 'Verified', schema: R.EmailVerified },
      errors: [...TOKEN_ERRORS],
    },
    async (c, { body }) => {
      const result = await emailAddress.verifyEmail({ token: body.token, device: device(c) });
      return c.json({ email: result.email, email_verified: true as const });
    },
  );

  table.route(
    {
      method: 'post',
      path: '/verify/resend',
      tag: 'auth',
      summary: 'Ask for a new verification link',
      description:
        'Always 202 with the same body: a mail goes out only to an unverified account with this address, at most PASSWORD_RESETS_PER_ADDRESS per address per hour; PASSWORD_RESETS_PER_IP requests per client network per hour (past it: 429). A new link voids the older ones.',
      body: { schema: ForgotPasswordBody },
      ok: { status: 202, description: 'Accepted', schema: ForgotPasswordAccepted },
      errors: [...BAD_INPUT, 'rate_limited'],
    },
    async (c, { body }) => {
      await emailAddress.resendVerification({ email: body.email, device: device(c) });
      return c.json({ status: 'accepted' as const }, 202);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/change/confirm',
      tag: 'auth',
      summary: 'Confirm an email change with the token sent to the new address',
      description:
        'The account takes the new address (verified) and the old one gets a notice. 409 `email_taken` when another account took the address meanwhile (nothing changed). A password change since the request voids the link.',
      body: { schema: TokenBody },
      ok: { status: 200, description: 'Changed', schema: R.EmailVerified },
      errors: [...TOKEN_ERRORS, 'email_taken'],
    },
    async (c, { body }) => {
      const result = await emailAddress.confirmChange({ token: body.token, device: device(c) });
      return c.json({ email: result.email, email_verified: true as const });
    },
  );

  table.route(
    {
      method: 'post',
      path: '/change/revert',
      tag: 'auth',
      summary: '"This wasn\'t me": undo an email change with the token sent to the old address',
      description:
        'Puts back (or keeps) the address the notice was sent to, voids unconfirmed changes and signs out every session. Works before and after the change was confirmed, for EMAIL_REVERT_TTL, even after a password change.',
      body: { schema: TokenBody },
      ok: { status: 200, description: 'Reverted', schema: R.EmailChangeReverted },
      errors: [...TOKEN_ERRORS, 'email_taken'],
    },
    async (c, { body }) => {
      const result = await emailAddress.revertChange({ token: body.token, device: device(c) });
      return c.json({
        email: result.email,
        email_verified: true as const,
        revoked_sessions: result.revokedSessions,
      });
    },
  );

  return table.done();
}
