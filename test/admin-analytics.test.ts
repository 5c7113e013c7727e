import { randomUUID } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AnalyticsWindow, analyticsQueries } from '../src/adapters/db/analytics-queries.js';
import { rowsOf } from '../src/adapters/db/database.js';
import { refreshTokens, securityEvents, users } from '../src/adapters/db/schema.js';
import { Analytics } from '../src/http/responses.js';
import type { RevokeReason, SecurityEventType } from '../src/ports/store.js';
import { createAdminService, DURATION_BUCKETS_SECONDS } from '../src/services/admin-service.js';
import { call, login, registerUser } from './support/client.js';
import { onPostgres } from './support/database.js';
import { buildLatchkey, type Latchkey, PASSWORD, TestClock, useDatabase } from './support/harness.js';
import { base32Decode, totp } from './support/totp.js';

/**
 * GET /v1/admin/analytics: every figure against a data set whose true values are written
 * down here, seeded straight into the tables; then (PostgreSQL only) the query plans of
 * `analyticsQueries` over tens of thousands of rows, which must not read either big table
 * sequentially.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { clock: new TestClock(new Date(NOW)) });
});
const db = () => database.current.db;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The report's "now": mid-day, so that today has logins before and after it. */
const NOW = new Date('2030-03-15T12:00:00.000Z');
const at = (iso: string) => new Date(iso);
const minus = (time: Date, ms: number) => new Date(time.getTime() - ms);
const plus = (time: Date, ms: number) => new Date(time.getTime() + ms);

/** USER_AGENT_LIMIT in src/services/admin-service.ts: user-agent strings read per report. */
const USER_AGENT_LIMIT = 1000;

/** The report of the last `days` UTC days, as the admin API computes it, at `now`. */
const analyticsAt = (now: Date, days: number) =>
  createAdminService({ store: lk.store, clock: new TestClock(now), passwordReset: noResetLinks }).analytics(
    days,
  );

/** The analytics send no mail. */
const noResetLinks = {
  sendResetLink: () => Promise.reject(new Error('not used by the analytics')),
};

type Report = Awaited<ReturnType<typeof analyticsAt>>;

/** Bucket counts in the order of the bounds: 5 min, 1 h, 1 day, 7 days, 30 days, longer. */
type SixCounts = [number, number, number, number, number, number];
const buckets = (counts: SixCounts) =>
  [300, 3600, 86_400, 604_800, 2_592_000, null].map((upToSeconds, index) => ({
    upToSeconds,
    count: counts[index],
  }));

const sum = (series: { count: number }[]) => series.reduce((total, entry) => total + entry.count, 0);

// ---------------------------------------------------------------------------------------------
// Seeding: rows written with drizzle, as the store would have left them.
// ---------------------------------------------------------------------------------------------

type UserRow = typeof users.$inferInsert;
type TokenRow = typeof refreshTokens.$inferInsert;
type EventRow = typeof securityEvents.$inferInsert;

interface SessionSeed {
  createdAt: Date;
  /** The head's expiry: live while it is after the report's now. */
  expiresAt: Date;
  /** Rotated rows before the head: history, never live, never an ending. */
  rotations?: number;
  /** Revokes the head and, as `revokeUntilNone` does, every rotated row of the session. */
  revoked?: { at: Date; reason: RevokeReason };
  /** An earlier head replaced by a step-up (revoked, `stepped_up`, never rotated); the session goes on. */
  steppedUpAt?: Date;
}

/** Rows to seed, gathered then written in a few statements. */
class Seed {
  private readonly userRows: UserRow[] = [];
  private readonly tokenRows: TokenRow[] = [];
  private readonly eventRows: EventRow[] = [];

  user(label = 'user'): string {
    const id = randomUUID();
    this.userRows.push({
      id,
      email: `${label}-${id}@analytics.test`,
      passwordHash: 'not-a-hash',
      createdAt: at('2029-01-01T00:00:00.000Z'),
    });
    return id;
  }

  session(userId: string, seed: SessionSeed): string {
    const sessionId = randomUUID();
    const row = (fields: Partial<TokenRow>): TokenRow => ({
      id: randomUUID(),
      tokenHash: randomUUID(),
      sessionId,
      userId,
      clientId: 'latchkey-web',
      remembered: true,
      acr: 'aal1',
      amr: ['pwd'],
      authTime: seed.createdAt,
      sessionCreatedAt: seed.createdAt,
      sessionExpiresAt: seed.expiresAt,
      issuedAt: seed.createdAt,
      expiresAt: seed.expiresAt,
      ...fields,
    });
    const revoked = seed.revoked
      ? { revokedAt: seed.revoked.at, revokedReason: seed.revoked.reason }
      : { revokedAt: null, revokedReason: null };
    for (let index = 0; index < (seed.rotations ?? 0); index++) {
      // Rotated rows keep a future expiry: only `rotated_at` says they are not the head.
      this.tokenRows.push(row({ rotatedAt: seed.createdAt, ...revoked }));
    }
    if (seed.steppedUpAt) {
      this.tokenRows.push(row({ revokedAt: seed.steppedUpAt, revokedReason: 'stepped_up' }));
    }
    this.tokenRows.push(row(revoked));
    return sessionId;
  }

