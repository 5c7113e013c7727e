import { base64url } from 'jose';
import { AuthError } from '../domain/errors.js';
import { isActiveAdmin } from '../domain/roles.js';
import { userAgentFamily } from '../domain/session-binding.js';
import { DAY, HOUR, MINUTE, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { OutboxReview, OutboxStatus } from '../ports/mail.js';
import type {
  AdminQueries,
  AdminUserView,
  DayCount,
  SecurityEventLog,
  SecurityEventType,
  SessionStore,
  SessionView,
  UserRecord,
  UserStore,
} from '../ports/store.js';
import { originOf } from '../ports/store.js';
import { createOutboxReviewService, RETRY_REFUSED } from './outbox-review.js';
import type { PasswordReset } from './password-reset.js';
import type { Caller } from './session-service.js';
import { userOfCaller } from './session-service.js';
import type { RequestDevice } from './types.js';

/**
 * The admin API's logic (/v1/admin/*). The route guard has already checked a live session at
 * `aal2`; `authorize` adds the role, read from the database on every call so that a revoked
 * role or a disabled admin stops at once. Every action is a security event on the target
 * user's log naming the admin (OWASP ASVS V7.2.2: administrative actions are logged).
 */
export interface Admin {
  user: UserRecord;
  sessionId: string;
}

/** Upper bounds of the session-duration buckets; a last bucket holds the longer ones. */
export const DURATION_BUCKETS_SECONDS = [5 * MINUTE, HOUR, DAY, 7 * DAY, 30 * DAY].map((ms) => ms / SECOND);

/** User-agent strings read for logins by device family; rarer ones are counted as `other`. */
const USER_AGENT_LIMIT = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Keyset paging by email: the cursor is the last email of the page, base64url. */
const encodeCursor = (email: string) => base64url.encode(new TextEncoder().encode(email));
function decodeCursor(cursor: string): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(cursor));
  } catch {
    return undefined;
  }
}

const utcDay = (at: Date) => at.toISOString().slice(0, 10);

