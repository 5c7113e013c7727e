import type { Config } from '../config.js';
import { normalizeEmail } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import { RegisterBody, SessionIdParam } from '../http/schemas.js';
import { sessionJson } from '../http/views.js';
import type { Clock } from '../ports/clock.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { SessionView, Store, UserRecord, UserRole } from '../ports/store.js';
import { createAccount } from '../services/accounts.js';
import { DEFAULT_KEY_CACHE_TTL_MS, type KeyRing } from '../services/key-ring.js';
import { DEFAULT_JWKS_MAX_AGE_SECONDS } from '../verify/key-set.js';

/**
 * The operator commands of `npm run cli`, kept apart from the process: they take their
 * dependencies and an output function, throw `CliError` with the exit status to use, and
 * never exit or touch the console themselves (src/entry/cli.ts does that).
 */

/** sysexits.h: 64 is EX_USAGE (bad command line), 78 EX_CONFIG (see loadConfigOrExit). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;

/** Writes one line (or block) of output; the caller adds the newline. */
export type Writer = (text: string) => void;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: printed with the usage text, exit status 64. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

export const PASSWORD_ENV = 'LATCHKEY_PASSWORD';

export const USAGE = `usage: npm run cli -- <command> [options]

commands:
  migrate                               apply the database migrations
  keys:rotate [--now]                   add a new signing key; --now (a compromised key): it
                                        signs at once and every other key is withdrawn at
                                        once (tokens it signed refused, clients refresh)
  users:create <email> [--name NAME]    create a user and print its id; the password is read
                                        from ${PASSWORD_ENV} if set, else from the first line
                                        of stdin (never from the command line)
  users:role <email> <user|admin>       set the user's role; admin opens /v1/admin/* (with
                                        an aal2 session, so the admin needs MFA)
  sessions:list <email> [--json]        the user's live sessions
  sessions:revoke <email> [--session ID]
                                        revoke every live session of the user, or just one
  config:show                           the effective configuration, secrets masked
  help                                  this text`;

export type Command =
  | { name: 'help' }
  | { name: 'migrate' }
  | { name: 'keys:rotate'; now: boolean }
  | { name: 'users:create'; email: string; displayName: string | null }
  | { name: 'users:role'; email: string; role: UserRole }
  | { name: 'sessions:list'; email: string; json: boolean }
  | { name: 'sessions:revoke'; email: string; sessionId: string | undefined }
  | { name: 'config:show' };

interface ArgSpec {
  positionals: string[];
  flags: string[];
  /** Options that take a value: `--name value` or `--name=value`. */
  options: string[];
}

const SPECS: Record<Exclude<Command['name'], 'help'>, ArgSpec> = {
  migrate: { positionals: [], flags: [], options: [] },
  'keys:rotate': { positionals: [], flags: ['--now'], options: [] },
  'users:create': { positionals: ['email'], flags: [], options: ['--name'] },
  'users:role': { positionals: ['email', 'role'], flags: [], options: [] },
  'sessions:list': { positionals: ['email'], flags: ['--json'], options: [] },
  'sessions:revoke': { positionals: ['email'], flags: [], options: ['--session'] },
  'config:show': { positionals: [], flags: [], options: [] },
};

const isCommandName = (name: string): name is keyof typeof SPECS => Object.hasOwn(SPECS, name);

function parseArgs(command: string, spec: ArgSpec, args: readonly string[]) {
  const positionals: string[] = [];
  const flags = new Set<string>();
  const options = new Map<string, string>();
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (command === 'users:create' && /^--?(password|pass|pw|p)$/i.test(name)) {
      throw new UsageError(
        `users:create never takes the password on the command line (it would show in ps and the shell history): set ${PASSWORD_ENV} or write it on stdin`,
      );
    }
    if (spec.flags.includes(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else if (spec.options.includes(name)) {
      if (options.has(name)) throw new UsageError(`${name} is given twice`);
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      options.set(name, value);
    } else {
      throw new UsageError(`${command}: unknown option ${name}`);
    }
  }
  if (positionals.length < spec.positionals.length) {
    throw new UsageError(`${command}: missing <${spec.positionals[positionals.length]}>`);
  }
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(`${command}: unexpected argument "${positionals[spec.positionals.length]}"`);
  }
  return { positionals, flags, options };
}

