import { createHash } from 'node:crypto';
import postgres from 'postgres';

/**
 * HTTP calls and the database audit the fault tests share. Every request carries a 15 s
 * AbortSignal.timeout: a request that hits it is a hang, reported as such, never retried.
 */

export const REQUEST_TIMEOUT_MS = 15_000;
export const PASSWORD = 'correct horse battery staple';

export type Outcome =
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  | { kind: 'response'; status: number; json: any; text: string }
  | { kind: 'network'; message: string }
  | { kind: 'timeout'; message: string };

export interface Call {
  label: string;
  outcome: Outcome;
}

/** A body's JSON, or undefined when it is empty or not JSON. */
export function jsonOf(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** One request; a network failure or a timeout is an outcome, not an exception. */
export async function send(
  base: string,
  path: string,
  options: { body?: unknown; token?: string; method?: 'DELETE' | 'PATCH' } = {},
): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  try {
    const response = await fetch(`${base}${path}`, {
      method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // Reading the body can fail too (the server died mid-response): that is a lost response.
    const text = await response.text();
    return { kind: 'response', status: response.status, json: jsonOf(text), text };
  } catch (error) {
    const err = error as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError') return { kind: 'timeout', message: `${path}: ${err.message}` };
    const cause = err.cause ? ` (${err.cause.code ?? ''} ${err.cause.message ?? ''})` : '';
    return { kind: 'network', message: `${path}: ${err.message}${cause}` };
  }
}

export const show = (outcome: Outcome): string =>
  outcome.kind === 'response'
    ? `${outcome.status} ${outcome.text.slice(0, 300)}`
    : `${outcome.kind}: ${outcome.message}`;

/** A response with the expected status, or an exception that says what came instead. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
export async function expectStatus(base: string, path: string, status: number, body?: unknown): Promise<any> {
  const outcome = await send(base, path, body === undefined ? {} : { body });
  if (outcome.kind !== 'response' || outcome.status !== status) {
    throw new Error(`${path}: expected ${status}, got ${show(outcome)}`);
  }
  return outcome.json;
}

/** A logged-in device: the session, its latest tokens, and the refresh token it last sent. */
export interface SessionClient {
  email: string;
  sessionId: string;
  /** The latest refresh token this client received. */
  token: string;
  access: string;
  /** The refresh token of its last refresh request, whose answer may have been lost. */
  lastSent: string | undefined;
  /** Whether the last refresh request got its 200 (so `token` is that request's successor). */
  lastSentAnswered: boolean;
  /** When the client last got a 200 to a refresh (for diagnostics about the grace window). */
  answeredAt?: number;
}

let emailCounter = 0;

/** Registers `users` users and logs each in `loginsPerUser` times (one session per login). */
export async function makeSessions(
  base: string,
  users: number,
  loginsPerUser: number,
  label: string,
): Promise<SessionClient[]> {
  const clients: SessionClient[] = [];
  for (let u = 0; u < users; u++) {
    const email = `${label}-${process.pid}-${Date.now()}-${emailCounter++}@example.com`;
    await expectStatus(base, '/v1/auth/register', 201, { email, password: PASSWORD });
    for (let l = 0; l < loginsPerUser; l++) {
      const pair = await expectStatus(base, '/v1/auth/login', 200, {
        email,
        password: PASSWORD,
        device_name: `${label} device ${l}`,
      });
      clients.push({
        email,
        sessionId: pair.session_id,
        token: pair.refresh_token,
        access: pair.access_token,
        lastSent: undefined,
        lastSentAnswered: false,
      });
    }
  }
  return clients;
}

/** How refresh tokens are stored (src/services/refresh-tokens.ts): base64url SHA-256. */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('base64url');

/**
 * Straight on PostgreSQL: every session of `clients` has exactly one live refresh token (not
 * rotated, not revoked, not expired), no row of it was revoked, and the live one is the
 * token the client holds. Returns the problems found (empty when all is well).
 */
export async function audit(databaseUrl: string, clients: SessionClient[]): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const ids = clients.map((client) => client.sessionId);
    const rows = await sql<
      {
        session_id: string;
        token_hash: string;
        live: boolean;
        revoked: boolean;
        revoked_reason: string | null;
      }[]
    >`
      SELECT session_id, token_hash,
             (rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()) AS live,
             (revoked_at IS NOT NULL) AS revoked,
             revoked_reason
        FROM refresh_tokens
       WHERE session_id IN ${sql(ids)}`;
    const problems: string[] = [];
    for (const client of clients) {
      const own = rows.filter((row) => row.session_id === client.sessionId);
      const live = own.filter((row) => row.live);
      const revoked = own.filter((row) => row.revoked);
      if (own.length === 0) problems.push(`session ${client.sessionId}: no refresh token rows at all`);
      if (live.length !== 1) {
        problems.push(`session ${client.sessionId}: ${live.length} live refresh tokens (expected exactly 1)`);
      }
      if (revoked.length > 0) {
        const reasons = [...new Set(revoked.map((row) => row.revoked_reason))].join(', ');
        problems.push(`session ${client.sessionId}: ${revoked.length} revoked rows (reason: ${reasons})`);
      }
      if (live.length === 1 && live[0]!.token_hash !== tokenHash(client.token)) {
        problems.push(`session ${client.sessionId}: the live refresh token is not the one the client holds`);
      }
    }
    return problems;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Whether the refresh token with this hash has been rotated (the server used it). */
export async function rotatedTokens(databaseUrl: string, tokens: string[]): Promise<Set<string>> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const hashes = tokens.map(tokenHash);
    const rows = await sql<{ token_hash: string }[]>`
      SELECT token_hash FROM refresh_tokens
       WHERE token_hash IN ${sql(hashes)} AND rotated_at IS NOT NULL`;
    const rotated = new Set(rows.map((row) => row.token_hash));
    return new Set(tokens.filter((token) => rotated.has(tokenHash(token))));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * A condition the request loops re-check (`check()`) after each answer: `wait(timeoutMs)`
 * resolves once `ready()` is true and rejects after `timeoutMs`. Events, not sleeps.
 */
export function condition(ready: () => boolean, what: string) {
  let waiter: { resolve: () => void; timer: NodeJS.Timeout } | undefined;
  const check = () => {
    if (!waiter || !ready()) return;
    clearTimeout(waiter.timer);
    waiter.resolve();
    waiter = undefined;
  };
  const wait = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      waiter = { resolve, timer };
      check();
    });
  const cancel = () => {
    if (waiter) clearTimeout(waiter.timer);
    waiter = undefined;
  };
  return { check, wait, cancel };
}
