import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, REQUEST_TIMEOUT_MS } from '../faults/harness.js';
import { ServerProcess } from '../faults/server.js';
import { auditDatabase, type ExpectedSession } from './audit.js';
import { type LoadDatabase, openLoadDatabase } from './database.js';
import {
  asExpected,
  type Expected,
  explain,
  type RequestSpec,
  type Sample,
  summarize,
  Traffic,
} from './traffic.js';

/**
 * Load test (`npm run test:load`): the real Node server as a child process on a fresh
 * PostgreSQL database, a few hundred virtual users at once on loopback, at most
 * LOAD_CONCURRENCY requests in flight, each with a timeout, the whole run under a deadline.
 *
 * Every user is registered first. Then, all at once, each user logs in (every third one on
 * two devices), refreshes each session LOAD_ROUNDS times from 2 to 4 "tabs" at once with
 * the same refresh token (API.md: inside the grace window every 200 carries the same
 * successor and the session does not fork), in a third of the rounds a "late tab" sends the
 * same token again up to 2 s after the rotation (a 200 with that same successor), lists its
 * sessions, and then, by its number:
 * replays its first, long rotated refresh token once the grace window has passed (401
 * refresh_token_reused, the session revoked), revokes a session (DELETE /v1/sessions/{id}),
 * revokes the others (revoke-all), revokes all including its own, or stops there.
 *
 * Afterwards: no 5xx, no timeout, no network error, every answer the expected one, and an
 * audit on the database (./audit.ts) of every session's refresh tokens and of when every
 * 200 to a rotated token came relative to its rotation.
 *
 * Settings: LOAD_USERS (300), LOAD_CONCURRENCY (64), LOAD_ROUNDS (3), LOAD_REUSE_GRACE (the
 * server's REFRESH_REUSE_GRACE, its default 10 s), LOAD_DEADLINE (150 s), LOAD_DATABASE_URL
 * or TEST_DATABASE_URL (else a scratch database, dropped afterwards).
 */

function setting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

const USERS = setting('LOAD_USERS', 300, 1, 5000);
const CONCURRENCY = setting('LOAD_CONCURRENCY', 64, 8, 1024);
const ROUNDS = setting('LOAD_ROUNDS', 3, 1, 20);
const GRACE_SECONDS = setting('LOAD_REUSE_GRACE', 10, 1, 60);
const DEADLINE_SECONDS = setting('LOAD_DEADLINE', 150, 10, 3600);
const GRACE_MS = GRACE_SECONDS * 1000;
/** A replay "after the window" is sent at least this long after the window closed. */
const REPLAY_MARGIN_MS = 1000;
/** Date.now() against rotated_at: the same clock, stored to the millisecond. */
const SLACK_MS = 50;
/** Most tabs refreshing one session at once. */
const MAX_TABS = 4;
/** A late tab sends the round's token again up to this long after the round's answers. */
const LATE_TAB_MS = 2000;

type Action = 'replay' | 'delete' | 'revoke-others' | 'revoke-all' | 'none';
/** By user number: a fifth replay after the window, a tenth each revoke one way, half do nothing more. */
const ACTIONS: Action[] = [
  'replay',
  'replay',
  'delete',
  'revoke-others',
  'revoke-all',
  'none',
  'none',
  'none',
  'none',
  'none',
];
const actionOf = (index: number): Action => ACTIONS[index % 10] ?? 'none';
const devicesOf = (index: number): number => (index % 3 === 0 ? 2 : 1);

interface Device {
  label: string;
  sessionId: string;
  token: string;
  access: string;
  /** The refresh token of the login, rotated by the first round. */
  loginToken: string;
  /** When the first round's 200s had all come: the login token was rotated before. */
  loginTokenRotatedBy: number;
}

interface User {
  index: number;
  label: string;
  email: string;
  id: string;
  devices: Device[];
}

/** Thrown by a virtual user on an unexpected answer: it stops (the answer is reported). */
class Unexpected extends Error {}