  event(
    userId: string,
    type: SecurityEventType,
    createdAt: Date,
    device: { country?: string | null; userAgent?: string | null } = {},
  ): void {
    this.eventRows.push({
      id: randomUUID(),
      userId,
      type,
      userAgent: device.userAgent ?? null,
      details:
        type === 'login_succeeded' ? { client_id: 'latchkey-web', country: device.country ?? null } : {},
      // The store copies a login's details.country into this column (recordSecurityEvent).
      country: type === 'login_succeeded' ? (device.country ?? null) : null,
      createdAt,
    });
  }

  async write(): Promise<void> {
    const chunks = <T>(rows: T[]) =>
      Array.from({ length: Math.ceil(rows.length / 500) }, (_, index) =>
        rows.slice(index * 500, index * 500 + 500),
      );
    for (const chunk of chunks(this.userRows)) await db().insert(users).values(chunk);
    for (const chunk of chunks(this.tokenRows)) await db().insert(refreshTokens).values(chunk);
    for (const chunk of chunks(this.eventRows)) await db().insert(securityEvents).values(chunk);
  }
}

/** Every scenario starts from empty tables (the signing keys stay). */
const resetTables = () => db().execute(sql`TRUNCATE users, refresh_tokens, security_events CASCADE`);

const UA = {
  chrome120:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  chrome121:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  iphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  curl: 'curl/8.5.0',
} as const;

/**
 * Live sessions per user: 10 users, sorted 1,1,1,1,1,2,2,2,3,5 (19 sessions). With
 * percentile_disc (the smallest value whose cumulative fraction is >= p): p50 = 1 (the 5th of
 * 10, exactly 0.5), p90 = 3 (the 9th), p99 = max = 5. An interpolating percentile would say
 * 1.5 and 3.2.
 */
const LIVE_SESSIONS_PER_USER = [1, 1, 1, 1, 1, 2, 2, 2, 3, 5];

/** Ages of the 19 live sessions; a bound itself belongs to its bucket. */
const LIVE_AGES_MS = [
  ...[0, MINUTE, 5 * MINUTE], // <= 300 s
  ...[5 * MINUTE + 1, 30 * MINUTE, HOUR], // <= 1 h
  ...[HOUR + 500, 12 * HOUR, DAY], // <= 1 day
  ...[DAY + SECOND, 3 * DAY, 7 * DAY], // <= 7 days
  ...[7 * DAY + SECOND, 20 * DAY, 30 * DAY], // <= 30 days
  ...[30 * DAY + 1, 45 * DAY, 60 * DAY, 89 * DAY], // longer
];

/**
 * The known data set, relative to `now` (on 2030-03-15, after 00:00:00.001 and before
 * 23:59:59.999). The 7-day window starts 2030-03-09T00:00:00.000Z.
 */
