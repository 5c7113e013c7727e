import { Hono } from 'hono';
import { AuthError } from '../../domain/errors.js';
import type { RouteContext } from '../context.js';
import { type AuthVariables, requireAuth } from '../middleware/require-auth.js';
import { readJson, requestDevice } from '../request.js';
import { ChangePasswordBody, EventsQuery, RevokeAllBody, SessionIdParam } from '../schemas.js';
import { sessionJson } from '../views.js';

/** `/v1/users/*` and `/v1/sessions*`: the signed-in user's account and devices. */
export function accountRoutes(ctx: RouteContext) {
  const { sessions } = ctx;
  const app = new Hono<{ Variables: AuthVariables }>();
  app.use('/users/*', requireAuth(sessions, ctx.clock));
  app.use('/sessions', requireAuth(sessions, ctx.clock));
  app.use('/sessions/*', requireAuth(sessions, ctx.clock));

  app.get('/users/me', async (c) => {
    const user = await sessions.me(c.get('caller'));
    return c.json({
      user: {
        id: user.id,
        email: user.email,
        name: user.name,
        mfa_enabled: user.mfaEnabled,
        created_at: user.createdAt.toISOString(),
      },
    });
  });

  app.post('/users/me/password', async (c) => {
    const body = await readJson(c, ChangePasswordBody);
    await sessions.changePassword(c.get('caller'), {
      currentPassword: body.current_password,
      newPassword: body.new_password,
      device: requestDevice(c, ctx.config, ctx.getClientIp),
    });
    return c.body(null, 204);
  });

  app.get('/users/me/events', async (c) => {
    const query = EventsQuery.safeParse(c.req.query());
    if (!query.success)
      throw new AuthError('invalid_request', 'limit must be 1-100; cursor from next_cursor');
    const page = await sessions.events(c.get('caller'), {
      limit: query.data.limit,
      ...(query.data.cursor ? { cursor: query.data.cursor } : {}),
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
  });

  app.get('/sessions', async (c) => {
    const caller = c.get('caller');
    const list = await sessions.list(caller);
    return c.json({ sessions: list.map((session) => sessionJson(session, caller.sid)) });
  });

  app.post('/sessions/revoke-all', async (c) => {
    const body = await readJson(c, RevokeAllBody, { allowEmpty: true });
    const revoked = await sessions.revokeAll(c.get('caller'), {
      includeCurrent: body.include_current ?? false,
    });
    return c.json({ revoked });
  });

  app.delete('/sessions/:id', async (c) => {
    const id = SessionIdParam.safeParse(c.req.param('id'));
    if (!id.success) throw new AuthError('not_found', 'No live session of yours has this id');
    await sessions.revoke(c.get('caller'), id.data);
    return c.body(null, 204);
  });

  return app;
}
