import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/database.js';
import { createDrizzleRateLimiter } from '../src/adapters/db/drizzle-rate-limiter.js';
import { outbox } from '../src/adapters/db/schema.js';
import { createArgon2Hasher } from '../src/adapters/password/argon2-native.js';
import { createNodeWebhookSender } from '../src/adapters/webhooks/node-sender.js';
import { composeServices, type Services } from '../src/compose/services.js';
import { parseCommandLine } from '../src/entry/cli/args.js';
import { rotateKeysCommand } from '../src/entry/cli/keys.js';
import { dispatchMailCommand, listMailCommand, retryMailCommand } from '../src/entry/cli/mail.js';
import { CliError, EXIT_USAGE, UsageError } from '../src/entry/cli/output.js';
import { readFirstLine, resolvePassword } from '../src/entry/cli/password.js';
import { listSessionsCommand, revokeSessionsCommand } from '../src/entry/cli/sessions.js';
import {
  type CommandDeps,
  createUserCommand,
  disableUserCommand,
  enableUserCommand,
  sendResetLinkCommand,
  setRoleCommand,
} from '../src/entry/cli/users.js';
import {
  addWebhookCommand,
  listDeliveriesCommand,
  listWebhooksCommand,
  removeWebhookCommand,
  replayDeliveryCommand,
  rotateWebhookCommand,
  setWebhookEnabledCommand,
  testWebhookCommand,
  type WebhookCommandDeps,
} from '../src/entry/cli/webhooks.js';
import { deriveMasterKeys } from '../src/lib/crypto.js';
import type { OutgoingMail } from '../src/ports/mail.js';
import type { PasswordHasher } from '../src/ports/password-hasher.js';
import { unsealMailMessage } from '../src/services/mail-sealing.js';
import { createOperatorService } from '../src/services/operator-service.js';
import { createOutboxDispatcher } from '../src/services/outbox-dispatcher.js';
import { call, refresh, type TokenPair } from './support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TEST_MASTER_SECRET,
  testConfig,
  uniqueEmail,
  useDatabase,
} from './support/harness.js';
import { startReceiver } from './webhooks/receiver.js';

const database = useDatabase();
let lk: Latchkey;
let hasher: PasswordHasher;
/** The services as the CLI composes them: the password reset of `users:reset-link` comes from here. */
let services: Services;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  hasher = createArgon2Hasher(lk.config.argon2);
  services = composeServices({
    config: lk.config,
    store: lk.store,
    hasher,
    clock: lk.clock,
    masterKeys: await deriveMasterKeys(TEST_MASTER_SECRET),
    rateLimiter: createDrizzleRateLimiter(database.current.db),
  });
});

/**
 * The commands' dependencies over the test database, with the output collected: the operator
 * service as the CLI builds it (PASSWORD_MIN_SCORE from `config`).
 */
function cli(config = lk.config) {
  const lines: string[] = [];
  const operator = createOperatorService({
    store: lk.store,
    hasher,
    clock: lk.clock,
    passwordMinScore: config.passwordMinScore,
    passwordReset: services.passwordReset,
  });
  const deps: CommandDeps = { operator, out: (text) => lines.push(text) };
  return { deps, lines, output: () => lines.join('\n') };
}

async function createUser(
  email = uniqueEmail('cli'),
  password = PASSWORD,
  displayName: string | null = null,
) {
  const { deps, output } = cli();
  const user = await createUserCommand(deps, { email, password, displayName });
  return { user, output: output() };
}

async function loginAs(
  email: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const res = await call(lk.app, '/v1/auth/login', {
    body: { email, password: PASSWORD, ...extra },
    headers,
  });
  expect(res.status).toBe(200);
  return res.json as TokenPair;
}

/** The revocation reasons on the session's refresh tokens (null for a token not revoked). */
async function revokeReasonsOf(sessionId: string): Promise<(string | null)[]> {
  const result = await database.current.db.execute(
    sql`SELECT DISTINCT revoked_reason FROM refresh_tokens WHERE session_id = ${sessionId}`,
  );
  return rowsOf<{ revoked_reason: string | null }>(result).map((row) => row.revoked_reason);
}

/** The error a command must fail with. */
async function failureOf(promise: Promise<unknown>): Promise<CliError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CliError);
  return error as CliError;
}

const eventsOf = async (userId: string) => lk.store.listSecurityEvents(userId, { limit: 50 });
/** The user's one event of this type (events at the same instant have no set order). */
async function eventOf(userId: string, type: string) {
  const events = (await eventsOf(userId)).filter((event) => event.type === type);
  expect(events).toHaveLength(1);
  return events[0];
}

describe('users:create', () => {
  it('creates a user who can then log in through the HTTP API with that password', async () => {
    const email = uniqueEmail('create');
    const { user, output } = await createUser(email, PASSWORD, '  Ada Lovelace ');
    expect(output).toBe(user.id);
    expect(user).toMatchObject({ email, name: 'Ada Lovelace', mfaEnabled: false });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(hasher.needsRehash(user.passwordHash)).toBe(false);

    const res = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.json.access_token).toEqual(expect.any(String));
    const me = await call(lk.app, '/v1/users/me', { token: res.json.access_token });
    expect(me.status).toBe(200);
    expect(me.json.user).toMatchObject({ id: user.id, email, name: 'Ada Lovelace' });
  });

  it('records the user_registered event, as registration does', async () => {
    const { user } = await createUser();
    expect((await eventsOf(user.id)).map((event) => event.type)).toEqual(['user_registered']);
  });

  it('refuses an email that is taken, whatever its case, with exit status 1', async () => {
    const email = uniqueEmail('taken');
    await createUser(email);
    const error = await failureOf(createUser(` ${email.toUpperCase()}`, 'another fine passphrase 42'));
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(`An account with the email ${email} already exists`);
  });

  it('refuses an email taken through the HTTP registration too', async () => {
    const email = uniqueEmail('http');
    expect((await call(lk.app, '/v1/auth/register', { body: { email, password: PASSWORD } })).status).toBe(
      201,
    );
    expect((await failureOf(createUser(email))).message).toMatch(/already exists/);
  });

  it('refuses a weak password with the policy of registration, and creates nothing', async () => {
    const email = uniqueEmail('weak');
    const common = await failureOf(createUser(email, 'password123'));
    expect(common.exitCode).toBe(1);
    expect(common.message).toMatch(/too easy to guess/);
    const short = await failureOf(createUser(email, 'x7#Lq'));
    expect(short.message).toBe('Password must be at least 8 characters');
    const long = await failureOf(createUser(email, 'a'.repeat(129)));
    expect(long.message).toBe('Password must be at most 128 characters');
    // The email is a context word: a password built on it scores lower.
    const local = email.split('@')[0]!;
    expect((await failureOf(createUser(email, `${local}`))).message).toMatch(/too easy to guess/);
    expect(await lk.store.findUserByEmail(email)).toBeUndefined();
  });

  it('applies PASSWORD_MIN_SCORE from the configuration', async () => {
    const lenient = cli(testConfig({ PASSWORD_MIN_SCORE: '0' }));
    const email = uniqueEmail('lenient');
    const user = await createUserCommand(lenient.deps, { email, password: 'password123', displayName: null });
    expect(user.email).toBe(email);
  });

  it('normalises the email as registration does (trimmed, NFKC, lower case)', async () => {
    const email = uniqueEmail('norm');
    const { user } = await createUser(`  ${email.toUpperCase()}\t`);
    expect(user.email).toBe(email);
    expect((await lk.store.findUserByEmail(email))?.id).toBe(user.id);
    // Fullwidth letters fold under NFKC, as they do for the API.
    const fullwidth = uniqueEmail('nfkc');
    const { user: folded } = await createUser(fullwidth.replace('nfkc', 'ｎｆｋｃ'));
    expect(folded.email).toBe(fullwidth);
    await loginAs(fullwidth);
  });

  it('refuses what the registration schema refuses', async () => {
    expect((await failureOf(createUser('not-an-email'))).message).toBe('email: must be an email address');
    const name = await failureOf(createUser(uniqueEmail('name'), PASSWORD, 'n'.repeat(201)));
    expect(name.message).toMatch(/^name: /);
  });
});