function seedKnownDataSet(now: Date): Seed {
  const seed = new Seed();
  const since7 = at('2030-03-09T00:00:00.000Z');

  // Live sessions, each with some rotation history; one of them stepped up an hour ago.
  const ages = [...LIVE_AGES_MS];
  LIVE_SESSIONS_PER_USER.forEach((sessions, userIndex) => {
    const userId = seed.user(`live-${userIndex}`);
    for (let index = 0; index < sessions; index++) {
      const age = ages.shift()!;
      seed.session(userId, {
        createdAt: minus(now, age),
        // The youngest one has a millisecond left: still live.
        expiresAt: age === 0 ? plus(now, 1) : plus(now, DAY),
        rotations: age % 3 === 0 ? 3 : 1,
        ...(age === 3 * DAY ? { steppedUpAt: minus(now, HOUR) } : {}),
      });
    }
  });
  expect(ages).toEqual([]);

  // Expired heads, never revoked: neither live nor ended; their user has no live session.
  const lapsed = seed.user('lapsed');
  seed.session(lapsed, { createdAt: minus(now, 2 * DAY), expiresAt: now, rotations: 2 });
  seed.session(lapsed, { createdAt: minus(now, 10 * DAY), expiresAt: minus(now, 3 * DAY) });

  // Ended sessions: duration = LEAST(revoked_at, expires_at) - session_created_at.
  const leaver = seed.user('leaver');
  const ended = (createdAt: Date, revokedAt: Date, reason: RevokeReason, extra: Partial<SessionSeed> = {}) =>
    seed.session(leaver, {
      createdAt,
      expiresAt: plus(createdAt, 60 * DAY),
      revoked: { at: revokedAt, reason },
      ...extra,
    });
  // <= 300 s: exactly 300 s, revoked today.
  ended(minus(now, HOUR), minus(now, HOUR - 5 * MINUTE), 'logout');
  // <= 1 h: 300.001 s (two days ago), and 3600 s revoked exactly at the window's start.
  ended(minus(now, 2 * DAY + 5 * MINUTE + 1), minus(now, 2 * DAY), 'revoked_by_user', { rotations: 2 });
  ended(minus(since7, HOUR), since7, 'session_limit');
  // <= 1 day: exactly 1 day, revoked exactly now; and a head that expired 2 days ago, 1 day
  // after it began, revoked an hour ago by a revoke-all: 1 day (its expiry), not ~3 days.
  ended(minus(now, DAY), now, 'revoke_all');
  seed.session(leaver, {
    createdAt: minus(now, 3 * DAY),
    expiresAt: minus(now, 2 * DAY),
    revoked: { at: minus(now, HOUR), reason: 'revoke_all' },
  });
  // <= 7 days: a reuse detection revoked the whole family three days ago, after 2 days.
  ended(minus(now, 5 * DAY), minus(now, 3 * DAY), 'reuse_detected', { rotations: 4 });
  // <= 30 days: exactly 30 days, revoked yesterday.
  ended(minus(now, 31 * DAY), minus(now, DAY), 'user_disabled');
  // Longer: 40 days, revoked today at 06:00.
  ended(minus(now, 40 * DAY + 6 * HOUR), minus(now, 6 * HOUR), 'mfa_reset');
  // Not in the 7-day window: a millisecond before it (in the 90-day one, <= 1 h), after now,
  // and 100 days ago.
  ended(minus(since7, 10 * MINUTE + 1), minus(since7, 1), 'logout');
  ended(minus(now, MINUTE), plus(now, 1), 'logout');
  ended(minus(now, 101 * DAY), minus(now, 100 * DAY), 'logout');

  // Security events, all on one user.
  const actor = seed.user('actor');
  const loginAt = (iso: string | Date, country: string | null, userAgent: string | null) =>
    seed.event(actor, 'login_succeeded', typeof iso === 'string' ? at(iso) : iso, { country, userAgent });
  loginAt('2029-12-15T23:59:59.999Z', 'US', UA.chrome120); // before the 90-day window
  loginAt('2029-12-16T00:00:00.000Z', 'US', UA.chrome120); // first instant of the 90-day window
  loginAt('2030-01-24T09:00:00.000Z', 'US', UA.chrome120);
  loginAt('2030-03-08T23:59:59.999Z', 'US', UA.chrome120); // before the 7-day window
  loginAt('2030-03-09T00:00:00.000Z', 'US', UA.chrome120); // first instant of the 7-day window
  loginAt('2030-03-09T23:59:59.999Z', 'DE', UA.firefox);
  loginAt('2030-03-10T00:00:00.000Z', 'DE', UA.firefox);
  loginAt('2030-03-12T08:00:00.000Z', 'US', UA.chrome121);
  loginAt('2030-03-12T09:00:00.000Z', 'FR', UA.iphone);
  loginAt('2030-03-12T10:00:00.000Z', null, null);
  loginAt('2030-03-14T13:00:00.000Z', 'US', UA.chrome120);
  loginAt('2030-03-14T14:00:00.000Z', 'FR', UA.iphone);
  loginAt('2030-03-14T15:00:00.000Z', 'DE', UA.curl);
  loginAt('2030-03-15T00:00:00.000Z', 'US', UA.chrome121);
  loginAt('2030-03-15T11:59:59.999Z', null, UA.iphone);
  loginAt(now, 'FR', UA.firefox); // exactly now: counted
  loginAt(plus(now, 1), 'US', UA.chrome120); // after now: not counted
  loginAt(minus(now, 100 * DAY), 'US', UA.chrome120);

  const event = (type: SecurityEventType, time: string | Date) =>
    seed.event(actor, type, typeof time === 'string' ? at(time) : time, {
      country: 'US',
      userAgent: UA.firefox,
    });
  event('refresh_token_reused', '2030-03-01T00:00:00.000Z'); // 90-day window only
  event('refresh_token_reused', '2030-03-10T05:00:00.000Z');
  event('refresh_token_reused', '2030-03-10T06:00:00.000Z');
  event('refresh_token_reused', '2030-03-15T01:00:00.000Z');
  event('mfa_throttled', '2030-03-08T23:59:59.999Z'); // 90-day window only
  event('login_throttled', '2030-03-11T10:00:00.000Z');
  event('mfa_throttled', '2030-03-11T11:00:00.000Z');
  event('login_throttled', '2030-03-13T00:00:00.000Z');
  event('mfa_throttled', now);
  event('login_throttled', plus(now, 1));
  // Other types count nowhere.
  event('login_failed', '2030-03-11T09:00:00.000Z');
  event('mfa_failed', '2030-03-11T09:30:00.000Z');
  event('user_registered', '2030-03-09T00:00:00.000Z');
  event('session_revoked', '2030-03-14T08:00:00.000Z');
  event('step_up', minus(now, HOUR));
  return seed;
}

