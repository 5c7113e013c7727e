import { closest, distance } from 'fastest-levenshtein';
import { z } from 'zod';
import { type BrandConfig, BrandEnvSchema, brandConfig, brandCrossChecks } from './config/brand.js';
import { integer, list, seconds } from './config/fields.js';
import { type MailConfig, MailEnvSchema, mailConfig, mailCrossChecks } from './config/mail.js';
import {
  type WebAuthnConfig,
  WebAuthnEnvSchema,
  webauthnConfig,
  webauthnCrossChecks,
} from './config/webauthn.js';
import {
  type WebhookConfig,
  WebhookEnvSchema,
  webhookConfig,
  webhookCrossChecks,
} from './config/webhooks.js';
import { DPOP_POLICIES, type DpopPolicy } from './domain/dpop-policy.js';
import type { SessionLimitPolicy } from './domain/session-policy.js';
import { isLoopbackHost } from './lib/hosts.js';
import { trimEnd } from './lib/text.js';

/**
 * Configuration comes from the environment only through `parseConfig`, which checks every
 * variable at once and reports each bad one on its own line, so a misconfigured deploy
 * fails at start with a message that says what to fix.
 */

const headerName = /^[A-Za-z0-9-]+$/;

/** WORKERS and `serve --workers`: `auto`, or 1 to 256 processes. */
export function isWorkersValue(value: string): boolean {
  return value === 'auto' || (/^[1-9][0-9]{0,2}$/.test(value) && Number(value) <= 256);
}