/** Characters a terminal would act on (C0 but newline, DEL, C1) or that reorder text (RLO). */
const terminalControls = (text: string) =>
  [...text].filter((char) => {
    const code = char.codePointAt(0)!;
    return (code < 0x20 && char !== '\n') || (code >= 0x7f && code <= 0x9f) || code === 0x202e;
  });

describe('sessions:list', () => {
  it('shows the sessions opened by logins as a table, newest activity first', async () => {
    const { user } = await createUser();
    await loginAs(user.email, { device_name: 'Work laptop' }, { 'user-agent': 'Firefox/130.0' });
    lk.clock.advance(1000);
    const second = await loginAs(user.email, { device_name: 'Phone' }, { 'user-agent': 'MobileSafari/17' });

    const { deps, output } = cli();
    const sessions = await listSessionsCommand(deps, { email: user.email.toUpperCase(), json: false });
    expect(sessions).toHaveLength(2);
    const lines = output().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^ID\s+DEVICE\s+IP\s+USER AGENT\s+LOCATION\s+CREATED\s+LAST ACTIVE\s+EXPIRES\s+ACR$/,
    );
    expect(lines[1]).toContain(second.session_id);
    expect(lines[1]).toContain('Phone');
    expect(lines[1]).toContain('MobileSafari/17');
    expect(lines[1]).toContain('203.0.113.7');
    expect(lines[1]).toContain(lk.clock.now().toISOString());
    expect(lines[1]).toMatch(/aal1$/);
    expect(lines[2]).toContain('Work laptop');
    expect(lines[2]).toContain('Firefox/130.0');
    // Columns line up: every row starts its DEVICE column where the header does.
    const deviceColumn = lines[0]!.indexOf('DEVICE');
    expect(lines[1]!.indexOf('Phone')).toBe(deviceColumn);
    expect(lines[2]!.indexOf('Work laptop')).toBe(deviceColumn);
  });

  it('--json gives the fields of GET /v1/sessions', async () => {
    const { user } = await createUser();
    const tokens = await loginAs(
      user.email,
      { device_name: 'Desk', remember: true },
      { 'user-agent': 'Curl/8' },
    );
    const { deps, output } = cli();
    await listSessionsCommand(deps, { email: user.email, json: true });
    const body = JSON.parse(output());
    expect(body).toMatchObject({ user_id: user.id, email: user.email });
    expect(body.sessions).toEqual([
      {
        id: tokens.session_id,
        device_name: 'Desk',
        ip_address: '203.0.113.7',
        user_agent: 'Curl/8',
        location: null,
        created_at: expect.any(String),
        last_active_at: expect.any(String),
        expires_at: expect.any(String),
        remembered: true,
        acr: 'aal1',
        key_bound: false,
      },
    ]);
    const api = await call(lk.app, '/v1/sessions', { token: tokens.access_token });
    const { current: _current, ...fromApi } = api.json.sessions[0];
    expect(body.sessions[0]).toEqual(fromApi);
  });

  it('says so when there are no live sessions; an unknown email fails with status 1', async () => {
    const { user } = await createUser();
    const { deps, output } = cli();
    expect(await listSessionsCommand(deps, { email: user.email, json: false })).toEqual([]);
    expect(output()).toBe(`${user.email} has no live sessions`);
    const json = cli();
    await listSessionsCommand(json.deps, { email: user.email, json: true });
    expect(JSON.parse(json.output()).sessions).toEqual([]);
    const unknown = await failureOf(
      listSessionsCommand(cli().deps, { email: uniqueEmail('ghost'), json: false }),
    );
    expect(unknown.exitCode).toBe(1);
    expect(unknown.message).toMatch(/^No user has the email /);
  });

  it('does not let a client-chosen device name or user agent drive the terminal', async () => {
    const { user } = await createUser();
    await loginAs(
      user.email,
      { device_name: 'evil\u001b[2Jname\u202eesrever' },
      { 'user-agent': 'UA\u009b31m' },
    );
    const table = cli();
    await listSessionsCommand(table.deps, { email: user.email, json: false });
    expect(terminalControls(table.output())).toEqual([]);
    expect(table.output()).toContain('evil\ufffd[2Jname');
    const json = cli();
    await listSessionsCommand(json.deps, { email: user.email, json: true });
    expect(terminalControls(json.output())).toEqual([]);
    const [session] = JSON.parse(json.output()).sessions;
    expect(session.device_name).toBe('evil\u001b[2Jname\u202eesrever');
    expect(session.user_agent).toBe('UA\u009b31m');
  });
});