/** The body of an answer as expected, or Unexpected. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
function need(sample: Sample): any {
  if (!asExpected(sample) || sample.outcome.kind !== 'response') throw new Unexpected(explain(sample));
  return sample.outcome.json;
}

/** Small deterministic generator (mulberry32), one per user: the same run every time. */
function random(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const listFirst = (items: string[], n = 25): string[] =>
  items.length > n ? [...items.slice(0, n), `… and ${items.length - n} more`] : items;

let database: LoadDatabase | undefined;
let server: ServerProcess | undefined;

beforeAll(async () => {
  database = await openLoadDatabase();
  try {
    server = await ServerProcess.start({
      databaseUrl: database.url,
      env: { REFRESH_REUSE_GRACE: String(GRACE_SECONDS) },
    });
  } catch (error) {
    await database.drop();
    throw error;
  }
}, 120_000);

afterAll(async () => {
  try {
    await server?.stop();
  } finally {
    await database?.drop();
  }
}, 60_000);

describe('load: sessions and rotating refresh tokens under concurrent users (real server, PostgreSQL)', () => {
  it(`${USERS} users log in, refresh from several tabs, list and revoke sessions, replay old tokens`, async () => {
    if (!server || !database) throw new Error('beforeAll failed');
    const base = server.base;
    const stopAll = new AbortController();
    const deadline = setTimeout(() => stopAll.abort(), DEADLINE_SECONDS * 1000);
    const traffic = new Traffic(base, {
      concurrency: CONCURRENCY,
      timeoutMs: REQUEST_TIMEOUT_MS,
      deadline: stopAll.signal,
    });
    /** Client-side findings beyond the status of each answer. */
    const problems: string[] = [];
    const expected = new Map<string, ExpectedSession>();
    const replayed: string[] = [];
    let lateTabs = 0;
    let lateTabsSkipped = 0;
    const runId = `${Date.now()}-${process.pid}`;

    const refresh = (token: string, label: string, want: Expected): RequestSpec => ({
      method: 'POST',
      path: '/v1/auth/refresh',
      route: 'POST /v1/auth/refresh',
      label,
      expected: want,
      body: { refresh_token: token },
      presented: token,
    });
    const listSessions = (device: Device, want: Expected): RequestSpec => ({
      method: 'GET',
      path: '/v1/sessions',
      route: 'GET /v1/sessions',
      label: `${device.label} list`,
      expected: want,
      token: device.access,
    });
    const revokedOnes = (device: Device, reason: string) =>
      expected.set(device.sessionId, { state: 'revoked', reason, label: device.label });

    /** 2 to 4 refreshes at once with the device's token: all 200, one successor, the same session. */
    async function tabs(device: Device, pick: (n: number) => number, round: number): Promise<void> {
      const count = 2 + pick(MAX_TABS - 1);
      const presented = device.token;
      const answers = await traffic.together(
        Array.from({ length: count }, (_, tab) =>
          refresh(presented, `${device.label} round ${round} tab ${tab + 1}/${count}`, { status: 200 }),
        ),
      );
      const bodies = answers.map(need);
      const successors = new Set(bodies.map((body) => body.refresh_token));
      if (successors.size !== 1) {
        problems.push(
          `${device.label} round ${round}: ${successors.size} different successors for ${count} tabs`,
        );
      }
      if (
        bodies.some((body) => body.session_id !== device.sessionId || typeof body.access_token !== 'string')
      ) {
        problems.push(
          `${device.label} round ${round}: an answer for another session, or without an access token`,
        );
      }
      if (successors.has(presented))
        problems.push(`${device.label} round ${round}: the token did not rotate`);
      if (round === 0) device.loginTokenRotatedBy = Math.max(...answers.map((answer) => answer.receivedAt));
      // A third of the rounds, a late tab: the same token again, up to LATE_TAB_MS after the
      // rotation (well inside the window) and before the next round rotates the successor.
      // Should the machine be so slow that its turn comes past half the window, it is not sent.
      if (pick(3) === 0) {
        await new Promise((resolve) => setTimeout(resolve, pick(LATE_TAB_MS)));
        const rotatedAfter = Math.min(...answers.map((answer) => answer.sentAt));
        const late = await traffic.sendBefore(
          refresh(presented, `${device.label} round ${round} late tab`, { status: 200 }),
          rotatedAfter + GRACE_MS / 2,
        );
        if (late) {
          const body = need(late);
          lateTabs++;
          if (body.refresh_token !== bodies[0].refresh_token || body.session_id !== device.sessionId) {
            problems.push(`${device.label} round ${round}: the late tab got another successor or session`);
          }
        } else {
          lateTabsSkipped++;
        }
      }
      device.token = bodies[0].refresh_token;
      device.access = bodies[0].access_token;
    }

    /** GET /v1/sessions from `device`: exactly the `live` sessions, `current` on its own. */
    async function expectList(device: Device, live: Device[]): Promise<void> {
      const body = need(await traffic.send(listSessions(device, { status: 200 })));
      const listed = (body.sessions as { id: string; current: boolean }[]) ?? [];
      const got = listed.map((session) => session.id).sort();
      const want = live.map((other) => other.sessionId).sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        problems.push(`${device.label}: GET /v1/sessions listed [${got}], expected [${want}]`);
      }
      const current = listed.filter((session) => session.current).map((session) => session.id);
      if (current.length !== 1 || current[0] !== device.sessionId) {
        problems.push(`${device.label}: GET /v1/sessions marked [${current}] as current`);
      }
    }

    /** A revoked session: its refresh token and its access token are refused. */
    async function expectEnded(device: Device): Promise<void> {
      need(
        await traffic.send(
          refresh(device.token, `${device.label} after revocation`, { status: 401, error: 'invalid_grant' }),
        ),
      );
      need(await traffic.send(listSessions(device, { status: 401, error: 'invalid_token' })));
    }

    async function openDevice(user: User, number: number, pick: (n: number) => number): Promise<Device> {
      const label = `user ${user.index} device ${number}`;
      const pair = need(
        await traffic.send({
          method: 'POST',
          path: '/v1/auth/login',
          route: 'POST /v1/auth/login',
          label,
          expected: { status: 200 },
          body: {
            email: user.email,
            password: PASSWORD,
            device_name: `load ${number}`,
            remember: pick(2) === 1,
          },
        }),
      );
      const device: Device = {
        label,
        sessionId: pair.session_id,
        token: pair.refresh_token,
        access: pair.access_token,
        loginToken: pair.refresh_token,
        loginTokenRotatedBy: Number.NaN,
      };
      user.devices.push(device);
      for (let round = 0; round < ROUNDS; round++) await tabs(device, pick, round);
      return device;
    }

    async function runUser(user: User): Promise<void> {
      const pick = random(user.index + 1);
      const devices = await Promise.all(
        Array.from({ length: devicesOf(user.index) }, (_, number) => openDevice(user, number, pick)),
      );
      await Promise.all(devices.map((device) => expectList(device, devices)));
      const [first, ...others] = devices as [Device, ...Device[]];
      const bearer = (
        method: 'POST' | 'DELETE',
        path: string,
        route: string,
        want: Expected,
        body?: unknown,
      ) =>
        traffic.send({
          method,
          path,
          route,
          label: `${first.label} ${route}`,
          expected: want,
          token: first.access,
          body,
        });

      switch (actionOf(user.index)) {
        case 'replay': {
          // Past the window by at least REPLAY_MARGIN_MS on the server's clock: the login
          // token was rotated before the first round's answers came.
          const due = first.loginTokenRotatedBy + GRACE_MS + REPLAY_MARGIN_MS;
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
          replayed.push(first.loginToken);
          need(
            await traffic.send(
              refresh(first.loginToken, `${first.label} replay after the grace window`, {
                status: 401,
                error: 'refresh_token_reused',
              }),
            ),
          );
          revokedOnes(first, 'reuse_detected');
          await expectEnded(first);
          // Reuse ends that session only.
          for (const other of others) await expectList(other, others);
          break;
        }
        case 'delete': {
          const victim = others[0] ?? first;
          const path = `/v1/sessions/${victim.sessionId}`;
          need(await bearer('DELETE', path, 'DELETE /v1/sessions/{id}', { status: 204 }));
          revokedOnes(victim, 'revoked_by_user');
          if (victim !== first) {
            need(
              await bearer('DELETE', path, 'DELETE /v1/sessions/{id}', { status: 404, error: 'not_found' }),
            );
            await expectList(first, [first]);
          }
          await expectEnded(victim);
          break;
        }
        case 'revoke-others': {
          const body = need(
            await bearer(
              'POST',
              '/v1/sessions/revoke-all',
              'POST /v1/sessions/revoke-all',
              { status: 200 },
              {},
            ),
          );
          if (body.revoked !== others.length) {
            problems.push(`${first.label}: revoke-all revoked ${body.revoked}, expected ${others.length}`);
          }
          for (const other of others) {
            revokedOnes(other, 'revoke_all');
            await expectEnded(other);
          }
          await tabs(first, pick, ROUNDS);
          await expectList(first, [first]);
          break;
        }
        case 'revoke-all': {
          const body = need(
            await bearer(
              'POST',
              '/v1/sessions/revoke-all',
              'POST /v1/sessions/revoke-all',
              { status: 200 },
              { include_current: true },
            ),
          );
          if (body.revoked !== devices.length) {
            problems.push(
              `${first.label}: revoke-all (include_current) revoked ${body.revoked}, expected ${devices.length}`,
            );
          }
          for (const device of devices) {
            revokedOnes(device, 'revoke_all');
            await expectEnded(device);
          }
          break;
        }
        case 'none':
          break;
      }
      for (const device of devices) {
        if (!expected.has(device.sessionId)) {
          expected.set(device.sessionId, { state: 'live', token: device.token, label: device.label });
        }
      }
    }

    const started = Date.now();
    let registeredAt = started;
    let finishedAt = started;
    const users: User[] = [];
    try {
      // Registration, up front.
      const registrations = await Promise.all(
        Array.from({ length: USERS }, (_, index) => {
          const email = `load-${runId}-${index}@example.com`;
          return traffic.send({
            method: 'POST',
            path: '/v1/auth/register',
            route: 'POST /v1/auth/register',
            label: `user ${index}`,
            expected: { status: 201 },
            body: { email, password: PASSWORD, name: `Load ${index}` },
          });
        }),
      );
      registrations.forEach((sample, index) => {
        if (asExpected(sample) && sample.outcome.kind === 'response') {
          users.push({
            index,
            label: `user ${index}`,
            email: `load-${runId}-${index}@example.com`,
            id: sample.outcome.json.user.id,
            devices: [],
          });
        }
      });
      registeredAt = Date.now();

      // Every user at once; the traffic limiter bounds the requests in flight.
      await Promise.all(
        users.map((user) =>
          runUser(user).catch((error: unknown) => {
            // Its sessions' fate is unknown: the audit checks only the invariants for them.
            for (const device of user.devices)
              expected.set(device.sessionId, { state: 'unknown', label: device.label });
            if (!(error instanceof Unexpected)) problems.push(`${user.label}: ${(error as Error).stack}`);
          }),
        ),
      );
      finishedAt = Date.now();
    } finally {
      clearTimeout(deadline);
    }

    const samples = traffic.samples;
    const refreshes = samples.filter((sample) => sample.route === 'POST /v1/auth/refresh');
    const result =
      users.length === 0
        ? undefined
        : await auditDatabase({
            databaseUrl: database.url,
            userIds: users.map((user) => user.id),
            expected,
            refreshes,
            replayed,
            graceMs: GRACE_MS,
            slackMs: SLACK_MS,
          });

    // The summary.
    const oks = refreshes.filter(
      (sample) => sample.outcome.kind === 'response' && sample.outcome.status === 200,
    );
    const presentedTokens = new Set(oks.map((sample) => sample.presented));
    const twoDevices = users.filter((user) => devicesOf(user.index) === 2).length;
    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    const lines = [
      `[load] ${users.length} users (${twoDevices} on 2 devices), at most ${CONCURRENCY} requests in flight, ` +
        `${ROUNDS} refresh rounds of 2-${MAX_TABS} tabs, grace window ${GRACE_SECONDS} s`,
      `[load] ${samples.length} requests: registration ${seconds(registeredAt - started)} s, ` +
        `then ${seconds(finishedAt - registeredAt)} s of load ` +
        `(${Math.round((samples.length - USERS) / Math.max(0.001, (finishedAt - registeredAt) / 1000))} req/s)`,
      ...summarize(samples).map((line) => `[load]   ${line}`),
    ];
    if (result) {
      const reasons = [...result.sessions.byReason.entries()]
        .map(([reason, n]) => `${reason} ${n}`)
        .join(', ');
      lines.push(
        `[load] sessions of these users in the database: ${result.sessions.total}: ${result.sessions.live} live, ` +
          `${result.sessions.revoked} revoked (${reasons})`,
        `[load] refresh: ${oks.length} answered 200 for ${presentedTokens.size} presented tokens; ` +
          `${oks.length - presentedTokens.size} were grace answers (concurrent tabs, and ${lateTabs} late tabs, ${lateTabsSkipped} not sent, ` +
          `sent up to ${result.maxGraceSentMs} ms after the rotation); the latest 200 came ` +
          `${result.maxGraceAnswerMs} ms after its token's rotation; ${replayed.length} replays after the window`,
      );
    }
    console.info(lines.join('\n'));

    const transport = samples.filter((sample) => sample.outcome.kind !== 'response').map(explain);
    const serverErrors = samples
      .filter((sample) => sample.outcome.kind === 'response' && sample.outcome.status >= 500)
      .map(explain);
    const unexpected = samples.filter((sample) => !asExpected(sample)).map(explain);
    if (serverErrors.length > 0 || transport.length > 0) {
      console.error(`[load] server output (last 20000 characters):\n${server.output().slice(-20_000)}`);
    }
    expect.soft(listFirst(transport), 'timeouts and network errors').toEqual([]);
    expect.soft(listFirst(serverErrors), '5xx answers').toEqual([]);
    expect.soft(listFirst(unexpected), 'answers other than the expected one').toEqual([]);
    expect.soft(listFirst(problems), 'findings of the clients').toEqual([]);
    expect.soft(listFirst(result?.problems ?? ['no user registered']), 'audit of the database').toEqual([]);
    expect(users.length, 'registered users').toBe(USERS);
    expect(replayed.length, 'replays after the grace window').toBeGreaterThan(0);
    expect(server.running, `the server is still running (${server.exitDescription})`).toBe(true);
  }, 240_000);
});
