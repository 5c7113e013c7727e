import type { createDrizzleRateLimiter } from '../../../src/adapters/db/drizzle-rate-limiter.js';
import type { createDrizzleStore } from '../../../src/adapters/db/drizzle-store.js';

/**
 * What the store contract drives. The suite names store methods only (`rotateRefreshToken`,
 * `openSession`, …), never a port type or a table: when the Store is split into
 * purpose-named ports, only the entry file that builds these subjects changes.
 */
export type ContractStore = ReturnType<typeof createDrizzleStore>;
export type ContractRateLimiter = ReturnType<typeof createDrizzleRateLimiter>;

export interface ContractSubjects {
  store: ContractStore;
  rateLimiter: ContractRateLimiter;
  /** How many calls to send at once: above the pool's connections would only queue. */
  parallel: number;
}

/** The subjects exist once the database is open (in `beforeAll`): a contract asks for them per test. */
export type OpenSubjects = () => ContractSubjects;

export type NewSession = Parameters<ContractStore['openSession']>[0];
export type StoredRow = Awaited<ReturnType<ContractStore['findRefreshTokens']>>[number];
type User = Exclude<Awaited<ReturnType<ContractStore['createUser']>>, 'email_taken'>;

const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;
export const CLIENT_ID = 'contract-client';
export const REFRESH_TTL_MS = 14 * DAY;
export const SESSION_TTL_MS = 30 * DAY;
export const PASSWORD_HASH = '$argon2id$v=19$m=1024,t=1,p=1$contract$first';

/** Every test runs at its own moment, far apart, so no row of another test is ever live at it. */
let testCounter = 0;
export const testMoment = () => new Date(Date.UTC(2031, 0, 1) + testCounter++ * 400 * DAY);

export const later = (at: Date, ms: number) => new Date(at.getTime() + ms);
export const minutes = (n: number) => n * MINUTE;

/** A stored token hash: any unique text will do for the store. */
export const newTokenHash = () => `contract-${crypto.randomUUID()}`;

/** N calls started together (on PostgreSQL they run on N pool connections at once). */
export const all = <T>(n: number, make: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => make(i)));

export const tally = <T extends string | number | boolean | undefined>(values: T[]) => {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
};

export const isLive = (row: StoredRow) => row.rotatedAt === null && row.revokedAt === null;

let emailCounter = 0;
export async function createUser(
  store: ContractStore,
  now: Date,
  passwordHash = PASSWORD_HASH,
): Promise<User> {
  const user = await store.createUser({
    id: crypto.randomUUID(),
    email: `contract-${process.pid}-${Date.now().toString(36)}-${emailCounter++}@example.com`,
    name: null,
    passwordHash,
    now,
  });
  if (user === 'email_taken') throw new Error('a fresh email was taken');
  return user;
}

/** A session as a login builds it (auth-service `newSession`): a new id and its first token. */
export function newSession(userId: string, now: Date, overrides: Partial<NewSession> = {}): NewSession {
  const sessionExpiresAt = later(now, SESSION_TTL_MS);
  return {
    sessionId: crypto.randomUUID(),
    userId,
    clientId: CLIENT_ID,
    acr: 'aal1',
    amr: ['pwd'],
    authTime: now,
    remembered: false,
    ipAddress: '203.0.113.7',
    userAgent: 'ContractSuite/1.0 (first device)',
    location: 'Lyon, FR',
    tokenHash: newTokenHash(),
    deviceName: 'laptop',
    createdAt: now,
    sessionExpiresAt,
    tokenExpiresAt: later(now, REFRESH_TTL_MS),
    ...overrides,
  };
}

/** Opens a session that must open (no limit in the way). */
export async function openSession(
  store: ContractStore,
  user: { id: string; passwordHash: string },
  now: Date,
  overrides: Partial<NewSession> = {},
): Promise<NewSession> {
  const session = newSession(user.id, now, overrides);
  const opened = await store.openSession(session, {
    maxSessions: 1000,
    verifiedPasswordHash: user.passwordHash,
    onLimit: 'evict',
  });
  if (typeof opened === 'string') throw new Error(`openSession: ${opened}`);
  return session;
}

export const device = (ipAddress: string | null, userAgent: string | null = null) => ({
  ipAddress,
  userAgent,
  location: null,
});

/** One refresh: presents `presentedHash`, offering a fresh successor hash. */
export async function rotate(store: ContractStore, presentedHash: string, now: Date) {
  const successorHash = newTokenHash();
  const grant = await store.rotateRefreshToken({
    presentedHash,
    successorHash,
    clientId: CLIENT_ID,
    now,
    notAfter: later(now, REFRESH_TTL_MS),
    device: device('198.51.100.20', 'ContractSuite/1.0 (refreshing)'),
  });
  return { successorHash, grant };
}

/**
 * A client refreshing as fast as it can: rotates its token again and again until the store
 * refuses (or `limit` rotations), calling `onRotation(k)` after the k-th. Returns every
 * hash it offered, the last live one it holds, and whether it was refused.
 */
export async function refreshUntilRefused(
  store: ContractStore,
  firstHash: string,
  now: Date,
  options: { limit: number; onRotation?: (count: number) => void },
) {
  const offered: string[] = [];
  let held = firstHash;
  for (let count = 1; count <= options.limit; count++) {
    const { successorHash, grant } = await rotate(store, held, now);
    offered.push(successorHash);
    if (!grant) return { offered, held, refused: true, rotations: count - 1 };
    held = successorHash;
    options.onRotation?.(count);
  }
  return { offered, held, refused: false, rotations: options.limit };
}

/** A promise and its resolve, to start one racer once another is under way. */
export function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