describe('sessions:revoke', () => {
  it('revokes every live session: their refresh tokens fail afterwards', async () => {
    const { user } = await createUser();
    const first = await loginAs(user.email);
    const second = await loginAs(user.email);

    const { deps, output } = cli();
    expect(await revokeSessionsCommand(deps, { email: user.email })).toBe(2);
    expect(output()).toBe(`revoked 2 sessions of ${user.email}`);

    for (const tokens of [first, second]) {
      const res = await refresh(lk.app, tokens.refresh_token);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_grant');
    }
    expect(await lk.store.listSessions(user.id, lk.clock.now())).toEqual([]);
    // The operator's own reason, not one borrowed from the user's API (revoke_all).
    for (const tokens of [first, second]) {
      expect(await revokeReasonsOf(tokens.session_id)).toEqual(['revoked_by_operator']);
    }
    expect(await eventOf(user.id, 'sessions_revoked')).toMatchObject({
      type: 'sessions_revoked',
      sessionId: null,
      details: { revoked: 2, via: 'cli' },
    });

    // Nothing left: zero, and still a clean exit.
    const again = cli();
    expect(await revokeSessionsCommand(again.deps, { email: user.email })).toBe(0);
    expect(again.output()).toBe(`revoked 0 sessions of ${user.email}`);
  });

  it('--session revokes that one session only', async () => {
    const { user } = await createUser();
    const kept = await loginAs(user.email);
    const revoked = await loginAs(user.email);

    const { deps, output } = cli();
    expect(await revokeSessionsCommand(deps, { email: user.email, sessionId: revoked.session_id })).toBe(1);
    expect(output()).toBe(`revoked 1 session of ${user.email} (${revoked.session_id})`);

    expect((await refresh(lk.app, revoked.refresh_token)).status).toBe(401);
    expect((await refresh(lk.app, kept.refresh_token)).status).toBe(200);
    expect((await lk.store.listSessions(user.id, lk.clock.now())).map((session) => session.id)).toEqual([
      kept.session_id,
    ]);
    // The operator's own reason, not DELETE /v1/sessions/:id's (revoked_by_user).
    expect(await revokeReasonsOf(revoked.session_id)).toEqual(['revoked_by_operator']);
    expect(await revokeReasonsOf(kept.session_id)).toEqual([null]);
    expect(await eventOf(user.id, 'session_revoked')).toMatchObject({
      type: 'session_revoked',
      sessionId: revoked.session_id,
      details: { via: 'cli' },
    });
  });

  it('--session refuses a session that is not a live one of this user', async () => {
    const { user } = await createUser();
    const { user: other } = await createUser();
    const theirs = await loginAs(other.email);
    const error = await failureOf(
      revokeSessionsCommand(cli().deps, { email: user.email, sessionId: theirs.session_id }),
    );
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(`${user.email} has no live session ${theirs.session_id}`);
    expect((await refresh(lk.app, theirs.refresh_token)).status).toBe(200);
  });
});

/** An environment without the variables whose value is undefined (execFile would pass "undefined"). */
const definedOnly = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined)) as Record<
    string,
    string
  >;

const DB_PASSWORD = 'Db-Pa55word-that-must-not-leak';
const INTROSPECTION_SECRET = 'introspection-secret-0123456789abcdef-XYZ';

describe('users:role', () => {
  it('grants and takes the admin role, with a role_changed event each time', async () => {
    const { user } = await createUser();
    const { deps, output } = cli();
    await setRoleCommand(deps, { email: user.email.toUpperCase(), role: 'admin' });
    expect(output()).toBe(`${user.email} is now admin`);
    expect((await lk.store.findUserById(user.id))?.role).toBe('admin');
    expect(await eventOf(user.id, 'role_changed')).toMatchObject({
      details: { from: 'user', to: 'admin', via: 'cli' },
    });

    const again = cli();
    await setRoleCommand(again.deps, { email: user.email, role: 'admin' });
    expect(again.output()).toBe(`${user.email} is already admin`);
    expect((await eventsOf(user.id)).filter((event) => event.type === 'role_changed')).toHaveLength(1);

    await setRoleCommand(cli().deps, { email: user.email, role: 'user' });
    expect((await lk.store.findUserById(user.id))?.role).toBe('user');
  });

  it('fails with status 1 for an unknown email, and 64 for a role that is not user or admin', async () => {
    expect(
      (await failureOf(setRoleCommand(cli().deps, { email: uniqueEmail('nobody'), role: 'admin' }))).exitCode,
    ).toBe(1);
    expect(parseCommandLine(['users:role', 'a@example.com', 'admin'])).toEqual({
      name: 'users:role',
      email: 'a@example.com',
      role: 'admin',
    });
    expect(() => parseCommandLine(['users:role', 'a@example.com', 'root'])).toThrow(UsageError);
    expect(() => parseCommandLine(['users:role', 'a@example.com'])).toThrow(UsageError);
  });
});

/** The user's outbox rows of `kind`, oldest first. */
const mailsTo = (userId: string, kind: string) =>
  database.current.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
    .orderBy(outbox.createdAt, outbox.id);

/** The token in the user's newest reset mail, read as its recipient reads it. */
async function resetTokenOf(userId: string): Promise<string> {
  const row = (await mailsTo(userId, 'password_reset')).at(-1)!;
  const mail = await unsealMailMessage(await deriveMasterKeys(TEST_MASTER_SECRET), row.id, row.payload!);
  return new URL(mail.text.match(/http:\/\/localhost:3000\/\S+/)![0]).searchParams.get('token')!;
}

