import { createHash, randomBytes } from 'node:crypto';
import { fillPlaceholders } from 'drizzle-orm';
import postgres from 'postgres';
import type { Database } from '../src/adapters/db/database.js';
import { createDrizzleStore } from '../src/adapters/db/drizzle-store.js';
import type { DeviceInfo } from '../src/ports/store.js';
import { rotationParams } from './rotation-params.mjs';

/**
 * The bare-SQL side of the refresh benchmark: the very statement a refresh sends in the
 * common case (the rotation CTE of src/adapters/db/token-rows.ts, `replaceLiveToken`, as
 * the store's `rotateRefreshToken` builds it), sent straight through postgres.js by `clients`
 * concurrent loops on a pool of as many connections, each loop running its own chain of
 * rotations on one real session (rows made by the server's own login).
 *
 * The text and parameters are not copied by hand: the store's `rotateRefreshToken` is run
 * once against a capturing drizzle session, which receives the statement's SQL text and its
 * values, so the baseline follows src/ if the statement changes. Per call only the values change (presented
 * hash, successor hash, new row id, now).
 */

const PRESENTED = '__bench_presented__';
const SUCCESSOR = '__bench_successor__';

export interface RotationStatement {
  text: string;
  /** Builds the parameters of one rotation. */
  params(presentedHash: string, successorHash: string, now: Date): unknown[];
  /** The same, as data for another process (bench/prototype.mjs builds the parameters from it). */
  template: RotationTemplate;
}

/** Each parameter's slot: a fixed value, or one filled per rotation. */
export interface RotationTemplate {
  text: string;
  values: unknown[];
  slots: ('presented' | 'successor' | 'now' | 'notAfter' | 'id' | 'fixed')[];
  refreshTokenTtlMs: number;
}

export async function captureRotationStatement(input: {
  clientId: string;
  refreshTokenTtlMs: number;
  device: DeviceInfo;
}): Promise<RotationStatement> {
  // The store prepares the statement once on the drizzle session (token-rows.ts,
  // `preparedRotation`) and runs it with values: both are captured here.
  let captured: { sql: string; params: unknown[] } | undefined;
  const capturing = {
    _: {
      session: {
        prepareQuery: (query: { sql: string; params: unknown[] }) => ({
          execute: async (values: Record<string, unknown>) => {
            captured = { sql: query.sql, params: fillPlaceholders(query.params, values) };
            return [];
          },
        }),
      },
    },
  } as unknown as Database;
  const at = new Date('2001-02-03T04:05:06.789Z');
  await createDrizzleStore(capturing).rotateRefreshToken({
    presentedHash: PRESENTED,
    successorHash: SUCCESSOR,
    clientId: input.clientId,
    now: at,
    notAfter: new Date(at.getTime() + input.refreshTokenTtlMs),
    device: input.device,
    dpopJkt: null,
  });
  if (!captured) throw new Error('rotateRefreshToken sent no statement');
  const { sql: text, params } = captured;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const atIso = at.toISOString();
  const notAfterIso = new Date(at.getTime() + input.refreshTokenTtlMs).toISOString();
  const slots: RotationTemplate['slots'] = params.map((value) =>
    value === PRESENTED
      ? 'presented'
      : value === SUCCESSOR
        ? 'successor'
        : value === atIso
          ? 'now'
          : value === notAfterIso
            ? 'notAfter'
            : typeof value === 'string' && uuid.test(value)
              ? 'id'
              : 'fixed',
  );
  for (const needed of ['presented', 'successor', 'now', 'notAfter', 'id']) {
    if (!slots.includes(needed as never))
      throw new Error(`the rotation statement has no ${needed} parameter`);
  }
  const template: RotationTemplate = {
    text,
    values: params,
    slots,
    refreshTokenTtlMs: input.refreshTokenTtlMs,
  };
  return {
    text,
    template,
    params: (presentedHash, successorHash, now) =>
      rotationParams(template, presentedHash, successorHash, now),
  };
}

/** SHA-256, base64url: the stored form of a refresh token (services/refresh-tokens.ts). */
const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');
const newTokenHash = () => tokenHash(`lkr_${randomBytes(32).toString('base64url')}`);

export interface SqlLoadResult {
  clients: number;
  prepared: boolean;
  seconds: number;
  statements: number;
  perSecond: number;
  brokenChains: number;
  latencyMs: { p50: number; p99: number };
  /** CPU-seconds per second during the measured part: PostgreSQL's, and this (client) process's. */
  cpuPerSecond?: { postgres: number; client: number };
}

/**
 * `clients` loops, one per session (its current refresh token given in clear), each sending
 * the rotation statement again as soon as the previous one answered, for `seconds` after
 * `warmupSeconds`. `prepared`: postgres.js's default (a named prepared statement per
 * connection: one round trip once prepared); false is what drizzle's `execute` does by default (unnamed:
 * Parse/Describe/Flush, then Bind/Execute/Sync, two round trips).
 */
export async function runSqlRotations(input: {
  url: string;
  statement: RotationStatement;
  refreshTokens: string[];
  seconds: number;
  warmupSeconds: number;
  prepared: boolean;
  /** PostgreSQL's CPU-seconds so far (cpu.ts), read at the start and the end of the measured part. */
  postgresCpuSeconds?: () => Promise<number>;
}): Promise<SqlLoadResult> {
  const clients = input.refreshTokens.length;
  const sql = postgres(input.url, { max: clients, onnotice: () => {}, prepare: true });
  try {
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: clients }, () => sql.reserve().then((r) => r.release())));
    let measuring = false;
    let stop = false;
    let statements = 0;
    let broken = 0;
    const times: number[] = [];
    const loop = async (refreshToken: string) => {
      let presented = tokenHash(refreshToken);
      while (!stop) {
        const successor = newTokenHash();
        const started = performance.now();
        const rows = await sql.unsafe(
          input.statement.text,
          input.statement.params(presented, successor, new Date()) as never[],
          { prepare: input.prepared },
        );
        if (rows.length !== 1) {
          broken++;
          return;
        }
        if (measuring) {
          statements++;
          times.push(performance.now() - started);
        }
        presented = successor;
      }
    };
    const loops = input.refreshTokens.map(loop);
    await new Promise((resolve) => setTimeout(resolve, input.warmupSeconds * 1000));
    const pgBefore = await input.postgresCpuSeconds?.();
    const clientBefore = process.cpuUsage();
    measuring = true;
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, input.seconds * 1000));
    measuring = false;
    const elapsed = (performance.now() - start) / 1000;
    const client = process.cpuUsage(clientBefore);
    const pgAfter = await input.postgresCpuSeconds?.();
    stop = true;
    await Promise.all(loops);
    times.sort((a, b) => a - b);
    const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((times.length * p) / 100))] ?? NaN;
    return {
      clients,
      prepared: input.prepared,
      seconds: elapsed,
      statements,
      perSecond: statements / elapsed,
      brokenChains: broken,
      latencyMs: { p50: pct(50), p99: pct(99) },
      ...(pgBefore !== undefined && pgAfter !== undefined
        ? {
            cpuPerSecond: {
              postgres: (pgAfter - pgBefore) / elapsed,
              client: (client.user + client.system) / 1e6 / elapsed,
            },
          }
        : {}),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