/** What the known data set gives over the 7 days ending on 2030-03-15. */
const KNOWN_7_DAYS = {
  liveSessions: { users: 10, sessions: 19, p50: 1, p90: 3, p99: 5, max: 5 },
  liveSessionAges: buckets([3, 3, 3, 3, 3, 4]),
  endedSessionDurations: buckets([1, 2, 2, 1, 1, 1]),
  sessionsCreatedPerDay: [
    { day: '2030-03-09', count: 2 },
    { day: '2030-03-10', count: 1 },
    { day: '2030-03-11', count: 0 },
    { day: '2030-03-12', count: 3 },
    { day: '2030-03-13', count: 0 },
    { day: '2030-03-14', count: 3 },
    { day: '2030-03-15', count: 3 },
  ],
  loginsByCountry: [
    { country: 'US', count: 4 },
    { country: 'DE', count: 3 },
    { country: 'FR', count: 3 },
    { country: 'unknown', count: 2 },
  ],
  loginsByDeviceFamily: [
    { family: 'Chrome/Windows', count: 4 },
    { family: 'Firefox/Linux', count: 3 },
    { family: 'Mobile Safari/iOS', count: 3 },
    { family: 'unknown', count: 1 }, // no User-Agent
    { family: 'unknown/unknown', count: 1 }, // curl: neither browser nor OS
  ],
  reuseDetectionsPerDay: [
    { day: '2030-03-09', count: 0 },
    { day: '2030-03-10', count: 2 },
    { day: '2030-03-11', count: 0 },
    { day: '2030-03-12', count: 0 },
    { day: '2030-03-13', count: 0 },
    { day: '2030-03-14', count: 0 },
    { day: '2030-03-15', count: 1 },
  ],
  throttledPerDay: [
    { day: '2030-03-09', count: 0 },
    { day: '2030-03-10', count: 0 },
    { day: '2030-03-11', count: 2 },
    { day: '2030-03-12', count: 0 },
    { day: '2030-03-13', count: 1 },
    { day: '2030-03-14', count: 0 },
    { day: '2030-03-15', count: 1 },
  ],
};

// ---------------------------------------------------------------------------------------------