export function createAdminService(deps: {
  store: AdminQueries &
    Pick<SessionStore, 'listSessions' | 'revokeSession' | 'revokeUserSessions'> &
    Pick<UserStore, 'findUserById'> &
    SecurityEventLog &
    OutboxReview;
  clock: Clock;
  /** The reset link an admin sends (POST /v1/admin/users/:id/password-reset). */
  passwordReset: Pick<PasswordReset, 'sendResetLink'>;
  /** For the actions that concern no user's log (a mail retried): one line each. */
  logger?: Logger;
}) {
  const { store, clock } = deps;
  const logger = deps.logger ?? silentLogger;
  const mail = createOutboxReviewService({ outbox: store, clock });

  async function authorize(caller: Caller): Promise<Admin> {
    const user = await userOfCaller(store, caller);
    if (!isActiveAdmin(user)) {
      throw new AuthError('forbidden', 'This needs an administrator account');
    }
    return { user, sessionId: caller.sid };
  }

  async function audit(
    admin: Admin,
    type: SecurityEventType,
    target: { userId: string; sessionId?: string },
    device: RequestDevice,
    details: Record<string, unknown> = {},
  ) {
    await store.recordSecurityEvent({
      userId: target.userId,
      sessionId: target.sessionId ?? null,
      type,
      ...originOf(device),
      details: { admin_id: admin.user.id, admin_session_id: admin.sessionId, ...details },
      at: clock.now(),
    });
  }

  async function searchUsers(query: { q?: string; limit: number; cursor?: string }) {
    const q = query.q?.normalize('NFKC').trim().toLowerCase() ?? '';
    const afterEmail = query.cursor ? decodeCursor(query.cursor) : undefined;
    if (query.cursor && afterEmail === undefined)
      throw new AuthError('invalid_request', 'cursor is not valid');
    const rows = await store.searchUsers(
      {
        ...(UUID.test(q) ? { id: q } : q ? { emailPrefix: q } : {}),
        limit: query.limit + 1,
        ...(afterEmail ? { afterEmail } : {}),
      },
      clock.now(),
    );
    const users = rows.slice(0, query.limit);
    const last = users.at(-1);
    return { users, nextCursor: rows.length > query.limit && last ? encodeCursor(last.email) : null };
  }

  async function getUser(userId: string): Promise<AdminUserView> {
    const [user] = UUID.test(userId) ? await store.searchUsers({ id: userId, limit: 1 }, clock.now()) : [];
    if (!user) throw new AuthError('not_found', 'No user has this id');
    return user;
  }

  async function listSessions(userId: string): Promise<SessionView[]> {
    await getUser(userId);
    return store.listSessions(userId, clock.now());
  }

  async function revokeSession(admin: Admin, userId: string, sessionId: string, device: RequestDevice) {
    const revoked =
      UUID.test(userId) &&
      UUID.test(sessionId) &&
      (await store.revokeSession({ sessionId, userId, now: clock.now(), reason: 'revoked_by_admin' }));
    if (!revoked) throw new AuthError('not_found', 'This user has no live session with this id');
    await audit(admin, 'admin_session_revoked', { userId, sessionId }, device);
  }

  async function revokeAllSessions(admin: Admin, userId: string, device: RequestDevice): Promise<number> {
    await getUser(userId);
    const revoked = await store.revokeUserSessions({ userId, now: clock.now(), reason: 'revoked_by_admin' });
    await audit(admin, 'admin_sessions_revoked', { userId }, device, { revoked });
    return revoked;
  }

  async function disableUser(admin: Admin, userId: string, device: RequestDevice) {
    if (userId.toLowerCase() === admin.user.id.toLowerCase()) {
      throw new AuthError('invalid_request', 'An administrator cannot disable their own account');
    }
    const outcome = UUID.test(userId) ? await store.disableUser({ userId, now: clock.now() }) : 'not_found';
    if (outcome === 'not_found') throw new AuthError('not_found', 'No user has this id');
    // Disabling twice changes nothing and says so; only a change is an event.
    const revoked = outcome === 'unchanged' ? 0 : outcome.revoked;
    if (outcome !== 'unchanged') await audit(admin, 'admin_user_disabled', { userId }, device, { revoked });
    return { user: await getUser(userId), revoked };
  }

  async function enableUser(admin: Admin, userId: string, device: RequestDevice) {
    const outcome = UUID.test(userId) ? await store.enableUser(userId) : 'not_found';
    if (outcome === 'not_found') throw new AuthError('not_found', 'No user has this id');
    if (outcome === 'ok') await audit(admin, 'admin_user_enabled', { userId }, device);
    return getUser(userId);
  }

  async function resetMfa(admin: Admin, userId: string, device: RequestDevice): Promise<number> {
    const outcome = UUID.test(userId) ? await store.resetMfa({ userId, now: clock.now() }) : 'not_found';
    if (outcome === 'not_found') throw new AuthError('not_found', 'No user has this id');
    if (outcome === 'not_enabled') throw new AuthError('mfa_not_enabled', 'This user has no MFA factor');
    await audit(admin, 'admin_mfa_reset', { userId }, device, { revoked: outcome.revoked });
    return outcome.revoked;
  }

  /**
   * Sends the user a reset link (issue #17, flow 6); the admin never sees it. The event
   * `password_reset_requested`, with `by: 'admin'` and the admin's ids, IP and user agent, is the
   * audit record, written in the transaction that issues the link. 404 for an unknown or
   * deleted user, 409 `user_disabled` for a disabled one (enable first: a disabled account
   * gets no link, as the forgot flow sends it none).
   */
  async function sendResetLink(admin: Admin, userId: string, device: RequestDevice): Promise<void> {
    const user = await getUser(userId);
    const outcome = await deps.passwordReset.sendResetLink({
      userId: user.id,
      actor: { by: 'admin', adminId: admin.user.id, adminSessionId: admin.sessionId },
      device,
    });
    if (outcome === 'not_found') throw new AuthError('not_found', 'No user has this id');
    if (outcome === 'disabled')
      throw new AuthError('user_disabled', 'This user is disabled: enable the account first');
  }

  /** The outbox, newest first, without bodies (GET /v1/admin/mail). */
  function listMail(query: {
    status?: OutboxStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }) {
    return mail.list(query);
  }

  /**
   * A failed message back to pending (POST /v1/admin/mail/:id/retry). A delivery matter, not
   * an act on an account (and a message may have no user), so the audit is a log line naming
   * the admin rather than a security event (OWASP ASVS V7.2.2).
   */
  async function retryMail(admin: Admin, messageId: string): Promise<void> {
    const outcome = await mail.retry(messageId);
    if (outcome === 'not_found') throw new AuthError('not_found', RETRY_REFUSED.not_found);
    if (outcome !== 'retried') throw new AuthError('mail_not_retryable', RETRY_REFUSED[outcome]);
    logger.info('admin action', {
      action: 'mail_retried',
      message_id: messageId.toLowerCase(),
      admin_id: admin.user.id,
      admin_session_id: admin.sessionId,
    });
  }

  /** The figures of the last `days` UTC days, today included. */
  async function analytics(days: number) {
    const now = clock.now();
    const today = Date.parse(`${utcDay(now)}T00:00:00.000Z`);
    const since = new Date(today - (days - 1) * DAY);
    const figures = await store.analytics({
      now,
      since,
      durationBuckets: DURATION_BUCKETS_SECONDS,
      userAgentLimit: USER_AGENT_LIMIT,
    });
    // Every day of the window, zeros included, so a chart needs no gap filling.
    const series = (counts: DayCount[]) =>
      Array.from({ length: days }, (_, index) => {
        const day = utcDay(new Date(since.getTime() + index * DAY));
        return { day, count: counts.find((entry) => entry.day === day)?.count ?? 0 };
      });
    const families = new Map<string, number>();
    const readLogins = figures.loginsByUserAgent.reduce((sum, row) => sum + row.count, 0);
    for (const row of figures.loginsByUserAgent) {
      const family = row.userAgent ? userAgentFamily(row.userAgent) : 'unknown';
      families.set(family, (families.get(family) ?? 0) + row.count);
    }
    const allLogins = figures.sessionsCreated.reduce((sum, day) => sum + day.count, 0);
    if (allLogins > readLogins) families.set('other', (families.get('other') ?? 0) + allLogins - readLogins);
    return {
      generatedAt: now,
      since,
      days,
      liveSessions: figures.liveSessionsPerUser,
      sessionsCreatedPerDay: series(figures.sessionsCreated),
      liveSessionAges: figures.liveSessionAges,
      endedSessionDurations: figures.endedSessionDurations,
      loginsByCountry: figures.loginsByCountry.map((row) => ({
        country: row.country ?? 'unknown',
        count: row.count,
      })),
      loginsByDeviceFamily: [...families]
        .map(([family, count]) => ({ family, count }))
        .sort((a, b) => b.count - a.count || a.family.localeCompare(b.family)),
      reuseDetectionsPerDay: series(figures.reuseDetections),
      throttledPerDay: series(figures.throttled),
    };
  }

  return {
    authorize,
    searchUsers,
    getUser,
    listSessions,
    revokeSession,
    revokeAllSessions,
    disableUser,
    enableUser,
    resetMfa,
    sendResetLink,
    listMail,
    retryMail,
    analytics,
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