describe('users:disable and users:enable', () => {
  /** The operator as the CLI composes it: its events pass through the security notices. */
  const composed = () => {
    const lines: string[] = [];
    return { deps: { operator: services.operator, out: (text: string) => lines.push(text) }, lines };
  };

  it('disable revokes every session at once and refuses logins, with admin_user_disabled (via cli) and its notice', async () => {
    const { user } = await createUser();
    const first = await loginAs(user.email);
    const second = await loginAs(user.email);
    const { deps, lines } = composed();
    await disableUserCommand(deps, { email: ` ${user.email.toUpperCase()}` });
    expect(lines).toEqual([`${user.email} is disabled; revoked 2 sessions`]);
    for (const pair of [first, second]) {
      expect((await refresh(lk.app, pair.refresh_token)).status).toBe(401);
      expect(await revokeReasonsOf(pair.session_id)).toEqual(['user_disabled']);
    }
    const login = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(login.status).toBe(403);
    expect(login.json.error).toBe('account_disabled');
    expect((await eventOf(user.id, 'admin_user_disabled'))!.details).toEqual({ revoked: 2, via: 'cli' });
    expect(await mailsTo(user.id, 'account_disabled')).toHaveLength(1);

    // Twice changes nothing and says so: no second event, no second notice.
    await disableUserCommand(deps, { email: user.email });
    expect(lines.at(-1)).toBe(`${user.email} is already disabled`);
    await eventOf(user.id, 'admin_user_disabled');
    expect(await mailsTo(user.id, 'account_disabled')).toHaveLength(1);
  });

  it('enable allows logins again, with admin_user_enabled (via cli); a user who is not disabled is left alone', async () => {
    const { user } = await createUser();
    const { deps, output } = cli();
    await enableUserCommand(deps, { email: user.email });
    expect(output()).toBe(`${user.email} is not disabled`);
    expect((await eventsOf(user.id)).map((event) => event.type)).not.toContain('admin_user_enabled');

    await disableUserCommand(deps, { email: user.email });
    await enableUserCommand(deps, { email: user.email });
    expect(output().split('\n').at(-1)).toBe(`${user.email} is enabled`);
    expect((await eventOf(user.id, 'admin_user_enabled'))!.details).toEqual({ via: 'cli' });
    await loginAs(user.email);
  });

  it('fails with status 1 for an unknown email', async () => {
    const email = uniqueEmail('nobody');
    for (const command of [disableUserCommand, enableUserCommand, sendResetLinkCommand]) {
      const error = await failureOf(command(cli().deps, { email }));
      expect(error.exitCode).toBe(1);
      expect(error.message).toBe(`No user has the email ${email}`);
    }
  });
});

describe('users:reset-link', () => {
  it('queues a link to the user’s own address and prints nothing secret; the link resets the password', async () => {
    const { user } = await createUser();
    const session = await loginAs(user.email);
    const { deps, output } = cli();
    await sendResetLinkCommand(deps, { email: user.email });
    expect(output()).toBe(
      `a password reset link for ${user.email} is queued; the mail dispatcher delivers it`,
    );
    expect(output()).not.toContain('lkp_');
    const [mail] = await mailsTo(user.id, 'password_reset');
    expect(mail).toMatchObject({ status: 'pending' });
    expect(mail!.payload).not.toContain('lkp_'); // sealed
    expect((await eventOf(user.id, 'password_reset_requested'))!.details).toEqual({
      by: 'operator',
      via: 'cli',
    });

    const token = await resetTokenOf(user.id);
    const reset = await call(lk.app, '/v1/auth/password/reset', {
      body: { token, password: 'seven herons fold paper under violet rain' },
    });
    expect(reset.status).toBe(204);
    expect((await refresh(lk.app, session.refresh_token)).status).toBe(401);
  });

  it('is not held to the per-address limit of the forgot flow, and a newer link voids the older one', async () => {
    const { user } = await createUser();
    const { deps } = cli();
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      lk.clock.advance(1000);
      await sendResetLinkCommand(deps, { email: user.email });
      tokens.push(await resetTokenOf(user.id));
    }
    expect(await mailsTo(user.id, 'password_reset')).toHaveLength(4);
    const reset = (token: string) =>
      call(lk.app, '/v1/auth/password/reset', {
        body: { token, password: 'seven herons fold paper under violet rain' },
      });
    expect((await reset(tokens[0]!)).json.error).toBe('invalid_email_token');
    expect((await reset(tokens[3]!)).status).toBe(204);
  });

  it('refuses a disabled user with status 1 and queues nothing', async () => {
    const { user } = await createUser();
    const { deps } = cli();
    await disableUserCommand(deps, { email: user.email });
    const error = await failureOf(sendResetLinkCommand(deps, { email: user.email }));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/is disabled: enable it first/);
    expect(await mailsTo(user.id, 'password_reset')).toHaveLength(0);
  });
});

describe('mail:list, mail:retry, mail:dispatch', () => {
  /** A pending reset mail to a new user: its outbox row. */
  async function queuedMail() {
    const { user } = await createUser();
    // Its own instant: "newest first" has no tie with the mails of earlier tests.
    lk.clock.advance(1000);
    await sendResetLinkCommand(cli().deps, { email: user.email });
    lk.clock.advance(1000);
    return { user, row: (await mailsTo(user.id, 'password_reset'))[0]! };
  }

  it('lists newest first as a table, or as GET /v1/admin/mail does with --json; never a body', async () => {
    const { user, row } = await queuedMail();
    const { deps, output } = cli();
    await listMailCommand(deps, { status: 'pending', limit: 5, json: false });
    const [header, first] = output().split('\n');
    expect(header).toMatch(
      /^ID\s+KIND\s+STATUS\s+ATTEMPTS\s+CREATED\s+NEXT ATTEMPT\s+SENT\s+USER\s+LAST ERROR$/,
    );
    expect(first).toContain(row.id);
    expect(first).toContain(user.id);

    const json = cli();
    await listMailCommand(json.deps, { status: 'pending', limit: 100, json: true });
    const listed = JSON.parse(json.output());
    const entry = listed.messages.find((message: { id: string }) => message.id === row.id);
    expect(entry).toEqual({
      id: row.id,
      kind: 'password_reset',
      user_id: user.id,
      status: 'pending',
      attempts: 0,
      next_attempt_at: row.nextAttemptAt.toISOString(),
      last_error: null,
      created_at: row.createdAt.toISOString(),
      sent_at: null,
    });
    expect(json.output()).not.toContain(row.payload!);

    const none = cli();
    await listMailCommand(none.deps, { status: 'failed', limit: 5, json: false });
    expect(none.output()).toMatch(/^no failed messages$|^ID/);
  });

  it('mail:retry puts a failed message that kept its body back to pending; anything else fails with status 1', async () => {
    const { row } = await queuedMail();
    const { deps, output } = cli();
    const pending = await failureOf(retryMailCommand(deps, { id: row.id }));
    expect(pending.message).toMatch(/^Only a failed message can be retried/);
    const unknown = await failureOf(retryMailCommand(deps, { id: crypto.randomUUID() }));
    expect(unknown.message).toMatch(/^No message has this id/);

    // The dispatcher erases the body of a message it gives up on: such a row cannot be sent.
    await database.current.db
      .update(outbox)
      .set({ status: 'failed', payload: null, attempts: 8 })
      .where(eq(outbox.id, row.id));
    const erased = await failureOf(retryMailCommand(deps, { id: row.id }));
    expect(erased.message).toMatch(/body was erased/);

    const kept = await queuedMail();
    await database.current.db
      .update(outbox)
      .set({ status: 'failed', attempts: 8, lastError: 'Error: 421 try later' })
      .where(eq(outbox.id, kept.row.id));
    await retryMailCommand(deps, { id: kept.row.id.toUpperCase() });
    expect(output()).toBe(`message ${kept.row.id} is pending again; the mail dispatcher sends it next`);
    const [after] = await database.current.db.select().from(outbox).where(eq(outbox.id, kept.row.id));
    expect(after).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: lk.clock.now() });
  });

  it('mail:dispatch delivers what is due with the transport and prints the counts, never a link', async () => {
    const { user } = await queuedMail();
    const sent: OutgoingMail[] = [];
    let failing = false;
    const dispatcher = createOutboxDispatcher({
      outbox: lk.store,
      mailer: {
        send: async (mail) => {
          if (failing) throw new Error('connect ECONNREFUSED');
          sent.push(mail);
        },
      },
      clock: lk.clock,
      masterKeys: await deriveMasterKeys(TEST_MASTER_SECRET),
      from: lk.config.mail.from,
      policy: { batchSize: 10, leaseMs: 60_000, maxAttempts: 3 },
    });
    const stats = () => lk.store.outboxStats(lk.clock.now());
    const due = (await stats()).pending;
    const { deps, output } = cli();
    const counts = await dispatchMailCommand({ dispatcher, stats, out: deps.out });
    expect(counts).toEqual({ sent: due, retried: 0, failed: 0, pending: 0 });
    expect(output()).toBe(`sent ${due}, failed for good 0, to retry later 0; pending now 0`);
    expect(sent.some((mail) => mail.to === user.email && mail.text.includes('lkp_'))).toBe(true);
    expect(output()).not.toContain('lkp_');

    await queuedMail();
    failing = true;
    const later = cli();
    const failed = await dispatchMailCommand({ dispatcher, stats, out: later.deps.out });
    expect(failed).toEqual({ sent: 0, retried: 1, failed: 0, pending: 1 });
    expect(later.output()).toMatch(
      /^sent 0, failed for good 0, to retry later 1; pending now 1 \(oldest \d+ s\)$/,
    );
  });
});