describe('admin analytics figures', () => {
  it('uses the bucket bounds the expectations are written for', () => {
    expect(DURATION_BUCKETS_SECONDS).toEqual([300, 3600, 86_400, 604_800, 2_592_000]);
  });

  it('an empty database gives zeros, and every day of the window', async () => {
    await resetTables();
    const report = await analyticsAt(NOW, 7);
    const zeros = KNOWN_7_DAYS.sessionsCreatedPerDay.map(({ day }) => ({ day, count: 0 }));
    expect(report).toEqual({
      generatedAt: NOW,
      since: at('2030-03-09T00:00:00.000Z'),
      days: 7,
      liveSessions: { users: 0, sessions: 0, p50: 0, p90: 0, p99: 0, max: 0 },
      sessionsCreatedPerDay: zeros,
      liveSessionAges: buckets([0, 0, 0, 0, 0, 0]),
      endedSessionDurations: buckets([0, 0, 0, 0, 0, 0]),
      loginsByCountry: [],
      loginsByDeviceFamily: [],
      reuseDetectionsPerDay: zeros,
      throttledPerDay: zeros,
    });
  });

  describe('over a known data set', () => {
    let report: Report;
    beforeAll(async () => {
      await resetTables();
      await seedKnownDataSet(NOW).write();
      report = await analyticsAt(NOW, 7);
    });

    it('frames the window: `days` UTC days ending on the clock’s day', () => {
      expect(report.generatedAt).toEqual(NOW);
      expect(report.since).toEqual(at('2030-03-09T00:00:00.000Z'));
      expect(report.days).toBe(7);
      for (const series of [
        report.sessionsCreatedPerDay,
        report.reuseDetectionsPerDay,
        report.throttledPerDay,
      ]) {
        expect(series).toHaveLength(7);
        expect(series.at(-1)?.day).toBe('2030-03-15');
      }
    });

    it('counts live sessions (live heads only) and their spread per user', () => {
      expect(report.liveSessions).toEqual(KNOWN_7_DAYS.liveSessions);
    });

    it('buckets the ages of live sessions, a bound belonging to its own bucket', () => {
      expect(report.liveSessionAges).toEqual(KNOWN_7_DAYS.liveSessionAges);
    });

    it('buckets the durations of sessions revoked in the window: heads only, step-ups excluded, capped at expiry', () => {
      expect(report.endedSessionDurations).toEqual(KNOWN_7_DAYS.endedSessionDurations);
    });

    it('counts logins per UTC day, zeros included, from the window’s first instant to now', () => {
      expect(report.sessionsCreatedPerDay).toEqual(KNOWN_7_DAYS.sessionsCreatedPerDay);
    });

    it('counts reuse detections, and login plus MFA throttling, per day', () => {
      expect(report.reuseDetectionsPerDay).toEqual(KNOWN_7_DAYS.reuseDetectionsPerDay);
      expect(report.throttledPerDay).toEqual(KNOWN_7_DAYS.throttledPerDay);
    });

    it('counts logins by country, most first, a missing country as "unknown"', () => {
      expect(report.loginsByCountry).toEqual(KNOWN_7_DAYS.loginsByCountry);
    });

    it('counts logins by browser/OS family, versions merged, with no "other" when every agent was read', () => {
      expect(report.loginsByDeviceFamily).toEqual(KNOWN_7_DAYS.loginsByDeviceFamily);
      expect(sum(report.loginsByDeviceFamily)).toBe(sum(report.sessionsCreatedPerDay));
    });

    it('a 1-day window holds today only; the live figures do not depend on the window', async () => {
      const today = await analyticsAt(NOW, 1);
      expect(today.since).toEqual(at('2030-03-15T00:00:00.000Z'));
      expect(today.liveSessions).toEqual(KNOWN_7_DAYS.liveSessions);
      expect(today.liveSessionAges).toEqual(KNOWN_7_DAYS.liveSessionAges);
      // Revoked today: 300 s at 11:05, 1 day at 12:00, the expired head at 11:00, 40 days at 06:00.
      expect(today.endedSessionDurations).toEqual(buckets([1, 0, 2, 0, 0, 1]));
      expect(today.sessionsCreatedPerDay).toEqual([{ day: '2030-03-15', count: 3 }]);
      expect(today.reuseDetectionsPerDay).toEqual([{ day: '2030-03-15', count: 1 }]);
      expect(today.throttledPerDay).toEqual([{ day: '2030-03-15', count: 1 }]);
      expect(today.loginsByCountry).toEqual([
        { country: 'FR', count: 1 },
        { country: 'US', count: 1 },
        { country: 'unknown', count: 1 },
      ]);
      expect(today.loginsByDeviceFamily).toEqual([
        { family: 'Chrome/Windows', count: 1 },
        { family: 'Firefox/Linux', count: 1 },
        { family: 'Mobile Safari/iOS', count: 1 },
      ]);
    });

    it('a 90-day window starts 89 days before today, at midnight', async () => {
      const quarter = await analyticsAt(NOW, 90);
      expect(quarter.since).toEqual(at('2029-12-16T00:00:00.000Z'));
      for (const series of [
        quarter.sessionsCreatedPerDay,
        quarter.reuseDetectionsPerDay,
        quarter.throttledPerDay,
      ]) {
        expect(series).toHaveLength(90);
        expect(series[0]?.day).toBe('2029-12-16');
        expect(series.at(-1)?.day).toBe('2030-03-15');
        // Consecutive days, none missing or repeated.
        expect(new Set(series.map((entry) => entry.day)).size).toBe(90);
      }
      // The 12 logins of the 7 days, plus 2030-03-08 23:59:59.999, 2030-01-24 and 2029-12-16 00:00.
      expect(quarter.sessionsCreatedPerDay[0]).toEqual({ day: '2029-12-16', count: 1 });
      expect(quarter.sessionsCreatedPerDay.find((entry) => entry.day === '2030-03-08')?.count).toBe(1);
      expect(sum(quarter.sessionsCreatedPerDay)).toBe(15);
      expect(sum(quarter.reuseDetectionsPerDay)).toBe(4);
      expect(sum(quarter.throttledPerDay)).toBe(5);
      expect(quarter.loginsByCountry).toEqual([
        { country: 'US', count: 7 },
        { country: 'DE', count: 3 },
        { country: 'FR', count: 3 },
        { country: 'unknown', count: 2 },
      ]);
      expect(quarter.loginsByDeviceFamily[0]).toEqual({ family: 'Chrome/Windows', count: 7 });
      // Plus the session revoked a millisecond before the 7-day window (10 min 0.001 s).
      expect(quarter.endedSessionDurations).toEqual(buckets([1, 3, 2, 1, 1, 1]));
      expect(quarter.liveSessions).toEqual(KNOWN_7_DAYS.liveSessions);
    });
  });

  it('percentiles per user are percentile_disc over the users with a live session', async () => {
    await resetTables();
    const seed = new Seed();
    // 200 users: 196 with one live session, 2 with two, one with 5, one with 9; 214 sessions.
    // p50 and p90 are 1; p99 is the 198th value, 2; max is 9.
    const perUser = [...Array<number>(196).fill(1), 2, 2, 5, 9];
    for (const sessions of perUser) {
      const userId = seed.user('many');
      for (let index = 0; index < sessions; index++) {
        seed.session(userId, { createdAt: minus(NOW, 2 * HOUR), expiresAt: plus(NOW, DAY), rotations: 1 });
      }
    }
    // A user whose only session was revoked is not one of the users.
    seed.session(seed.user('gone'), {
      createdAt: minus(NOW, 2 * HOUR),
      expiresAt: plus(NOW, DAY),
      revoked: { at: minus(NOW, HOUR), reason: 'logout' },
    });
    await seed.write();
    const report = await analyticsAt(NOW, 7);
    expect(report.liveSessions).toEqual({ users: 200, sessions: 214, p50: 1, p90: 1, p99: 2, max: 9 });
    expect(report.liveSessionAges).toEqual(buckets([0, 0, 214, 0, 0, 0]));
    expect(report.endedSessionDurations).toEqual(buckets([0, 1, 0, 0, 0, 0]));
  });

  it(`counts logins beyond the ${USER_AGENT_LIMIT} most frequent user agents as "other"`, async () => {
    await resetTables();
    const seed = new Seed();
    const userId = seed.user('agents');
    const loginAt = (userAgent: string | null) =>
      seed.event(userId, 'login_succeeded', minus(NOW, HOUR), { country: 'US', userAgent });
    // Two Chrome versions, five logins each: the most frequent strings.
    for (let index = 0; index < 5; index++) {
      loginAt(UA.chrome120);
      loginAt(UA.chrome121);
    }
    // 1001 Firefox versions, one login each, and one login without a User-Agent. The limit
    // reads 2 + 998 strings; the 3 remaining Firefox strings and the null (sorted last) are "other".
    for (let version = 0; version < 1001; version++) {
      loginAt(`Mozilla/5.0 (X11; Linux x86_64; rv:${version}.0) Gecko/20100101 Firefox/${version}.0`);
    }
    loginAt(null);
    await seed.write();
    const report = await analyticsAt(NOW, 7);
    expect(sum(report.sessionsCreatedPerDay)).toBe(1012);
    expect(report.loginsByDeviceFamily).toEqual([
      { family: 'Firefox/Linux', count: 998 },
      { family: 'Chrome/Windows', count: 10 },
      { family: 'other', count: 4 },
    ]);
    expect(report.loginsByCountry).toEqual([{ country: 'US', count: 1012 }]);
  });
});