/** Every variable Latchkey reads (`.env.example` is generated from it: `npm run env:example`). */
export const EnvSchema = z.object({
  ...MailEnvSchema,
  ...WebhookEnvSchema,
  ...BrandEnvSchema,
  ...WebAuthnEnvSchema,
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: integer(3000, 1, 65535),
  HOST: z.string().min(1).optional(),
  /** `latchkey serve --workers`: server processes sharing PORT (node:cluster); `auto` is one per core. */
  WORKERS: z.string().refine(isWorkersValue, 'must be auto or a whole number from 1 to 256').default('1'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /**
   * Few connections, each carrying many statements: postgres.js pipelines a connection's
   * statements and sends them in one write. 4 against 10 on PostgreSQL (npm run bench, 2 vCPU):
   * about 1.3x the refreshes a second, less CPU a refresh on both sides (BENCHMARKS.md).
   */
  DATABASE_POOL_MAX: integer(4, 1, 1000),
  DATABASE_PREPARE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  DATABASE_CONNECT_TIMEOUT: integer(5, 1, 120),
  MIGRATE_ON_START: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  DATA_DIR: z.string().min(1).default('./.data'),
  PGLITE_OPTIMIZE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  ISSUER: z.url('must be an absolute URL').optional(),
  AUDIENCE: z.string().min(1).optional(),
  MASTER_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (try: openssl rand -base64 48)')
    .optional(),
  SIGNING_ALG: z.enum(['EdDSA', 'ES256']).default('EdDSA'),
  KEY_PREPUBLICATION: seconds(3600, 0),
  INTROSPECTION_CLIENTS: list,
  METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters (try: openssl rand -hex 32)').optional(),
  ACCESS_TOKEN_TTL: seconds(900, 60),
  REFRESH_TOKEN_TTL: seconds(30 * 24 * 3600, 60),
  SESSION_TTL: seconds(24 * 3600, 60),
  SESSION_REMEMBER_TTL: seconds(90 * 24 * 3600, 60),
  REFRESH_REUSE_GRACE: seconds(10, 0),
  SESSION_BINDING: z.enum(['off', 'warn', 'strict']).default('off'),
  SESSION_BINDING_IPV4_PREFIX: integer(24, 0, 32),
  SESSION_BINDING_IPV6_PREFIX: integer(48, 0, 128),
  MAX_SESSIONS_PER_USER: integer(15, 1, 1000),
  SESSION_LIMIT_POLICY: z.enum(['evict', 'reject']).default('evict'),
  /** RFC 9449 DPoP at the token endpoints, for clients not named in DPOP_CLIENTS. */
  DPOP_POLICY: z.enum(DPOP_POLICIES).default('optional'),
  /** Per client: `client_id:required`, `client_id:off`, comma-separated. */
  DPOP_CLIENTS: list,
  /** RFC 9449 §8: proofs must carry a nonce this server handed out (DPoP-Nonce), 5 minutes each. */
  DPOP_NONCE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  ARGON2_MEMORY_KIB: integer(19456, 1024, 4 * 1024 * 1024),
  ARGON2_TIME_COST: integer(2, 1, 100),
  ARGON2_PARALLELISM: integer(1, 1, 16),
  /** Password hashes at once on Node (0: one per CPU, at most libuv's pool, two unless sized); see docs/configuration.md. */
  PASSWORD_HASH_CONCURRENCY: integer(0, 0, 256),
  /** Node on Linux: the niceness of the threads that hash passwords (0: the event loop's own); read by the entries, src/entry/thread-pool.ts. */
  PASSWORD_HASH_NICENESS: integer(19, 0, 19),
  /** Node: how far V8's heap may grow past what survived its last full collection (0: V8's own rule). */
  HEAP_GROWTH_PERCENT: integer(50, 0, 400),
  /** Node: seconds without a request before the server has V8 give its spare heap back (0: never). */
  IDLE_MEMORY_RELEASE: seconds(10, 0),
  /** Node: seconds a stopping server goes on serving (Connection: close, /health 503) before it stops listening. */
  SHUTDOWN_DELAY: integer(1, 0, 300),
  ALLOWED_ORIGINS: list,
  TRUSTED_IP_HEADER: z
    .string()
    .regex(headerName, 'must be a header name such as cf-connecting-ip or x-forwarded-for')
    .optional(),
  LOCATION_HEADERS: list,
  COUNTRY_HEADER: z.string().regex(headerName, 'must be a header name such as cf-ipcountry').optional(),
  PASSWORD_MIN_SCORE: integer(3, 0, 4),
  LOGIN_FAILURES_PER_ACCOUNT: integer(10, 1, 10_000),
  LOGIN_FAILURES_PER_IP: integer(100, 1, 1_000_000),
  LOGIN_FAILURE_WINDOW: seconds(900, 1),
  /** Wrong passwords per account from networks it never logged in from, per LOGIN_ACCOUNT_WINDOW. */
  LOGIN_FAILURES_PER_ACCOUNT_ANYWHERE: integer(50, 1, 1_000_000),
  LOGIN_ACCOUNT_WINDOW: seconds(3600, 1),
  /** Counters key IPv4 clients by this prefix and IPv6 clients by theirs (one customer's /64). */
  RATE_LIMIT_IPV4_PREFIX: integer(32, 8, 32),
  RATE_LIMIT_IPV6_PREFIX: integer(64, 16, 128),
  REGISTRATIONS_PER_IP: integer(20, 1, 1_000_000),
  REFRESH_FAILURES_PER_IP: integer(100, 1, 1_000_000),
  CLEANUP_INTERVAL: seconds(300, 0),
  CLEANUP_BATCH_SIZE: integer(500, 1, 100_000),
  SECURITY_EVENT_RETENTION: seconds(90 * 24 * 3600, 3600),
  REVOKED_SESSION_RETENTION: seconds(7 * 24 * 3600, 3600),
  /** Authenticator apps show it next to the account; BRAND_NAME when not set (src/config/brand.ts). */
  TOTP_ISSUER: z.string().min(1).max(100).optional(),
  MFA_FAILURES_PER_USER: integer(10, 1, 10_000),
  MFA_FAILURE_WINDOW: seconds(900, 1),
  /**
   * `__Secure-`, so that no http:// response can set it (RFC 6265bis §4.1.3.1); not `__Host-`,
   * which needs `Path=/` while the cookie is scoped to /v1/auth (API.md, Cookie delivery).
   */
  REFRESH_COOKIE_NAME: z
    .string()
    .regex(/^__Secure-[A-Za-z0-9_-]+$/, 'must be __Secure- then letters, digits, _ and - (e.g. __Secure-rt)')
    .default('__Secure-latchkey_refresh'),
});

export type SigningAlgorithm = 'EdDSA' | 'ES256';

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  /**
   * Server processes on this machine (WORKERS, `serve --workers`): 1 is one process as ever;
   * `auto` is one per core, resolved by the Node entry (src/entry/cluster.ts).
   */
  workers: number | 'auto';
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  databaseUrl: string | undefined;
  databasePoolMax: number;
  /** PostgreSQL: named prepared statements (off for PgBouncer in transaction mode before 1.21). */
  databasePrepare: boolean;
  /** Seconds to wait for a PostgreSQL connection before the request fails with 503. */
  databaseConnectTimeoutSeconds: number;
  migrateOnStart: boolean;
  /** PGlite's WebAssembly also optimised by V8 (faster statements, ~80 MiB more); see openPglite. */
  pgliteOptimize: boolean;
  dataDir: string;
  issuer: string;
  audience: string;
  /** Absent only in development, where the entry point keeps a generated one in DATA_DIR. */
  masterSecret: string | undefined;
  signingAlg: SigningAlgorithm;
  /** How long `keys:rotate` publishes a new key in the JWKS before it signs anything. */
  keyPrepublicationSeconds: number;
  /** Resource servers allowed to call /oauth/introspect (client_secret_basic or _post). */
  introspectionClients: { id: string; secret: string }[];
  /** Bearer token for GET /metrics; without it the endpoint answers 404. */
  metricsToken: string | undefined;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  sessionTtlSeconds: number;
  sessionRememberTtlSeconds: number;
  refreshReuseGraceSeconds: number;
  /** Refreshes compared with the session's network and browser family (see domain/session-binding.ts). */
  sessionBinding: { mode: 'off' | 'warn' | 'strict'; ipv4Prefix: number; ipv6Prefix: number };
  maxSessionsPerUser: number;
  /** At the limit: revoke the least recently active session, or answer 409 and let the user choose. */
  sessionLimitPolicy: SessionLimitPolicy;
  /** RFC 9449: DPoP per client (`clients`), and for the others (`policy`). */
  dpop: { policy: DpopPolicy; clients: Record<string, DpopPolicy>; nonce: boolean };
  argon2: { memoryKib: number; timeCost: number; parallelism: number };
  /** Node: password hashes run at once at most (0: automatic); the rest wait their turn. */
  passwordHashConcurrency: number;
  /** V8's `--heap-growing-percent` for the Node server (0: V8's own growth); see applyHeapGrowth. */
  heapGrowthPercent: number;
  /** Node: seconds without a request before one full collection gives memory back (0: never); see entry/idle-memory.ts. */
  idleMemoryReleaseSeconds: number;
  /** Node: seconds between SIGTERM and closing the listener, serving meanwhile; see entry/node-server.ts. */
  shutdownDelaySeconds: number;
  allowedOrigins: string[];
  trustedIpHeader: string | undefined;
  locationHeaders: string[];
  /** A trusted edge's ISO 3166-1 country header, for the admin analytics' logins by country. */
  countryHeader: string | undefined;
  refreshCookieName: string;
  /** Sign-ups per IP per hour, and failed refreshes per IP per 15 minutes, before 429. */
  registrationsPerIpPerHour: number;
  refreshFailuresPerIp: number;
  /** Cleanup of expired rows: every `intervalSeconds` (0: never), `batchSize` rows a statement. */
  cleanup: {
    intervalSeconds: number;
    batchSize: number;
    eventRetentionSeconds: number;
    /** Token rows of revoked sessions are kept this long (well past the revoked-sessions feed's window). */
    revokedSessionRetentionSeconds: number;
  };
  /** zxcvbn score (0-4) a new password needs; 0 turns the check off. */
  passwordMinScore: number;
  /**
   * Wrong passwords per account from one network and per network, per window, before 429;
   * and per account from networks it never logged in from (`anywhere`, its own window).
   */
  loginFailureLimit: {
    perAccount: number;
    perIp: number;
    windowSeconds: number;
    anywhere: number;
    anywhereWindowSeconds: number;
  };
  /** How client addresses are grouped into one counter (IPv4 /32 and IPv6 /64 by default). */
  rateLimitPrefixes: { ipv4Prefix: number; ipv6Prefix: number };
  /** The issuer name authenticator apps show next to the account. */
  totpIssuer: string;
  /** Wrong MFA codes, step-up passwords and current passwords of a password change, per user per window, before 429. */
  mfaFailureLimit: { points: number; windowSeconds: number };
  /** Email: transport, links, token lifetimes, the dispatcher (src/config/mail.ts). */
  mail: MailConfig;
  /** Webhooks: targets, timeouts, retries, disabling (src/config/webhooks.ts). */
  webhooks: WebhookConfig;
  /** The product's name, logo, colour and links on the account pages and in mails (src/config/brand.ts). */
  brand: BrandConfig;
  /** Passkeys: the RP ID and the origins ceremonies may come from (src/config/webauthn.ts). */
  webauthn: WebAuthnConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Rules across variables, read from the raw strings so that they are reported together
 * with the per-variable problems rather than only once those are fixed.
 */
/** The host of ISSUER as configured, or undefined when it does not parse (the schema says so). */
function issuerHostOf(raw: Record<string, string>): string | undefined {
  try {
    return new URL(trimEnd(raw.ISSUER ?? `http://localhost:${raw.PORT ?? '3000'}`, '/')).hostname;
  } catch {
    return undefined;
  }
}

function crossChecks(raw: Record<string, string>): string[] {
  const problems: string[] = [];
  const port = raw.PORT ?? '3000';
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(trimEnd(raw.ISSUER ?? `http://localhost:${port}`, '/'));
    if (issuerUrl.search || issuerUrl.hash) problems.push('ISSUER: must not have a query or fragment');
  } catch {
    // reported by the schema
  }

  const origins = (raw.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin === '*') {
      problems.push('ALLOWED_ORIGINS: "*" is not allowed; list the exact origins of your apps');
      continue;
    }
    try {
      if (new URL(origin).origin !== origin) throw new Error('not an origin');
    } catch {
      problems.push(`ALLOWED_ORIGINS: "${origin}" is not an origin like https://app.example.com`);
    }
  }

  const clientIds = new Set<string>();
  for (const item of (raw.INTROSPECTION_CLIENTS ?? '').split(',').map((entry) => entry.trim())) {
    if (!item) continue;
    const colon = item.indexOf(':');
    const id = colon > 0 ? item.slice(0, colon) : '';
    if (!/^[A-Za-z0-9._~-]+$/.test(id)) {
      problems.push(
        'INTROSPECTION_CLIENTS: each entry is client_id:secret (client_id of letters, digits, . _ ~ -)',
      );
    } else if (item.length - colon - 1 < 32) {
      problems.push(
        `INTROSPECTION_CLIENTS: the secret of "${id}" must be at least 32 characters (try: openssl rand -hex 32)`,
      );
    } else if (clientIds.has(id)) {
      problems.push(`INTROSPECTION_CLIENTS: "${id}" is listed twice`);
    }
    clientIds.add(id);
  }

  const dpopClients = new Set<string>();
  for (const item of (raw.DPOP_CLIENTS ?? '').split(',').map((entry) => entry.trim())) {
    if (!item) continue;
    const colon = item.lastIndexOf(':');
    const id = item.slice(0, Math.max(colon, 0));
    const policy = item.slice(colon + 1);
    if (colon <= 0 || !(DPOP_POLICIES as readonly string[]).includes(policy)) {
      problems.push(`DPOP_CLIENTS: each entry is client_id:${DPOP_POLICIES.join('|')}, not "${item}"`);
    } else if (dpopClients.has(id)) {
      problems.push(`DPOP_CLIENTS: "${id}" is listed twice`);
    }
    dpopClients.add(id);
  }

  const sessionTtl = Number(raw.SESSION_TTL ?? 86400);
  const rememberTtl = Number(raw.SESSION_REMEMBER_TTL ?? 7776000);
  if (rememberTtl < sessionTtl) problems.push('SESSION_REMEMBER_TTL: must not be shorter than SESSION_TTL');

  if (raw.NODE_ENV === 'production') {
    // OWASP ASVS V14.1: production must not run on development-only defaults.
    if (!raw.MASTER_SECRET) {
      problems.push('MASTER_SECRET: required in production (it encrypts signing keys at rest)');
    }
    if (!raw.ISSUER) {
      problems.push('ISSUER: must be set in production (the public URL of this server)');
    } else if (issuerUrl && issuerUrl.protocol !== 'https:' && !isLoopbackHost(issuerUrl.hostname)) {
      problems.push('ISSUER: must be an https:// URL in production');
    }
  }
  return problems;
}