describe('webhooks:*', () => {
  /** Development: the receiver is on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE=true), delivered by the Node sender. */
  let hooks: Latchkey;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let printedSecret: string | undefined;
  beforeAll(async () => {
    receiver = await startReceiver({ secret: () => printedSecret, now: () => lk.clock.now().getTime() });
    hooks = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_FOR: '60' },
      webhookSender: createNodeWebhookSender({ allowPrivate: true, userAgent: 'test' }),
    });
  });
  afterAll(() => receiver.close());
  // No endpoint outlives its test (they would get the events of later tests).
  afterEach(async () => {
    for (const endpoint of await hooks.webhooks.listEndpoints())
      await hooks.webhooks.deleteEndpoint(endpoint.id);
    receiver.answerWith(() => 200);
  });

  function webhookCli(webhooks: WebhookCommandDeps['webhooks'] = hooks.webhooks) {
    const lines: string[] = [];
    const deps: WebhookCommandDeps = { webhooks, out: (text) => lines.push(text) };
    return { deps, output: () => lines.join('\n') };
  }

  /** Dispatcher runs with the clock moving on, until nothing of this endpoint is pending. */
  async function deliverAll(endpointId: string) {
    for (let run = 0; run < 40; run++) {
      await hooks.webhooks.dispatcher!.drain();
      const pending = await hooks.webhooks.deliveries(endpointId, { status: 'pending', limit: 1 });
      if (pending.length === 0) return;
      lk.clock.advance(3_600_000);
    }
    throw new Error('deliveries still pending');
  }

  it('webhooks:add prints the id and the secret once; the secret signs what the receiver gets; nothing else prints it', async () => {
    const add = webhookCli();
    const { endpoint, secret } = await addWebhookCommand(add.deps, {
      url: receiver.url,
      eventTypes: ['password.reset'],
      description: 'orders',
    });
    expect(add.output()).toBe(
      `id      ${endpoint.id}\nsecret  ${secret}\nThe secret is shown this once: configure the receiver with it now (no command prints it again).`,
    );
    expect(secret).toMatch(/^whsec_/);
    printedSecret = secret;

    const test = webhookCli();
    const deliveryId = await testWebhookCommand(test.deps, { id: endpoint.id });
    expect(test.output()).toBe(
      `test event queued: delivery ${deliveryId}; the server's dispatcher sends it (see webhooks:deliveries ${endpoint.id})`,
    );
    const mark = receiver.received.length;
    await hooks.webhooks.dispatcher!.drain();
    expect(receiver.received.slice(mark)).toMatchObject([
      { verified: true, payload: { type: 'webhook.test' } },
    ]);

    const table = webhookCli();
    await listWebhooksCommand(table.deps, { json: false });
    const [header, row] = table.output().split('\n');
    expect(header).toMatch(/^ID\s+ENABLED\s+URL\s+EVENTS\s+FAILURES\s+LAST SUCCESS\s+DESCRIPTION$/);
    expect(row).toContain(endpoint.id);
    expect(row).toContain('password.reset');
    const json = webhookCli();
    await listWebhooksCommand(json.deps, { json: true });
    expect(JSON.parse(json.output()).endpoints).toEqual([
      expect.objectContaining({
        id: endpoint.id,
        url: receiver.url,
        event_types: ['password.reset'],
        enabled: true,
      }),
    ]);
    const deliveries = webhookCli();
    await listDeliveriesCommand(deliveries.deps, { id: endpoint.id, limit: 20, json: true });
    for (const output of [table.output(), json.output(), deliveries.output()])
      expect(output).not.toContain(secret.slice('whsec_'.length));
  });

  it('webhooks:add refuses what the API refuses: a URL outside the policy, an unknown event type (status 1)', async () => {
    // The CLI's own configuration: WEBHOOK_ALLOW_PRIVATE unset.
    const strict = webhookCli(services.webhooks);
    for (const [url, reason] of [
      ['http://127.0.0.1:8080/hooks', 'url: address not allowed: 127.0.0.1'],
      ['http://localhost/hooks', 'url: host not allowed: localhost (a local name)'],
      ['http://169.254.169.254/', 'url: address not allowed: 169.254.169.254'],
    ] as const) {
      const refused = await failureOf(
        addWebhookCommand(strict.deps, { url, eventTypes: null, description: null }),
      );
      expect(refused.message).toBe(reason);
      expect(refused.exitCode).toBe(1);
    }
    const unknown = await failureOf(
      addWebhookCommand(strict.deps, {
        url: 'https://hooks.example.org/in',
        eventTypes: ['user.exploded'],
        description: null,
      }),
    );
    expect(unknown.message).toMatch(/^event_types: unknown user\.exploded/);
    expect(strict.output()).toBe('');
    expect(await services.webhooks.listEndpoints()).toEqual([]);
  });

  it('webhooks:disable, enable, rotate and remove; an unknown id fails with status 1', async () => {
    const { endpoint, secret } = await addWebhookCommand(webhookCli().deps, {
      url: receiver.url,
      eventTypes: null,
      description: null,
    });
    const off = webhookCli();
    expect(await setWebhookEnabledCommand(off.deps, { id: endpoint.id, enabled: false })).toMatchObject({
      enabled: false,
      disabledReason: 'disabled by an operator',
    });
    expect(off.output()).toBe(
      `webhook endpoint ${endpoint.id} disabled; no new event is queued for it, and queued deliveries wait until it is enabled`,
    );
    const on = webhookCli();
    expect(await setWebhookEnabledCommand(on.deps, { id: endpoint.id, enabled: true })).toMatchObject({
      enabled: true,
      disabledAt: null,
    });
    expect(on.output()).toBe(`webhook endpoint ${endpoint.id} enabled; its pending deliveries go out`);

    const rotate = webhookCli();
    const rotated = await rotateWebhookCommand(rotate.deps, { id: endpoint.id });
    expect(rotated.secret).not.toBe(secret);
    const until = new Date(lk.clock.now().getTime() + 24 * 3_600_000).toISOString();
    expect(rotate.output()).toBe(
      `id      ${endpoint.id}\nsecret  ${rotated.secret}\nThe secret is shown this once: configure the receiver with it now (no command prints it again).\nThe previous secret also signs until ${until}.`,
    );

    const remove = webhookCli();
    await removeWebhookCommand(remove.deps, { id: endpoint.id });
    expect(remove.output()).toBe(`webhook endpoint ${endpoint.id} removed, with its deliveries`);
    const empty = webhookCli();
    await listWebhooksCommand(empty.deps, { json: false });
    expect(empty.output()).toBe('no webhook endpoints');

    const unknown = crypto.randomUUID();
    // Thunks: each runs (and fails) only when awaited.
    for (const attempt of [
      () => removeWebhookCommand(webhookCli().deps, { id: unknown }),
      () => setWebhookEnabledCommand(webhookCli().deps, { id: unknown, enabled: true }),
      () => rotateWebhookCommand(webhookCli().deps, { id: unknown }),
      () => testWebhookCommand(webhookCli().deps, { id: unknown }),
      () => listDeliveriesCommand(webhookCli().deps, { id: unknown, limit: 20, json: false }),
    ]) {
      expect((await failureOf(attempt())).message).toBe('No webhook endpoint has this id');
    }
    expect((await failureOf(replayDeliveryCommand(webhookCli().deps, { id: unknown }))).message).toBe(
      'No webhook delivery has this id',
    );
  });

  it('webhooks:deliveries shows a failed delivery; webhooks:replay sends it again under the same webhook-id', async () => {
    const { endpoint, secret } = await addWebhookCommand(webhookCli().deps, {
      url: receiver.url,
      eventTypes: ['password.reset'],
      description: null,
    });
    printedSecret = secret;
    receiver.answerWith(() => 500);
    const deliveryId = await testWebhookCommand(webhookCli().deps, { id: endpoint.id });
    const pending = await failureOf(replayDeliveryCommand(webhookCli().deps, { id: deliveryId }));
    expect(pending.message).toBe('Only a failed delivery can be replayed');
    await deliverAll(endpoint.id);
    const webhookId = receiver.received.at(-1)!.id;

    const table = webhookCli();
    await listDeliveriesCommand(table.deps, { id: endpoint.id, status: 'failed', limit: 20, json: false });
    const [header, row] = table.output().split('\n');
    expect(header).toMatch(
      /^ID\s+WEBHOOK ID\s+TYPE\s+STATUS\s+ATTEMPTS\s+HTTP\s+CREATED\s+NEXT ATTEMPT\s+SENT\s+LAST ERROR$/,
    );
    expect(row).toMatch(
      new RegExp(`^${deliveryId}\\s+${webhookId}\\s+webhook\\.test\\s+failed\\s+\\d+\\s+500\\s`),
    );
    expect(row).toMatch(/answered 500$/);
    const json = webhookCli();
    await listDeliveriesCommand(json.deps, { id: endpoint.id, limit: 20, json: true });
    expect(JSON.parse(json.output())).toEqual({
      deliveries: [
        expect.objectContaining({
          id: deliveryId,
          webhook_id: webhookId,
          status: 'failed',
          last_status: 500,
        }),
      ],
      next_cursor: null,
    });
    const none = webhookCli();
    await listDeliveriesCommand(none.deps, { id: endpoint.id, status: 'sent', limit: 20, json: false });
    expect(none.output()).toBe('no sent deliveries');

    receiver.answerWith(() => 200);
    const replay = webhookCli();
    await replayDeliveryCommand(replay.deps, { id: deliveryId });
    expect(replay.output()).toBe(
      `delivery ${deliveryId} is pending again; the server's dispatcher sends it (same webhook-id)`,
    );
    const mark = receiver.received.length;
    await hooks.webhooks.dispatcher!.drain();
    expect(receiver.received.slice(mark)).toMatchObject([{ id: webhookId, verified: true }]);
  });
});

