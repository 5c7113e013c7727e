import type { MiddlewareHandler } from 'hono';
import { MAX_ANALYTICS_DAYS } from '../../domain/analytics.js';
import { ADMIN_ASSURANCE } from '../../domain/assurance.js';
import type { AuthErrorCode } from '../../domain/errors.js';
import type { OutboxMessageView } from '../../ports/mail.js';
import type { AdminUserView } from '../../ports/store.js';
import type { Admin, AdminService } from '../../services/admin-service.js';
import type { RouteContext } from '../context.js';
import type { AuthVariables } from '../middleware/require-auth.js';
import { requestDevice } from '../request.js';
import * as R from '../responses.js';
import { BEARER_ERRORS, bearerGuard, extendGuard, type OkResponse, routeTable } from '../route-table.js';
import { AdminMailQuery, AdminUsersQuery, AnalyticsQuery } from '../schemas.js';
import { sessionJson } from '../views.js';
import { adminWebhookRoutes } from './admin-webhooks.js';

const adminUserJson = (user: AdminUserView) => ({
  id: user.id,
  email: user.email,
  name: user.name,
  role: user.role,
  mfa_enabled: user.mfaEnabled,
  disabled: user.disabledAt !== null,
  disabled_at: user.disabledAt?.toISOString() ?? null,
  created_at: user.createdAt.toISOString(),
  live_sessions: user.liveSessions,
});

/** Never the body: it may hold a live single-use link. */
export const adminMailJson = (message: OutboxMessageView) => ({
  id: message.id,
  kind: message.kind,
  user_id: message.userId,
  status: message.status,
  attempts: message.attempts,
  next_attempt_at: message.nextAttemptAt.toISOString(),
  last_error: message.lastError,
  created_at: message.createdAt.toISOString(),
  sent_at: message.sentAt?.toISOString() ?? null,
});

const ADMIN_ERRORS: AuthErrorCode[] = [...BEARER_ERRORS, 'insufficient_user_authentication', 'forbidden'];

/**
 * `/v1/admin/*`: a live session at `aal2` (RFC 9470 step-up challenge otherwise) of a user
 * whose role is `admin` (403 `forbidden` otherwise). The role is granted by an operator with
 * `npm run cli -- users:role EMAIL admin`; nothing in the HTTP API grants it.
 */
