import { FRESH_AUTH_SECONDS } from '../../domain/assurance.js';
import { AuthError } from '../../domain/errors.js';
import type { UserRecord } from '../../ports/store.js';
import type { RouteContext } from '../context.js';
import type { AuthVariables } from '../middleware/require-auth.js';
import { requestDevice } from '../request.js';
import * as R from '../responses.js';
import { BAD_INPUT, BEARER_ERRORS, bearerGuard, routeTable } from '../route-table.js';
import { ChangePasswordBody, EventsQuery, RenameBody, RevokeAllBody, SessionIdParam } from '../schemas.js';
import { sessionJson } from '../views.js';
import { ChangeEmailBody } from './email.js';

/** `/v1/users/*` and `/v1/sessions*`: the signed-in user and their devices (sessions). */
export function usersRoutes(ctx: RouteContext) {
  const { sessions, profile } = ctx;
  // Every path under /v1/users and /v1/sessions wants the token, known or not: an unknown one
  // is refused (401) before it is found missing (404), as it always was.
  const bearer = bearerGuard(ctx);
  const table = routeTable<{ Variables: AuthVariables }>('/v1', {
    guard: bearer,
    guardPaths: ['/users/*', '/sessions', '/sessions/*'],
  });

  table.route(
    {
      method: 'get',
      path: '/users/me',
      tag: 'account',
      summary: 'The signed-in user',
      ok: { status: 200, description: 'The user', schema: R.Me },
      errors: BEARER_ERRORS,
    },
    async (c) => c.json(meJson(await sessions.me(c.get('caller')))),
  );

  table.route(
    {
      method: 'patch',
      path: '/users/me',
      tag: 'account',
      summary: 'Change the display name (null or empty clears it)',
      body: { schema: RenameBody },
      ok: { status: 200, description: 'The user', schema: R.Me },
      errors: [...BAD_INPUT, ...BEARER_ERRORS],
    },
    async (c, { body }) => c.json(meJson(await profile.rename(c.get('caller'), body.name))),
  );

  table.route(
    {
      method: 'delete',
      path: '/users/me',
      tag: 'account',
      summary: 'Delete the account: every session revoked, personal data erased',
      description:
        'Needs a fresh authentication (auth_time within 300 s), at aal2 when the account has MFA. What is kept, and for how long: docs/data-model.md, "Deleting an account".',
      // The table's guard checks the token once; the service asks for freshness (and aal2 with
      // MFA), which depends on the account. Documented, not checked twice.
      security: {
        requirement: bearer.requirement,
        note: `Needs an authentication less than ${FRESH_AUTH_SECONDS} s old, and \`acr\` aal2 when the account has MFA (RFC 9470).`,
      },
      ok: { status: 204, description: 'Deleted' },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication'],
    },
    async (c) => {
      await profile.deleteAccount(c.get('caller'));
      return c.body(null, 204);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/users/me/email',
      tag: 'account',
      summary: 'Change the email address: a confirmation link goes to the new one',
      description:
        'Needs the current password and a fresh authentication (auth_time within 300 s), at aal2 when the account has MFA. Nothing changes until the link sent to the new address is used (POST /v1/auth/email/change/confirm); the current address gets a notice with a "this wasn\'t me" link (POST /v1/auth/email/change/revert). A newer request voids the older link. 409 `email_taken` when another account has the address.',
      security: {
        requirement: bearer.requirement,
        note: `Needs an authentication less than ${FRESH_AUTH_SECONDS} s old, and \`acr\` aal2 when the account has MFA (RFC 9470).`,
      },
      body: { schema: ChangeEmailBody },
      ok: { status: 202, description: 'Confirmation sent', schema: R.EmailChangePending },
      errors: [
        ...BAD_INPUT,
        ...BEARER_ERRORS,
        'insufficient_user_authentication',
        'wrong_password',
        'email_taken',
        'rate_limited',
      ],
    },
    async (c, { body }) => {
      const pending = await ctx.emailAddress.requestChange(c.get('caller'), {
        email: body.email,
        password: body.password,
        device: requestDevice(c, ctx.config, ctx.getClientIp),
      });
      return c.json({ status: 'confirmation_sent' as const, pending_email: pending.pendingEmail }, 202);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/users/me/password',
      tag: 'account',
      summary: 'Change the password; every other session is revoked',
      body: { schema: ChangePasswordBody },
      ok: { status: 204, description: 'Changed' },
      errors: [...BAD_INPUT, ...BEARER_ERRORS, 'wrong_password', 'invalid_password', 'rate_limited'],
    },
    async (c, { body }) => {
      await sessions.changePassword(c.get('caller'), {
        currentPassword: body.current_password,
        newPassword: body.new_password,
        device: requestDevice(c, ctx.config, ctx.getClientIp),
      });
      return c.body(null, 204);
    },
  );

  table.route(
    {
      method: 'get',
      path: '/users/me/events',
      tag: 'account',
      summary: 'Security activity of the account, newest first (keyset paging)',
      query: { schema: EventsQuery, invalid: () => 'limit must be 1-100; cursor from next_cursor' },
      ok: { status: 200, description: 'A page of events', schema: R.SecurityEvents },
      errors: ['invalid_request', ...BEARER_ERRORS],
    },
    async (c, { query }) => {
      const page = await sessions.events(c.get('caller'), {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return c.json({
        events: page.items.map((event) => ({
          id: event.id,
          type: event.type,
          created_at: event.at.toISOString(),
          session_id: event.sessionId,
          ip_address: event.ipAddress,
          user_agent: event.userAgent,
          details: event.details ?? {},
        })),
        next_cursor: page.nextCursor,
      });
    },
  );

  table.route(
    {
      method: 'get',
      path: '/sessions',
      tag: 'sessions',
      summary: 'Live sessions (devices), newest activity first',
      ok: { status: 200, description: 'Sessions', schema: R.SessionList },
      errors: BEARER_ERRORS,
    },
    async (c) => {
      const caller = c.get('caller');
      const list = await sessions.list(caller);
      return c.json({ sessions: list.map((session) => sessionJson(session, caller.sid)) });
    },
  );

  table.route(
    {
      method: 'post',
      path: '/sessions/revoke-all',
      tag: 'sessions',
      summary: "Revoke every session but the caller's (or all with include_current)",
      body: { schema: RevokeAllBody, optional: true },
      ok: { status: 200, description: 'How many were revoked', schema: R.RevokedCount },
      errors: [...BAD_INPUT, ...BEARER_ERRORS],
    },
    async (c, { body }) => {
      const revoked = await sessions.revokeAll(c.get('caller'), {
        includeCurrent: body.include_current ?? false,
      });
      return c.json({ revoked });
    },
  );

  table.route(
    {
      method: 'delete',
      path: '/sessions/:id',
      tag: 'sessions',
      summary: 'Revoke one of your sessions',
      ok: { status: 204, description: 'Revoked' },
      errors: [...BEARER_ERRORS, 'not_found'],
    },
    async (c) => {
      const id = SessionIdParam.safeParse(c.req.param('id'));
      if (!id.success) throw new AuthError('not_found', 'No live session of yours has this id');
      await sessions.revoke(c.get('caller'), id.data);
      return c.body(null, 204);
    },
  );

  return table.done();
}

/** The contract's user (API.md, GET /v1/users/me). */
const meJson = (user: UserRecord) => ({
  user: {
    id: user.id,
    email: user.email,
    name: user.name,
    email_verified: user.emailVerifiedAt !== null,
    mfa_enabled: user.mfaEnabled,
    created_at: user.createdAt.toISOString(),
  },
});