// ---------------------------------------------------------------------------------------------
// GET /v1/admin/analytics: the same figures, as JSON.
// ---------------------------------------------------------------------------------------------

/** The TOTP code of `secret` at the harness clock. */
const codeNow = (secret: string) => totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000));

/** A user with TOTP and the admin role, logged in with password and code: an aal2 access token. */
async function adminAccessToken(): Promise<string> {
  const user = await registerUser(lk.app);
  const first = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: first.access_token });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: first.access_token,
  });
  expect(activated.status).toBe(200);
  expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
  const challenge = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
  expect(challenge.json.mfa_required).toBe(true);
  lk.clock.advance(30 * SECOND); // a code is accepted once per factor: the next time step
  const done = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: challenge.json.mfa_token, code: codeNow(secret) },
  });
  expect(done.status).toBe(200);
  return done.json.access_token;
}

describe('GET /v1/admin/analytics', () => {
  it('answers the contract’s JSON, figure by figure, to an admin at aal2, and checks `days`', async () => {
    await resetTables();
    const token = await adminAccessToken();
    const now = lk.clock.now();
    await seedKnownDataSet(now).write();

    const res = await call(lk.app, '/v1/admin/analytics?days=7', { token });
    expect(res.status).toBe(200);
    expect(() => Analytics.parse(res.json)).not.toThrow();
    // The contract's JSON written out, not derived from the service's report: the known data
    // set (KNOWN_7_DAYS) plus the admin's two sessions opened today, 30 s apart, without a
    // country or a User-Agent (a password login, then the MFA login).
    const snake = (rows: { upToSeconds: number | null; count: number | undefined }[]) =>
      rows.map(({ upToSeconds, count }) => ({ up_to_seconds: upToSeconds, count }));
    expect(res.json).toEqual({
      generated_at: '2030-03-15T12:00:30.000Z',
      since: '2030-03-09T00:00:00.000Z',
      days: 7,
      active_sessions: { total: 21, users: 11, per_user: { p50: 2, p90: 3, p99: 5, max: 5 } },
      sessions_created_per_day: [
        ...KNOWN_7_DAYS.sessionsCreatedPerDay.slice(0, -1),
        { day: '2030-03-15', count: 3 + 2 },
      ],
      session_durations: {
        ended: [
          { up_to_seconds: 300, count: 1 },
          { up_to_seconds: 3600, count: 2 },
          { up_to_seconds: 86_400, count: 2 },
          { up_to_seconds: 604_800, count: 1 },
          { up_to_seconds: 2_592_000, count: 1 },
          { up_to_seconds: null, count: 1 },
        ],
        // The admin's two sessions are 30 s and 0 s old: the first bucket.
        live: snake(buckets([3 + 2, 3, 3, 3, 3, 4])),
      },
      // A tie is ordered by name.
      logins_by_country: [
        { country: 'US', count: 4 },
        { country: 'unknown', count: 2 + 2 },
        { country: 'DE', count: 3 },
        { country: 'FR', count: 3 },
      ],
      logins_by_device_family: [
        { family: 'Chrome/Windows', count: 4 },
        { family: 'Firefox/Linux', count: 3 },
        { family: 'Mobile Safari/iOS', count: 3 },
        { family: 'unknown', count: 1 + 2 },
        { family: 'unknown/unknown', count: 1 },
      ],
      reuse_detections_per_day: KNOWN_7_DAYS.reuseDetectionsPerDay,
      throttled_per_day: KNOWN_7_DAYS.throttledPerDay,
    });
    // And the same figures as the service reports them (the route adds nothing of its own).
    const report = await analyticsAt(now, 7);
    expect(res.json.active_sessions.total).toBe(report.liveSessions.sessions);
    expect(res.json.session_durations.live).toEqual(snake(report.liveSessionAges));

    const byDefault = await call(lk.app, '/v1/admin/analytics', { token });
    expect(byDefault.status).toBe(200);
    expect(byDefault.json.days).toBe(30);
    expect(byDefault.json.sessions_created_per_day).toHaveLength(30);
    for (const days of ['0', '91', 'seven']) {
      const refused = await call(lk.app, `/v1/admin/analytics?days=${days}`, { token });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Index paths (PostgreSQL): no query of the report reads refresh_tokens or security_events
// sequentially, however long the rotation history and the event log.
// ---------------------------------------------------------------------------------------------

const BULK_USERS = 2000;
const SESSIONS_PER_USER = 2;
const ROTATIONS_PER_SESSION = 10;
const BULK_EVENTS = 48_000;
const EVENT_SPAN_DAYS = 120;

/**
 * 2000 users × 2 sessions × (10 rotated rows + 1 head) = 44,000 refresh_tokens rows. Heads by
 * (user + session) % 10: 0-6 live, 7 logged out, 8 expired, 9 revoked by a revoke-all; a
 * revocation reaches the rotated rows too, as `revokeUntilNone` does.
 */
async function seedBulkSessions(now: Date) {
  const nowIso = now.toISOString();
  await db().execute(sql`
    INSERT INTO users (id, email, password_hash, created_at)
    SELECT md5('bulk-user-' || u)::uuid, 'bulk-' || u || '@analytics.test', 'not-a-hash',
      ${nowIso}::timestamptz - interval '200 days'
    FROM generate_series(1, ${BULK_USERS}::int) u`);
  await db().execute(sql`
    WITH sessions AS (
      SELECT md5('bulk-user-' || u)::uuid AS user_id,
        md5('bulk-session-' || u || '-' || k)::uuid AS session_id,
        ${nowIso}::timestamptz - make_interval(days => 2 + (u * 7 + k * 13) % 118, hours => u % 24) AS created_at,
        (u + k) % 10 AS kind
      FROM generate_series(1, ${BULK_USERS}::int) u, generate_series(1, ${SESSIONS_PER_USER}::int) k
    )
    INSERT INTO refresh_tokens (id, token_hash, session_id, user_id, client_id, remembered, acr, amr,
      auth_time, session_created_at, session_expires_at, issued_at, expires_at, rotated_at, revoked_at,
      revoked_reason)
    SELECT md5(session_id::text || '-row-' || r)::uuid, md5(session_id::text || '-hash-' || r), session_id,
      user_id, 'latchkey-web', true, 'aal1', ARRAY['pwd'], created_at, created_at,
      created_at + interval '180 days', created_at + make_interval(hours => r),
      CASE
        WHEN r = ${ROTATIONS_PER_SESSION}::int AND kind < 7 THEN ${nowIso}::timestamptz + interval '30 days'
        WHEN r = ${ROTATIONS_PER_SESSION}::int AND kind = 8 THEN created_at + interval '1 day'
        ELSE created_at + make_interval(hours => r) + interval '30 days'
      END,
      CASE WHEN r < ${ROTATIONS_PER_SESSION}::int THEN created_at + make_interval(hours => r + 1) END,
      CASE WHEN kind IN (7, 9) THEN created_at + interval '12 hours' END,
      CASE kind WHEN 7 THEN 'logout' WHEN 9 THEN 'revoke_all' END
    FROM sessions, generate_series(0, ${ROTATIONS_PER_SESSION}::int) r`);
}

/** 48,000 events evenly over 120 days: 40 % logins, the rest spread over other types. */
async function seedBulkEvents(now: Date) {
  const types = [
    ...Array<string>(8).fill('login_succeeded'),
    ...['login_failed', 'login_failed', 'login_failed', 'refresh_token_reused', 'login_throttled'],
    ...['mfa_throttled', 'session_revoked', 'session_revoked', 'user_registered', 'mfa_failed'],
    ...['step_up', 'password_changed'],
  ];
  const agents = [UA.chrome120, UA.chrome121, UA.firefox, UA.iphone, UA.curl];
  const textArray = (values: string[]) =>
    sql`ARRAY[${sql.join(
      values.map((value) => sql`${value}::text`),
      sql`, `,
    )}]`;
  await db().execute(sql`
    INSERT INTO security_events (id, user_id, type, user_agent, details, country, created_at)
    SELECT md5('bulk-event-' || i)::uuid, md5('bulk-user-' || (1 + i % ${BULK_USERS}::int))::uuid,
      (${textArray(types)})[1 + i % ${types.length}::int],
      (${textArray(agents)})[1 + i % 7], -- 2 in 7 past the array's end: no User-Agent
      jsonb_build_object('country', (ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR'])[1 + i % 6]),
      (ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR'])[1 + i % 6],
      ${now.toISOString()}::timestamptz
        - make_interval(secs => i * ${(EVENT_SPAN_DAYS * 86_400) / BULK_EVENTS}::float8)
    FROM generate_series(1, ${BULK_EVENTS}::int) i`);
}

const planOf = async (query: SQL) =>
  rowsOf<{ 'QUERY PLAN': string }>(await db().execute(sql`EXPLAIN (FORMAT TEXT) ${query}`))
    .map((row) => row['QUERY PLAN'])
    .join('\n');

describe.runIf(onPostgres)('analytics query plans on PostgreSQL', () => {
  const windowOf = (days: number): AnalyticsWindow => ({
    now: NOW,
    since: new Date(Date.parse('2030-03-15T00:00:00.000Z') - (days - 1) * DAY),
    durationBuckets: DURATION_BUCKETS_SECONDS,
    userAgentLimit: USER_AGENT_LIMIT,
  });
  const queryNames = Object.keys(analyticsQueries(windowOf(30))) as (keyof ReturnType<
    typeof analyticsQueries
  >)[];

  beforeAll(async () => {
    await resetTables();
    await seedBulkSessions(NOW);
    await seedBulkEvents(NOW);
    await db().execute(sql`VACUUM ANALYZE users`);
    await db().execute(sql`VACUUM ANALYZE refresh_tokens`);
    await db().execute(sql`VACUUM ANALYZE security_events`);
  }, 120_000);

  it('seeded the volumes the plans are about', async () => {
    const counts = rowsOf<{ tokens: number; heads: number; events: number }>(
      await db().execute(sql`SELECT
        (SELECT count(*)::int FROM refresh_tokens) AS tokens,
        (SELECT count(*)::int FROM refresh_tokens WHERE rotated_at IS NULL) AS heads,
        (SELECT count(*)::int FROM security_events) AS events`),
    )[0]!;
    expect(counts).toEqual({
      tokens: BULK_USERS * SESSIONS_PER_USER * (ROTATIONS_PER_SESSION + 1),
      heads: BULK_USERS * SESSIONS_PER_USER,
      events: BULK_EVENTS,
    });
    // 7 of every 10 heads are live.
    expect((await analyticsAt(NOW, 30)).liveSessions.sessions).toBe(
      (BULK_USERS * SESSIONS_PER_USER * 7) / 10,
    );
  });

  describe.each([1, 30, 90])('a %i-day window', (days) => {
    it.each(queryNames)('%s reads refresh_tokens and security_events through indexes', async (name) => {
      const plan = await planOf(analyticsQueries(windowOf(days))[name]);
      expect(plan, `${name} over ${days} days:\n${plan}`).not.toMatch(/Seq Scan on refresh_tokens/);
      expect(plan, `${name} over ${days} days:\n${plan}`).not.toMatch(/Seq Scan on security_events/);
    });
  });
});