export function adminRoutes(ctx: RouteContext) {
  const { admin: service } = ctx;
  const authorize: MiddlewareHandler<{ Variables: AuthVariables & { admin: Admin } }> = async (c, next) => {
    c.set('admin', await service.authorize(c.get('caller')));
    await next();
  };
  // The whole table, unknown paths included: nothing under /v1/admin answers before the guard.
  const table = routeTable<{ Variables: AuthVariables & { admin: Admin } }>('/v1/admin', {
    guard: extendGuard(
      bearerGuard(ctx, ADMIN_ASSURANCE),
      'An access token at `acr` aal2 (else 401 `insufficient_user_authentication`) of a user whose role is `admin` (else 403 `forbidden`); the role is granted with `npm run cli -- users:role EMAIL admin`.',
      authorize as MiddlewareHandler,
    ),
  });
  const device = (c: Parameters<typeof requestDevice>[0]) => requestDevice(c, ctx.config, ctx.getClientIp);
  const route = (
    method: 'get' | 'post' | 'delete',
    path: string,
    summary: string,
    ok: OkResponse,
    errors: AuthErrorCode[] = [...ADMIN_ERRORS, 'not_found'],
  ) => ({ method, path, tag: 'admin', summary, ok, errors });

  table.route(
    {
      ...route(
        'get',
        '/users',
        'Search users by email prefix or id, in email order',
        { status: 200, description: 'A page of users', schema: R.AdminUserList },
        ['invalid_request', ...ADMIN_ERRORS],
      ),
      query: {
        schema: AdminUsersQuery,
        // A forged cursor is named: it is refused here, before it reaches a query (issue 15 §8).
        invalid: (error) =>
          error.issues.some((issue) => issue.path[0] === 'cursor')
            ? 'cursor is not valid: send next_cursor as received'
            : 'q: up to 320 characters; limit: 1-100',
      },
    },
    async (c, { query }) => {
      const page = await service.searchUsers({
        limit: query.limit,
        ...(query.q !== undefined ? { q: query.q } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return c.json({ users: page.users.map(adminUserJson), next_cursor: page.nextCursor });
    },
  );

  table.route(
    route('get', '/users/:id', 'One user', { status: 200, description: 'The user', schema: R.AdminUserOne }),
    async (c) => c.json({ user: adminUserJson(await service.getUser(c.req.param('id')!)) }),
  );

  table.route(
    route('get', '/users/:id/sessions', "A user's live sessions", {
      status: 200,
      description: 'Sessions',
      schema: R.SessionList,
    }),
    async (c) => {
      const list = await service.listSessions(c.req.param('id')!);
      return c.json({ sessions: list.map((session) => sessionJson(session, c.get('admin').sessionId)) });
    },
  );

  table.route(
    route(
      'post',
      '/users/:id/sessions/revoke-all',
      'Revoke every session of a user (event admin_sessions_revoked)',
      { status: 200, description: 'How many were revoked', schema: R.RevokedCount },
    ),
    async (c) => {
      const revoked = await service.revokeAllSessions(c.get('admin'), c.req.param('id')!, device(c));
      return c.json({ revoked });
    },
  );

  table.route(
    route(
      'delete',
      '/users/:id/sessions/:session_id',
      "Revoke one of a user's sessions (event admin_session_revoked)",
      { status: 204, description: 'Revoked' },
    ),
    async (c) => {
      const { id, session_id } = c.req.param() as { id: string; session_id: string };
      await service.revokeSession(c.get('admin'), id, session_id, device(c));
      return c.body(null, 204);
    },
  );

  table.route(
    {
      ...route(
        'post',
        '/users/:id/disable',
        'Disable a user: no more logins, and every session revoked at once (event admin_user_disabled)',
        {
          status: 200,
          description: 'The user, and how many sessions were revoked',
          schema: R.AdminUserDisabled,
        },
        ['invalid_request', ...ADMIN_ERRORS, 'not_found'],
      ),
      description:
        'Idempotent: disabling a disabled user changes nothing (`revoked: 0`, no event). Not your own account.',
    },
    async (c) => {
      const { user, revoked } = await service.disableUser(c.get('admin'), c.req.param('id')!, device(c));
      return c.json({ user: adminUserJson(user), revoked });
    },
  );

  table.route(
    route('post', '/users/:id/enable', 'Re-enable a disabled user (event admin_user_enabled)', {
      status: 200,
      description: 'The user',
      schema: R.AdminUserOne,
    }),
    async (c) => {
      const user = await service.enableUser(c.get('admin'), c.req.param('id')!, device(c));
      return c.json({ user: adminUserJson(user) });
    },
  );

  table.route(
    route(
      'delete',
      '/users/:id/mfa',
      "Reset a user's MFA: factor and recovery codes removed, every session revoked (event admin_mfa_reset)",
      { status: 200, description: 'How many sessions were revoked', schema: R.RevokedCount },
      [...ADMIN_ERRORS, 'not_found', 'mfa_not_enabled'],
    ),
    async (c) => {
      const revoked = await service.resetMfa(c.get('admin'), c.req.param('id')!, device(c));
      return c.json({ revoked });
    },
  );

  table.route(
    {
      ...route(
        'post',
        '/users/:id/password-reset',
        'Send the user a password reset link (event password_reset_requested, by admin)',
        {
          status: 202,
          description: 'The link is queued for the user’s own address',
          schema: R.ResetLinkSent,
        },
        [...ADMIN_ERRORS, 'not_found', 'user_disabled'],
      ),
      description:
        'The link goes through the outbox to the account’s address, as `POST /v1/auth/password/forgot` sends it (a newer link voids the older ones); the admin never sees it, nor sets a password. No per-address limit. 409 `user_disabled` for a disabled account: enable it first.',
    },
    async (c) => {
      await service.sendResetLink(c.get('admin'), c.req.param('id')!, device(c));
      return c.json({ sent: true }, 202);
    },
  );

  table.route(
    {
      ...route(
        'get',
        '/mail',
        'The mail outbox, newest first, without bodies',
        { status: 200, description: 'A page of messages', schema: R.AdminMailList },
        ['invalid_request', ...ADMIN_ERRORS],
      ),
      description:
        'Each message: id, kind, user, status (`pending`, `sent`, `failed`), attempts, when it is next due, its last error (at most 500 characters), when it was written and sent. Never its body, which may hold a live link.',
      query: {
        schema: AdminMailQuery,
        invalid: (error) =>
          error.issues.some((issue) => issue.path[0] === 'cursor')
            ? 'cursor is not valid: send next_cursor as received'
            : 'status: pending, sent or failed; limit: 1-100',
      },
    },
    async (c, { query }) => {
      const page = await service.listMail(query);
      return c.json({ messages: page.messages.map(adminMailJson), next_cursor: page.nextCursor });
    },
  );

  table.route(
    {
      ...route(
        'post',
        '/mail/:id/retry',
        'Put a failed message back in the queue',
        {
          status: 202,
          description: 'Pending again, due now, its attempts counted from zero',
          schema: R.MailRetried,
        },
        [...ADMIN_ERRORS, 'not_found', 'mail_not_retryable'],
      ),
      description:
        'One conditional UPDATE: only a `failed` message whose body is still kept (409 `mail_not_retryable` otherwise; 404 for an unknown id).',
    },
    async (c) => {
      await service.retryMail(c.get('admin'), c.req.param('id')!);
      return c.json({ retried: true }, 202);
    },
  );

  table.route(
    {
      ...route(
        'get',
        '/analytics',
        'Sessions, logins, reuse detections and throttling over the last days',
        { status: 200, description: 'The figures', schema: R.Analytics },
        ['invalid_request', ...ADMIN_ERRORS],
      ),
      query: { schema: AnalyticsQuery, invalid: () => `days must be 1-${MAX_ANALYTICS_DAYS}` },
    },
    async (c, { query }) => c.json(analyticsJson(await service.analytics(query.days))),
  );

  // /v1/admin/webhooks*: declared on this table, behind the same guard.
  adminWebhookRoutes(table, ctx, ADMIN_ERRORS);

  return table.done();
}

/** The analytics report in the contract's words (API.md, Admin analytics). */
function analyticsJson(report: Awaited<ReturnType<AdminService['analytics']>>) {
  const buckets = (rows: { upToSeconds: number | null; count: number }[]) =>
    rows.map((row) => ({ up_to_seconds: row.upToSeconds, count: row.count }));
  return {
    generated_at: report.generatedAt.toISOString(),
    since: report.since.toISOString(),
    days: report.days,
    active_sessions: {
      total: report.liveSessions.sessions,
      users: report.liveSessions.users,
      per_user: {
        p50: report.liveSessions.p50,
        p90: report.liveSessions.p90,
        p99: report.liveSessions.p99,
        max: report.liveSessions.max,
      },
    },
    sessions_created_per_day: report.sessionsCreatedPerDay,
    session_durations: {
      ended: buckets(report.endedSessionDurations),
      live: buckets(report.liveSessionAges),
    },
    logins_by_country: report.loginsByCountry,
    logins_by_device_family: report.loginsByDeviceFamily,
    reuse_detections_per_day: report.reuseDetectionsPerDay,
    throttled_per_day: report.throttledPerDay,
  };
}