describe('command line', () => {
  it('parses the commands and their options', () => {
    expect(parseCommandLine(['users:create', 'a@example.com', '--name', 'Ada L'])).toEqual({
      name: 'users:create',
      email: 'a@example.com',
      displayName: 'Ada L',
    });
    expect(parseCommandLine(['users:create', '--name=Ada', 'a@example.com'])).toMatchObject({
      displayName: 'Ada',
    });
    expect(parseCommandLine(['sessions:list', 'a@example.com', '--json'])).toEqual({
      name: 'sessions:list',
      email: 'a@example.com',
      json: true,
    });
    const id = crypto.randomUUID();
    expect(parseCommandLine(['sessions:revoke', 'a@example.com', '--session', id])).toEqual({
      name: 'sessions:revoke',
      email: 'a@example.com',
      sessionId: id,
    });
    expect(parseCommandLine(['keys:rotate', '--now'])).toEqual({ name: 'keys:rotate', now: true });
    expect(parseCommandLine(['keys:rotate'])).toEqual({ name: 'keys:rotate', now: false });
    expect(parseCommandLine(['migrate'])).toEqual({ name: 'migrate' });
    expect(parseCommandLine(['config:show'])).toEqual({ name: 'config:show', json: false });
    expect(parseCommandLine(['config:show', '--json'])).toEqual({ name: 'config:show', json: true });
    for (const name of ['users:disable', 'users:enable', 'users:reset-link']) {
      expect(parseCommandLine([name, 'a@example.com'])).toEqual({ name, email: 'a@example.com' });
    }
    expect(parseCommandLine(['mail:list'])).toEqual({
      name: 'mail:list',
      status: undefined,
      limit: 20,
      cursor: undefined,
      json: false,
    });
    expect(parseCommandLine(['mail:list', '--status', 'failed', '--limit=50', '--json'])).toEqual({
      name: 'mail:list',
      status: 'failed',
      limit: 50,
      cursor: undefined,
      json: true,
    });
    expect(parseCommandLine(['mail:retry', id])).toEqual({ name: 'mail:retry', id });
    expect(parseCommandLine(['mail:dispatch'])).toEqual({ name: 'mail:dispatch' });
    expect(parseCommandLine(['--help'])).toEqual({ name: 'help' });
  });

  it('parses the webhook commands', () => {
    const id = crypto.randomUUID();
    expect(parseCommandLine(['webhooks:add', 'https://hooks.example.org/in'])).toEqual({
      name: 'webhooks:add',
      url: 'https://hooks.example.org/in',
      eventTypes: null,
      description: null,
    });
    expect(
      parseCommandLine([
        'webhooks:add',
        'https://hooks.example.org/in',
        '--events',
        'user.created, session.revoked',
        '--description=Orders app',
      ]),
    ).toEqual({
      name: 'webhooks:add',
      url: 'https://hooks.example.org/in',
      eventTypes: ['user.created', 'session.revoked'],
      description: 'Orders app',
    });
    expect(parseCommandLine(['webhooks:list'])).toEqual({ name: 'webhooks:list', json: false });
    expect(parseCommandLine(['webhooks:list', '--json'])).toEqual({ name: 'webhooks:list', json: true });
    for (const name of [
      'webhooks:remove',
      'webhooks:enable',
      'webhooks:disable',
      'webhooks:rotate',
      'webhooks:test',
    ]) {
      expect(parseCommandLine([name, id.toUpperCase()])).toEqual({ name, id });
    }
    expect(parseCommandLine(['webhooks:replay', id])).toEqual({ name: 'webhooks:replay', id });
    expect(parseCommandLine(['webhooks:deliveries', id, '--status', 'failed', '--json'])).toEqual({
      name: 'webhooks:deliveries',
      id,
      status: 'failed',
      limit: 20,
      cursor: undefined,
      json: true,
    });
  });

  it.each([
    [['webhooks:add']],
    [['webhooks:add', 'https://a.example/', 'extra']],
    [['webhooks:add', 'https://a.example/', '--events']],
    [['webhooks:add', 'https://a.example/', '--events', '']],
    [['webhooks:add', 'https://a.example/', '--events', 'user.created,,mfa.enabled']],
    [['webhooks:add', 'https://a.example/', '--events', Array(51).fill('user.created').join(',')]],
    [['webhooks:add', 'https://a.example/', '--description', 'd'.repeat(201)]],
    [['webhooks:add', `https://a.example/${'a'.repeat(2000)}`]],
    [['webhooks:add', 'https://a.example/', '--secret', 'whsec_x']],
    [['webhooks:list', '--all']],
    [['webhooks:remove']],
    [['webhooks:remove', 'not-a-uuid']],
    [['webhooks:enable', `${crypto.randomUUID()}x`]],
    [['webhooks:test', "1' OR '1'='1"]],
    [['webhooks:deliveries', crypto.randomUUID(), '--status', 'bounced']],
    [['webhooks:deliveries', crypto.randomUUID(), '--limit', '0']],
    [['webhooks:deliveries', crypto.randomUUID(), '--cursor', '!!']],
    [['webhooks:deliveries']],
    [['webhooks:replay', 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W']],
  ])('refuses %j with a usage error (exit status 64)', (argv) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
  });

  it.each([
    [[]],
    [['users:delete', 'a@example.com']],
    [['users:create']],
    [['users:create', 'a@example.com', 'b@example.com']],
    [['users:create', 'a@example.com', '--name']],
    [['users:create', 'a@example.com', '--password', 'hunter2']],
    [['users:create', 'a@example.com', '--password=hunter2']],
    [['sessions:list', 'a@example.com', '--jsonn']],
    [['sessions:list', 'a@example.com', '--json=yes']],
    [['sessions:revoke', 'a@example.com', '--session', 'not-a-uuid']],
    [['config:show', 'extra']],
    [['keys:rotate', '--later']],
    [['users:disable']],
    [['users:reset-link', 'a@example.com', '--password', 'x']],
    [['mail:list', '--status', 'bounced']],
    [['mail:list', '--status', 'FAILED']],
    [['mail:list', '--limit', '0']],
    [['mail:list', '--limit', '101']],
    [['mail:list', '--limit', 'many']],
    [['mail:list', '--cursor', '!!!']],
    [['mail:list', 'extra']],
    [['mail:retry']],
    [['mail:retry', 'not-a-uuid']],
    [['mail:dispatch', '--now']],
  ])('refuses %j with a usage error (exit status 64)', (argv) => {
    const attempt = () => parseCommandLine(argv);
    expect(attempt).toThrow(UsageError);
    try {
      attempt();
    } catch (error) {
      expect((error as UsageError).exitCode).toBe(EXIT_USAGE);
    }
  });

  it('takes the password from LATCHKEY_PASSWORD, else the first line of stdin', async () => {
    const neverRead = async () => {
      throw new Error('stdin must not be read');
    };
    expect(await resolvePassword({ LATCHKEY_PASSWORD: 'from the env' }, neverRead)).toBe('from the env');
    const stdin = () => readFirstLine(Readable.from(['  spaced pass', 'word  \r\nsecond line\n']));
    expect(await resolvePassword({}, stdin)).toBe('  spaced password  ');
    expect(await resolvePassword({ LATCHKEY_PASSWORD: '' }, stdin)).toBe('  spaced password  ');
    expect(await readFirstLine(Readable.from([Buffer.from('no newline at all')]))).toBe('no newline at all');
    expect(await readFirstLine(Readable.from([]))).toBeUndefined();
    // A multi-byte character split across chunks.
    const bytes = Buffer.from('pässwörd\n');
    expect(await readFirstLine(Readable.from([bytes.subarray(0, 2), bytes.subarray(2)]))).toBe('pässwörd');
    const missing = await failureOf(resolvePassword({}, async () => undefined));
    expect(missing.message).toMatch(/LATCHKEY_PASSWORD/);
    expect(missing.exitCode).toBe(1);
    await expect(readFirstLine(Readable.from(['x'.repeat(5000)]))).rejects.toThrow(/too long/);
  });
});

describe('the cli process', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'latchkey-cli-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  /** `env` adds to (or, with undefined, removes from) the command's environment. */
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/entry/cli.ts', ...args],
        {
          cwd: root,
          // Not the test's own environment: only what the command is meant to see.
          env: definedOnly({
            PATH: process.env.PATH,
            NODE_ENV: 'test',
            DATA_DIR: dataDir,
            MASTER_SECRET: TEST_MASTER_SECRET,
            LOG_LEVEL: 'silent',
            DATABASE_URL: `postgres://latchkey:${DB_PASSWORD}@db.internal:5432/latchkey`,
            INTROSPECTION_CLIENTS: `orders-api:${INTROSPECTION_SECRET}`,
            ...env,
          }),
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  it('users:create prints only the id on stdout; the log, with its security event, goes to stderr', async () => {
    // The embedded database in DATA_DIR (no DATABASE_URL), and a log level that logs events.
    const result = await run(['users:create', uniqueEmail('process')], {
      DATABASE_URL: undefined,
      LOG_LEVEL: 'info',
      LATCHKEY_PASSWORD: PASSWORD,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
    const id = result.stdout.trim();
    const events = result.stderr
      .split('\n')
      .filter((line) => line.includes('"security event"'))
      .map((line) => JSON.parse(line));
    expect(events).toEqual([expect.objectContaining({ type: 'user_registered', user_id: id })]);
  }, 90_000); // a fresh embedded database: its migrations run first

  it('users:reset-link prints no link; mail:dispatch delivers it (as an .eml file with no transport configured)', async () => {
    const env = { DATABASE_URL: undefined, LATCHKEY_PASSWORD: PASSWORD };
    const email = uniqueEmail('process-reset');
    expect((await run(['users:create', email], env)).code).toBe(0);
    const queued = await run(['users:reset-link', email], env);
    expect(queued.code).toBe(0);
    expect(queued.stdout).toBe(
      `a password reset link for ${email} is queued; the mail dispatcher delivers it\n`,
    );
    expect(queued.stdout + queued.stderr).not.toContain('lkp_');
    const dispatched = await run(['mail:dispatch'], env);
    expect(dispatched.code).toBe(0);
    expect(dispatched.stdout).toMatch(
      /^sent [1-9]\d*, failed for good 0, to retry later 0; pending now 0\n$/,
    );
    expect(dispatched.stdout).not.toContain('lkp_');
    const files = await readdir(join(dataDir, 'mail'));
    const texts = await Promise.all(files.map((file) => readFile(join(dataDir, 'mail', file), 'utf8')));
    expect(texts.some((text) => text.includes(email) && text.includes('lkp_'))).toBe(true);
  }, 120_000);

  it('webhooks:add prints the secret once on stdout; webhooks:list never; a refused URL exits 1', async () => {
    const env = { DATABASE_URL: undefined };
    const added = await run(
      ['webhooks:add', 'https://hooks.example.org/in', '--events', 'user.created'],
      env,
    );
    expect(added.code).toBe(0);
    const match = /^id {6}([0-9a-f-]{36})\nsecret {2}(whsec_\S+)\nThe secret is shown this once/.exec(
      added.stdout,
    );
    expect(match).not.toBeNull();
    const [, id, secret] = match!;
    const listed = await run(['webhooks:list', '--json'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).endpoints).toContainEqual(
      expect.objectContaining({ id, url: 'https://hooks.example.org/in', event_types: ['user.created'] }),
    );
    expect(listed.stdout + listed.stderr).not.toContain(secret!.slice('whsec_'.length));
    // WEBHOOK_ALLOW_PRIVATE unset: the cloud metadata address is refused, with the policy's reason.
    const refused = await run(['webhooks:add', 'http://169.254.169.254/latest/meta-data/'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('url: address not allowed: 169.254.169.254');
    const help = await run(['help']);
    expect(help.stdout).toContain('the only time the secret is ever printed');
  }, 120_000);

  it('an unknown command exits 64 with the usage', async () => {
    const result = await run(['users:explode']);
    expect(result.code).toBe(64);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('unknown command "users:explode"');
    expect(result.stderr).toContain('usage: latchkey <command>');
  });
});

describe('keys:rotate', () => {
  const jwksKids = async () =>
    (await call(lk.app, '/.well-known/jwks.json')).json.keys.map((key: { kid: string }) => key.kid);
  const kidOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

  it('without --now: the new key is published now and signs after KEY_PREPUBLICATION; the old one stays', async () => {
    const { deps, output } = cli();
    const before = await jwksKids();
    const { kid, withdrawn } = await rotateKeysCommand(
      { ...deps, keyRing: lk.keyRing, config: lk.config },
      { now: false },
    );
    expect(withdrawn).toEqual([]);
    expect(await jwksKids()).toEqual(expect.arrayContaining([...before, kid]));
    const signsAt = new Date(lk.clock.now().getTime() + lk.config.keyPrepublicationSeconds * 1000);
    expect(output()).toContain(
      `new signing key ${kid} (EdDSA) is published now and signs from ${signsAt.toISOString()}`,
    );
  });

  it('--now: the new key signs at once, every other key is withdrawn, and their tokens are refused at once', async () => {
    const { user } = await createUser();
    const pair = await loginAs(user.email);
    const before = await jwksKids();
    expect(before).toContain(kidOf(pair.access_token));
    const { deps, output } = cli();
    const { kid, withdrawn } = await rotateKeysCommand(
      { ...deps, keyRing: lk.keyRing, config: lk.config },
      { now: true },
    );
    expect([...withdrawn].sort()).toEqual([...before].sort());
    expect(await jwksKids()).toEqual([kid]);
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);
    const refreshed = await refresh(lk.app, pair.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(kidOf(refreshed.json.access_token)).toBe(kid);
    expect(output()).toContain(`new signing key ${kid} (EdDSA) is published and signs from now on`);
    expect(output()).toContain(
      `withdrawn (deleted with their private halves, gone from the JWKS): ${withdrawn.join(', ')}`,
    );
    expect(output()).toContain(
      'refused by every instance within 5 s and by latchkey/verify within a further 30 s',
    );
  });
});