/** The variables that are set: empty strings mean "not set", as they do in most .env files. */
export function presentVariables(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

/** Parses and checks the environment; throws `ConfigError` listing every problem. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const raw = presentVariables(env);
  const parsed = EnvSchema.safeParse(raw);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`)),
    ...crossChecks(raw),
    ...mailCrossChecks(raw),
    ...webhookCrossChecks(raw),
    ...brandCrossChecks(raw),
    ...webauthnCrossChecks(raw, issuerHostOf(raw)),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const issuer = trimEnd(e.ISSUER ?? `http://localhost:${e.PORT}`, '/');
  const allowedOrigins = e.ALLOWED_ORIGINS.length > 0 ? e.ALLOWED_ORIGINS : [new URL(issuer).origin];
  const brand = brandConfig(e);

  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST ?? (e.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1'),
    workers: e.WORKERS === 'auto' ? 'auto' : Number(e.WORKERS),
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databasePrepare: e.DATABASE_PREPARE === 'true',
    databaseConnectTimeoutSeconds: e.DATABASE_CONNECT_TIMEOUT,
    migrateOnStart: e.MIGRATE_ON_START === 'true',
    pgliteOptimize: e.PGLITE_OPTIMIZE === 'true',
    dataDir: e.DATA_DIR,
    issuer,
    audience: e.AUDIENCE ?? issuer,
    masterSecret: e.MASTER_SECRET,
    signingAlg: e.SIGNING_ALG,
    keyPrepublicationSeconds: e.KEY_PREPUBLICATION,
    metricsToken: e.METRICS_TOKEN,
    introspectionClients: e.INTROSPECTION_CLIENTS.map((item) => {
      const colon = item.indexOf(':');
      return { id: item.slice(0, colon), secret: item.slice(colon + 1) };
    }),
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL,
    sessionTtlSeconds: e.SESSION_TTL,
    sessionRememberTtlSeconds: e.SESSION_REMEMBER_TTL,
    refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE,
    sessionBinding: {
      mode: e.SESSION_BINDING,
      ipv4Prefix: e.SESSION_BINDING_IPV4_PREFIX,
      ipv6Prefix: e.SESSION_BINDING_IPV6_PREFIX,
    },
    maxSessionsPerUser: e.MAX_SESSIONS_PER_USER,
    sessionLimitPolicy: e.SESSION_LIMIT_POLICY,
    dpop: {
      policy: e.DPOP_POLICY,
      clients: Object.fromEntries(
        e.DPOP_CLIENTS.map((item) => [
          item.slice(0, item.lastIndexOf(':')),
          item.slice(item.lastIndexOf(':') + 1),
        ]),
      ) as Record<string, DpopPolicy>,
      nonce: e.DPOP_NONCE === 'true',
    },
    passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY,
    heapGrowthPercent: e.HEAP_GROWTH_PERCENT,
    idleMemoryReleaseSeconds: e.IDLE_MEMORY_RELEASE,
    shutdownDelaySeconds: e.SHUTDOWN_DELAY,
    argon2: {
      memoryKib: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
    },
    allowedOrigins,
    trustedIpHeader: e.TRUSTED_IP_HEADER?.toLowerCase(),
    locationHeaders: e.LOCATION_HEADERS.map((name) => name.toLowerCase()),
    countryHeader: e.COUNTRY_HEADER?.toLowerCase(),
    refreshCookieName: e.REFRESH_COOKIE_NAME,
    passwordMinScore: e.PASSWORD_MIN_SCORE,
    cleanup: {
      intervalSeconds: e.CLEANUP_INTERVAL,
      batchSize: e.CLEANUP_BATCH_SIZE,
      eventRetentionSeconds: e.SECURITY_EVENT_RETENTION,
      revokedSessionRetentionSeconds: e.REVOKED_SESSION_RETENTION,
    },
    registrationsPerIpPerHour: e.REGISTRATIONS_PER_IP,
    refreshFailuresPerIp: e.REFRESH_FAILURES_PER_IP,
    loginFailureLimit: {
      perAccount: e.LOGIN_FAILURES_PER_ACCOUNT,
      perIp: e.LOGIN_FAILURES_PER_IP,
      windowSeconds: e.LOGIN_FAILURE_WINDOW,
      anywhere: e.LOGIN_FAILURES_PER_ACCOUNT_ANYWHERE,
      anywhereWindowSeconds: e.LOGIN_ACCOUNT_WINDOW,
    },
    rateLimitPrefixes: { ipv4Prefix: e.RATE_LIMIT_IPV4_PREFIX, ipv6Prefix: e.RATE_LIMIT_IPV6_PREFIX },
    totpIssuer: e.TOTP_ISSUER ?? brand.name,
    webauthn: webauthnConfig(e, issuer, brand.name),
    mfaFailureLimit: { points: e.MFA_FAILURES_PER_USER, windowSeconds: e.MFA_FAILURE_WINDOW },
    mail: mailConfig(e, { issuer, dataDir: e.DATA_DIR, productName: brand.name }),
    webhooks: webhookConfig(e),
    brand,
  };
}

/**
 * The text of `.env.example`: every variable of EnvSchema, in order, with its default (or
 * empty), commented out so that the defaults apply. test/config.test.ts keeps the file in step.
 */
export function envExample(): string {
  const lines = [
    '# Latchkey configuration: every variable it reads, with its default, commented out.',
    '# Generated from src/config.ts by `npm run env:example`; docs/configuration.md says what each does.',
    '# Uncomment and set what you need; in production at least ISSUER, MASTER_SECRET, DATABASE_URL and SMTP_URL.',
  ];
  for (const [name, field] of Object.entries(EnvSchema.shape)) {
    const fallback = (field as z.ZodType).safeParse(undefined);
    const value = !fallback.success || fallback.data === undefined ? '' : fallback.data;
    lines.push(`# ${name}=${Array.isArray(value) ? value.join(',') : String(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Variables that look meant for Latchkey but are not among its names, each with the closest
 * one: `ACCES_TOKEN_TTL` would otherwise be ignored without a word. A name counts as a near
 * miss within 1 edit per 6 characters (at most 3), so `HOME` is not taken for `HOST`; lower-case
 * names (npm's, the shell's) are never ours. `LATCHKEY_*` names are always reported.
 */
export function unknownVariableWarnings(env: Record<string, string | undefined>): string[] {
  const known = Object.keys(EnvSchema.shape);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.includes(name) || name.length > 100 || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const nearest = closest(name, known);
    const allowed = Math.min(3, Math.floor(name.length / 6));
    if (distance(name, nearest) <= allowed)
      warnings.push(`${name} is not a Latchkey variable and is ignored; did you mean ${nearest}?`);
    else if (name.startsWith('LATCHKEY_'))
      warnings.push(`${name} is not a Latchkey variable and is ignored (see .env.example)`);
  }
  return warnings;
}