/** Reads `argv` (without node and the script); throws `UsageError` for a bad command line. */
export function parseCommandLine(argv: readonly string[]): Command {
  const [name, ...args] = argv;
  if (name === undefined) throw new UsageError('no command given');
  if (name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);
  const { positionals, flags, options } = parseArgs(name, SPECS[name], args);
  const email = positionals[0] ?? '';
  switch (name) {
    case 'migrate':
    case 'config:show':
      return { name };
    case 'keys:rotate':
      return { name, now: flags.has('--now') };
    case 'users:create':
      return { name, email, displayName: options.get('--name') ?? null };
    case 'users:role': {
      const role = positionals[1];
      if (role !== 'user' && role !== 'admin')
        throw new UsageError(`users:role: the role is user or admin, not "${role}"`);
      return { name, email, role };
    }
    case 'sessions:list':
      return { name, email, json: flags.has('--json') };
    case 'sessions:revoke': {
      const sessionId = options.get('--session');
      if (sessionId !== undefined && !SessionIdParam.safeParse(sessionId).success) {
        throw new UsageError(`--session: "${sessionId}" is not a session id (a UUID)`);
      }
      return { name, email, sessionId };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Reading the password
// ---------------------------------------------------------------------------------------

/** Longer than any password the API accepts (1024), so a line past it is a mistake. */
const MAX_PASSWORD_LINE = 4096;

/**
 * The first line of a stream, without its line ending (`\n` or `\r\n`); nothing else is
 * trimmed, since spaces may be part of a password. Stops reading at the first newline.
 * Undefined when the stream ends with no data at all.
 */
export async function readFirstLine(input: AsyncIterable<string | Uint8Array>): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = '';
  let sawData = false;
  for await (const chunk of input) {
    sawData = true;
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const newline = text.indexOf('\n');
    if (newline >= 0) return text.slice(0, newline).replace(/\r$/, '');
    if (text.length > MAX_PASSWORD_LINE) throw new CliError('The password line on stdin is too long');
  }
  text += decoder.decode();
  return sawData ? text.replace(/\r$/, '') : undefined;
}

/**
 * The password for `users:create`: LATCHKEY_PASSWORD when set (an empty value counts as
 * unset, as for every other variable), else what `fromStdin` reads.
 */
export async function resolvePassword(
  env: Record<string, string | undefined>,
  fromStdin: () => Promise<string | undefined>,
): Promise<string> {
  const fromEnv = env[PASSWORD_ENV];
  const password = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await fromStdin();
  if (password === undefined || password === '') {
    throw new CliError(`No password given: set ${PASSWORD_ENV} or write the password on stdin`);
  }
  return password;
}

// ---------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------

/**
 * `keys:rotate`: a new key, published now and signing after KEY_PREPUBLICATION, the old one
 * published until its tokens expire. `--now` is for a compromised key: the new key signs at
 * once and every other key is withdrawn at once (KeyRing.rotate, `compromised`).
 */
export async function rotateKeysCommand(
  deps: {
    keyRing: Pick<KeyRing, 'ensureSigningKey' | 'rotate'>;
    config: Pick<Config, 'signingAlg'>;
    out: Writer;
  },
  input: { now: boolean },
): Promise<{ kid: string; withdrawn: string[] }> {
  const { keyRing, config, out } = deps;
  await keyRing.ensureSigningKey();
  if (!input.now) {
    const { kid, activatesAt } = await keyRing.rotate();
    out(
      `new signing key ${kid} (${config.signingAlg}) is published now and signs from ${activatesAt.toISOString()}`,
    );
    out('previous keys stop signing then, and stay published until the tokens they signed have expired');
    return { kid, withdrawn: [] };
  }
  const { kid, withdrawn } = await keyRing.rotate({ compromised: true });
  out(`new signing key ${kid} (${config.signingAlg}) is published and signs from now on`);
  out(
    `withdrawn (deleted with their private halves, gone from the JWKS): ${withdrawn.join(', ') || 'no other key'}`,
  );
  out(
    `access tokens they signed are refused by every instance within ${DEFAULT_KEY_CACHE_TTL_MS / 1000} s ` +
      `and by latchkey/verify within a further ${DEFAULT_JWKS_MAX_AGE_SECONDS} s; clients refresh (sessions go on)`,
  );
  return { kid, withdrawn };
}

// ---------------------------------------------------------------------------------------
// Commands on the database
// ---------------------------------------------------------------------------------------

export interface CommandDeps {
  store: Pick<
    Store,
    | 'findUserByEmail'
    | 'createUser'
    | 'listSessions'
    | 'revokeSession'
    | 'revokeUserSessions'
    | 'recordSecurityEvent'
    | 'setUserRole'
  >;
  hasher: PasswordHasher;
  config: Pick<Config, 'passwordMinScore'>;
  clock: Clock;
  out: Writer;
}

async function userByEmail(deps: Pick<CommandDeps, 'store'>, email: string): Promise<UserRecord> {
  const user = await deps.store.findUserByEmail(normalizeEmail(email));
  if (!user) throw new CliError(`No user has the email ${normalizeEmail(email)}`);
  return user;
}

/**
 * `users:create`: the rules of POST /v1/auth/register (the same request schema, email
 * normalisation, password policy and argon2id hasher) and its `user_registered` event,
 * without the per-IP sign-up limit, which guards the public endpoint. Prints the user id.
 */
export async function createUserCommand(
  deps: CommandDeps,
  input: { email: string; password: string; displayName: string | null },
): Promise<UserRecord> {
  const body = RegisterBody.safeParse({
    email: input.email,
    password: input.password,
    name: input.displayName,
  });
  if (!body.success) {
    const problems = body.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new CliError(problems.join('\n'));
  }
  let created: UserRecord;
  try {
    created = await createAccount({ ...deps, passwordMinScore: deps.config.passwordMinScore }, body.data);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    throw new CliError(
      error.code === 'email_taken'
        ? `An account with the email ${normalizeEmail(body.data.email)} already exists`
        : error.description,
    );
  }
  deps.out(created.id);
  return created;
}

/**
 * `users:role`: grants or takes the admin role, with a `role_changed` event (`via: 'cli'`).
 * Only an operator with the database can make the first admin; the API never grants it.
 */
export async function setRoleCommand(
  deps: Pick<CommandDeps, 'store' | 'clock' | 'out'>,
  input: { email: string; role: UserRole },
): Promise<void> {
  const user = await userByEmail(deps, input.email);
  if (user.role === input.role) {
    deps.out(`${user.email} is already ${input.role}`);
    return;
  }
  if (!(await deps.store.setUserRole(user.id, input.role)))
    throw new CliError(`${user.email} no longer exists`);
  await deps.store.recordSecurityEvent({
    userId: user.id,
    type: 'role_changed',
    details: { from: user.role, to: input.role, via: 'cli' },
    at: deps.clock.now(),
  });
  deps.out(`${user.email} is now ${input.role}`);
}

/**
 * Client-supplied text (device name, user agent, location) goes to a terminal: control and
 * bidirectional-formatting characters are shown as U+FFFD rather than interpreted.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
const printable = (value: string) => value.replace(UNSAFE_CHARACTERS, '\ufffd');

const truncate = (value: string, max: number) =>
  [...value].length > max ? `${[...value].slice(0, max - 1).join('')}…` : value;

/** JSON.stringify leaves C1 controls and bidi overrides raw; escape them too (still the same JSON). */
const terminalSafeJson = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max([...header].length, ...rows.map((row) => [...(row[column] ?? '')].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell + ' '.repeat(widths[column]! - [...cell].length))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `sessions:list`: the user's live sessions, newest activity first, as a table or JSON. */
export async function listSessionsCommand(
  deps: Pick<CommandDeps, 'store' | 'clock' | 'out'>,
  input: { email: string; json: boolean },
): Promise<SessionView[]> {
  const user = await userByEmail(deps, input.email);
  const sessions = await deps.store.listSessions(user.id, deps.clock.now());
  if (input.json) {
    deps.out(
      terminalSafeJson({
        user_id: user.id,
        email: user.email,
        sessions: sessions.map((session) => sessionJson(session)),
      }),
    );
    return sessions;
  }
  if (sessions.length === 0) {
    deps.out(`${user.email} has no live sessions`);
    return sessions;
  }
  const text = (value: string | null, max = 40) => (value ? truncate(printable(value), max) : '-');
  deps.out(
    formatTable(
      ['ID', 'DEVICE', 'IP', 'USER AGENT', 'LOCATION', 'CREATED', 'LAST ACTIVE', 'EXPIRES', 'ACR'],
      sessions.map((session) => [
        session.id,
        text(session.deviceName, 30),
        text(session.ipAddress),
        text(session.userAgent, 50),
        text(session.location, 30),
        session.createdAt.toISOString(),
        session.lastActiveAt.toISOString(),
        session.expiresAt.toISOString(),
        session.acr,
      ]),
    ),
  );
  return sessions;
}

/**
 * `sessions:revoke`: every live session of the user (reason `revoke_all`, a
 * `sessions_revoked` event as POST /v1/sessions/revoke-all records), or with `sessionId`
 * just that one (a `session_revoked` event, as DELETE /v1/sessions/:id records). The events
 * carry `via: 'cli'`. Returns how many were revoked.
 */
export async function revokeSessionsCommand(
  deps: Pick<CommandDeps, 'store' | 'clock' | 'out'>,
  input: { email: string; sessionId?: string | undefined },
): Promise<number> {
  const user = await userByEmail(deps, input.email);
  const now = deps.clock.now();
  if (input.sessionId !== undefined) {
    const revoked = await deps.store.revokeSession({
      sessionId: input.sessionId,
      userId: user.id,
      now,
      // The store has no operator reason; this is the one DELETE /v1/sessions/:id uses.
      reason: 'revoked_by_user',
    });
    if (!revoked) throw new CliError(`${user.email} has no live session ${input.sessionId}`);
    await deps.store.recordSecurityEvent({
      userId: user.id,
      sessionId: input.sessionId,
      type: 'session_revoked',
      details: { via: 'cli' },
      at: now,
    });
    deps.out(`revoked 1 session of ${user.email} (${input.sessionId})`);
    return 1;
  }
  const revoked = await deps.store.revokeUserSessions({ userId: user.id, now, reason: 'revoke_all' });
  await deps.store.recordSecurityEvent({
    userId: user.id,
    sessionId: null,
    type: 'sessions_revoked',
    details: { revoked, via: 'cli' },
    at: now,
  });
  deps.out(`revoked ${revoked} session${revoked === 1 ? '' : 's'} of ${user.email}`);
  return revoked;
}

// ---------------------------------------------------------------------------------------
// config:show
// ---------------------------------------------------------------------------------------

export const MASK = '****';
const SET = '(set)';
const NOT_SET = '(not set)';

/** Keys whose string values are secrets wherever they appear (metricsToken, masterSecret…). */
const SECRET_KEY = /secret|passw|token|credential|private|api_?key|auth/i;
/** Query parameters of a connection URL that carry secrets (postgres.js takes `?password=`). */
const SECRET_PARAM = /pass|secret|token|key/i;
/** Secrets shorter than this are not searched for in the output: they would match ordinary text. */
const MIN_SCRUB_LENGTH = 8;

/** A connection URL with its password (and any secret-looking query parameter) masked. */
export function maskUrl(value: string): { masked: string; secrets: string[] } {
  const secrets: string[] = [];
  try {
    const url = new URL(value);
    if (url.password) {
      secrets.push(url.password, decodeURIComponent(url.password));
      // A user name equal to the password would give it away.
      if (url.username === url.password) url.username = MASK;
      url.password = MASK;
    }
    for (const [name, param] of [...url.searchParams]) {
      if (SECRET_PARAM.test(name) && param) {
        secrets.push(param);
        url.searchParams.set(name, MASK);
      }
    }
    return { masked: secrets.length > 0 ? url.toString() : value, secrets };
  } catch {
    // Not a URL the WHATWG parser reads (a multi-host PostgreSQL URL, say): mask by hand.
    const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@(.*)$/is.exec(value);
    if (!match) return { masked: value, secrets };
    const [, scheme, userinfo = '', rest] = match;
    const colon = userinfo.indexOf(':');
    if (colon < 0) return { masked: value, secrets };
    secrets.push(userinfo.slice(colon + 1));
    return { masked: `${scheme}${userinfo.slice(0, colon)}:${MASK}@${rest}`, secrets };
  }
}

const looksLikeUrlWithCredentials = (value: string) => /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value);

/**
 * The configuration with every secret masked: MASTER_SECRET and METRICS_TOKEN become
 * "(set)" / "(not set)", the password of DATABASE_URL (and of any URL with credentials)
 * becomes ****, introspection clients keep their ids, and any other string under a
 * secret-looking key is masked too. Unset values show as null.
 */
export function maskConfig(config: Config): { masked: unknown; secrets: string[] } {
  const secrets: string[] = [];
  const walk = (value: unknown, key: string): unknown => {
    if (value === undefined || value === null) return SECRET_KEY.test(key) ? NOT_SET : null;
    if (typeof value === 'string') {
      if (SECRET_KEY.test(key)) {
        secrets.push(value);
        return key === 'secret' ? MASK : SET;
      }
      if (looksLikeUrlWithCredentials(value)) {
        const url = maskUrl(value);
        secrets.push(...url.secrets);
        return url.masked;
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((item) => walk(item, key));
    if (typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, walk(item, name)]));
    }
    return value;
  };
  return { masked: walk(config, ''), secrets };
}

/** `config:show`: the effective configuration as JSON, secrets masked. */
export function showConfigCommand(deps: { config: Config; out: Writer }): string {
  const { masked, secrets } = maskConfig(deps.config);
  let text = JSON.stringify(masked, null, 2);
  // Belt and braces: a secret that also turns up in some other value is masked there too.
  for (const secret of secrets) {
    if (secret.length < MIN_SCRUB_LENGTH) continue;
    for (const form of [secret, JSON.stringify(secret).slice(1, -1)]) text = text.split(form).join(MASK);
  }
  deps.out(text);
  return text;
}
