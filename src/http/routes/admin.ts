import { Hono } from 'hono';
import { AuthError } from '../../domain/errors.js';
import type { AdminUserView } from '../../ports/store.js';
import type { Admin } from '../../services/admin-service.js';
import type { RouteContext } from '../context.js';
import { type AuthVariables, requireAuth } from '../middleware/require-auth.js';
import { requestDevice } from '../request.js';
import { AdminUsersQuery, AnalyticsQuery } from '../schemas.js';
import { sessionJson } from '../views.js';

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

/**
 * `/v1/admin/*`: a live session at `aal2` (RFC 9470 step-up challenge otherwise) of a user
 * whose role is `admin` (403 `forbidden` otherwise). The role is granted by an operator with
 * `npm run cli -- users:role EMAIL admin`; nothing in the HTTP API grants it.
 */
export function adminRoutes(ctx: RouteContext) {
  const { admin: service } = ctx;
  const app = new Hono<{ Variables: AuthVariables & { admin: Admin } }>();
  app.use('*', requireAuth(ctx.sessions, ctx.clock, { acr: 'aal2' }));
  app.use('*', async (c, next) => {
    c.set('admin', await service.authorize(c.get('caller')));
    await next();
  });
  const device = (c: Parameters<typeof requestDevice>[0]) => requestDevice(c, ctx.config, ctx.getClientIp);

  app.get('/users', async (c) => {
    const query = AdminUsersQuery.safeParse(c.req.query());
    if (!query.success) {
      // A forged cursor is named: it is refused here, before it reaches a query (issue 15 §8).
      const badCursor = query.error.issues.some((issue) => issue.path[0] === 'cursor');
      throw new AuthError(
        'invalid_request',
        badCursor
          ? 'cursor is not valid: send next_cursor as received'
          : 'q: up to 320 characters; limit: 1-100',
      );
    }
    const page = await service.searchUsers({
      limit: query.data.limit,
      ...(query.data.q !== undefined ? { q: query.data.q } : {}),
      ...(query.data.cursor !== undefined ? { cursor: query.data.cursor } : {}),
    });
    return c.json({ users: page.users.map(adminUserJson), next_cursor: page.nextCursor });
  });

  app.get('/users/:id', async (c) =>
    c.json({ user: adminUserJson(await service.getUser(c.req.param('id'))) }),
  );

  app.get('/users/:id/sessions', async (c) => {
    const list = await service.listSessions(c.req.param('id'));
    return c.json({ sessions: list.map((session) => sessionJson(session, c.get('admin').sessionId)) });
  });

  app.post('/users/:id/sessions/revoke-all', async (c) => {
    const revoked = await service.revokeAllSessions(c.get('admin'), c.req.param('id'), device(c));
    return c.json({ revoked });
  });

  app.delete('/users/:id/sessions/:session_id', async (c) => {
    await service.revokeSession(c.get('admin'), c.req.param('id'), c.req.param('session_id'), device(c));
    return c.body(null, 204);
  });

  app.post('/users/:id/disable', async (c) => {
    const { user, revoked } = await service.disableUser(c.get('admin'), c.req.param('id'), device(c));
    return c.json({ user: adminUserJson(user), revoked });
  });

  app.post('/users/:id/enable', async (c) => {
    const user = await service.enableUser(c.get('admin'), c.req.param('id'), device(c));
    return c.json({ user: adminUserJson(user) });
  });

  app.delete('/users/:id/mfa', async (c) => {
    const revoked = await service.resetMfa(c.get('admin'), c.req.param('id'), device(c));
    return c.json({ revoked });
  });

  app.get('/analytics', async (c) => {
    const query = AnalyticsQuery.safeParse(c.req.query());
    if (!query.success) throw new AuthError('invalid_request', 'days must be 1-90');
    const report = await service.analytics(query.data.days);
    const buckets = (rows: { upToSeconds: number | null; count: number }[]) =>
      rows.map((row) => ({ up_to_seconds: row.upToSeconds, count: row.count }));
    return c.json({
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
    });
  });

  return app;
}
