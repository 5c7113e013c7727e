import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, envExample, parseConfig, unknownVariableWarnings } from '../src/config.js';

/** Runs parseConfig and hands back the ConfigError it must throw. */
function problemsOf(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

const PRODUCTION_SECRET = 'p'.repeat(48);
const MAIL_URL = 'smtp://mail.example.com:587';

describe('defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      host: '127.0.0.1',
      logLevel: 'info',
      databaseUrl: undefined,
      databasePoolMax: 4,
      migrateOnStart: true,
      pgliteOptimize: false,
      heapGrowthPercent: 50,
      idleMemoryReleaseSeconds: 10,
      shutdownDelaySeconds: 1,
      dataDir: './.data',
      issuer: 'http://localhost:3000',
      audience: 'http://localhost:3000',
      masterSecret: undefined,
      signingAlg: 'EdDSA',
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 30 * 24 * 3600,
      sessionTtlSeconds: 24 * 3600,
      sessionRememberTtlSeconds: 90 * 24 * 3600,
      refreshReuseGraceSeconds: 10,
      maxSessionsPerUser: 15,
      argon2: { memoryKib: 19456, timeCost: 2, parallelism: 1 },
      allowedOrigins: ['http://localhost:3000'],
      trustedIpHeader: undefined,
      locationHeaders: [],
      refreshCookieName: '__Secure-latchkey_refresh',
    });
  });

  it('the issuer follows PORT and the audience follows the issuer', () => {
    const config = parseConfig({ PORT: '8080' });
    expect(config.port).toBe(8080);
    expect(config.issuer).toBe('http://localhost:8080');
    expect(config.audience).toBe('http://localhost:8080');
  });

  it('an explicit ISSUER loses its trailing slash and is the default audience', () => {
    const config = parseConfig({ ISSUER: 'https://auth.example.com/' });
    expect(config.issuer).toBe('https://auth.example.com');
    expect(config.audience).toBe('https://auth.example.com');
    expect(config.allowedOrigins).toEqual(['https://auth.example.com']);
  });

  it('an explicit AUDIENCE is kept apart from the issuer', () => {
    const config = parseConfig({ ISSUER: 'https://auth.example.com', AUDIENCE: 'https://api.example.com' });
    expect(config.issuer).toBe('https://auth.example.com');
    expect(config.audience).toBe('https://api.example.com');
  });

  it('reads every documented variable', () => {
    const config = parseConfig({
      NODE_ENV: 'test',
      PORT: '4000',
      HOST: '::',
      LOG_LEVEL: 'silent',
      DATABASE_URL: 'postgresql://u@db:5432/x',
      DATABASE_POOL_MAX: '5',
      MIGRATE_ON_START: 'false',
      DATA_DIR: '/var/lib/latchkey',
      PGLITE_OPTIMIZE: 'true',
      SIGNING_ALG: 'ES256',
      ACCESS_TOKEN_TTL: '300',
      REFRESH_TOKEN_TTL: '86400',
      SESSION_TTL: '3600',
      SESSION_REMEMBER_TTL: '7200',
      REFRESH_REUSE_GRACE: '0',
      MAX_SESSIONS_PER_USER: '3',
      ARGON2_MEMORY_KIB: '65536',
      ARGON2_TIME_COST: '3',
      ARGON2_PARALLELISM: '4',
      ALLOWED_ORIGINS: ' https://a.example.com , https://b.example.com:8443 ,',
      TRUSTED_IP_HEADER: 'CF-Connecting-IP',
      LOCATION_HEADERS: 'CF-IPCountry, CF-IPCity',
      REFRESH_COOKIE_NAME: '__Secure-rt',
    });
    expect(config).toMatchObject({
      env: 'test',
      port: 4000,
      host: '::',
      logLevel: 'silent',
      databaseUrl: 'postgresql://u@db:5432/x',
      databasePoolMax: 5,
      migrateOnStart: false,
      pgliteOptimize: true,
      dataDir: '/var/lib/latchkey',
      signingAlg: 'ES256',
      accessTokenTtlSeconds: 300,
      refreshTokenTtlSeconds: 86400,
      sessionTtlSeconds: 3600,
      sessionRememberTtlSeconds: 7200,
      refreshReuseGraceSeconds: 0,
      maxSessionsPerUser: 3,
      argon2: { memoryKib: 65536, timeCost: 3, parallelism: 4 },
      allowedOrigins: ['https://a.example.com', 'https://b.example.com:8443'],
      trustedIpHeader: 'cf-connecting-ip',
      locationHeaders: ['cf-ipcountry', 'cf-ipcity'],
      refreshCookieName: '__Secure-rt',
    });
  });

  it('production listens on every interface by default', () => {
    const config = parseConfig({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      ISSUER: 'https://auth.example.com',
      MASTER_SECRET: PRODUCTION_SECRET,
    });
    expect(config.host).toBe('0.0.0.0');
  });
});

describe('empty strings count as unset', () => {
  it('empty numbers, enums and lists fall back to their defaults', () => {
    const config = parseConfig({
      PORT: '',
      NODE_ENV: '',
      LOG_LEVEL: '',
      SIGNING_ALG: '',
      ACCESS_TOKEN_TTL: '',
      REFRESH_REUSE_GRACE: '',
      MAX_SESSIONS_PER_USER: '',
      ISSUER: '',
      AUDIENCE: '',
      MASTER_SECRET: '',
      DATABASE_URL: '',
      ALLOWED_ORIGINS: '',
      TRUSTED_IP_HEADER: '',
      REFRESH_COOKIE_NAME: '',
      HOST: undefined,
    });
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      logLevel: 'info',
      signingAlg: 'EdDSA',
      accessTokenTtlSeconds: 900,
      refreshReuseGraceSeconds: 10,
      maxSessionsPerUser: 15,
      issuer: 'http://localhost:3000',
      audience: 'http://localhost:3000',
      masterSecret: undefined,
      databaseUrl: undefined,
      allowedOrigins: ['http://localhost:3000'],
      trustedIpHeader: undefined,
      refreshCookieName: '__Secure-latchkey_refresh',
    });
  });

  it('an empty MASTER_SECRET or ISSUER in production is reported as missing, not as too short', () => {
    const error = problemsOf({ NODE_ENV: 'production', SMTP_URL: MAIL_URL, MASTER_SECRET: '', ISSUER: '' });
    expect(error.problems).toEqual([
      expect.stringMatching(/^MASTER_SECRET: required in production/),
      expect.stringMatching(/^ISSUER: must be set in production/),
    ]);
  });
});

describe('every problem reported at once', () => {
  it('PORT=abc and ACCESS_TOKEN_TTL=-5 give one ConfigError with one line each', () => {
    const error = problemsOf({ PORT: 'abc', ACCESS_TOKEN_TTL: '-5' });
    expect(error.name).toBe('ConfigError');
    expect(error.problems).toHaveLength(2);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT: must be a whole number/),
        expect.stringMatching(/^ACCESS_TOKEN_TTL: must be at least 60/),
      ]),
    );
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('Invalid configuration:');
    expect(lines.slice(1)).toHaveLength(2);
    for (const problem of error.problems) expect(lines).toContain(`  - ${problem}`);
  });

  it('schema problems and cross-variable problems come together', () => {
    const error = problemsOf({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      PORT: '70000',
      LOG_LEVEL: 'loud',
      SIGNING_ALG: 'HS256',
      MIGRATE_ON_START: 'yes',
      DATABASE_URL: 'mysql://db/x',
      MAX_SESSIONS_PER_USER: '0',
      ARGON2_MEMORY_KIB: '512',
      TRUSTED_IP_HEADER: 'x forwarded for',
      REFRESH_COOKIE_NAME: 'a;b',
      SESSION_TTL: '7200',
      SESSION_REMEMBER_TTL: '3600',
      ALLOWED_ORIGINS: '*',
    });
    const variables = error.problems.map((problem) => problem.split(':')[0]);
    expect(new Set(variables)).toEqual(
      new Set([
        'PORT',
        'LOG_LEVEL',
        'SIGNING_ALG',
        'MIGRATE_ON_START',
        'DATABASE_URL',
        'MAX_SESSIONS_PER_USER',
        'ARGON2_MEMORY_KIB',
        'TRUSTED_IP_HEADER',
        'REFRESH_COOKIE_NAME',
        'SESSION_REMEMBER_TTL',
        'ALLOWED_ORIGINS',
        'MASTER_SECRET',
        'ISSUER',
      ]),
    );
    expect(error.message.split('\n')).toHaveLength(error.problems.length + 1);
  });

  it.each([
    ['PORT', '0', /^PORT: must be at least 1$/],
    ['PORT', '65536', /^PORT: must be at most 65535$/],
    ['PORT', '3000.5', /^PORT: must be a whole number$/],
    ['ACCESS_TOKEN_TTL', '59', /^ACCESS_TOKEN_TTL: must be at least 60$/],
    ['ACCESS_TOKEN_TTL', 'ten', /^ACCESS_TOKEN_TTL: must be a whole number of seconds$/],
    ['REFRESH_REUSE_GRACE', '-1', /^REFRESH_REUSE_GRACE: must be at least 0$/],
    ['ARGON2_PARALLELISM', '17', /^ARGON2_PARALLELISM: must be at most 16$/],
    ['MASTER_SECRET', 'too-short', /^MASTER_SECRET: must be at least 32 characters/],
    ['ISSUER', 'auth.example.com', /^ISSUER: must be an absolute URL$/],
    ['ISSUER', 'https://auth.example.com/?tenant=a', /^ISSUER: must not have a query or fragment$/],
    ['DATABASE_URL', 'https://db.example.com', /^DATABASE_URL: must be a postgres:\/\//],
  ])('%s=%s is refused', (name, value, message) => {
    const error = problemsOf({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(message);
  });

  it('a remembered session may not be shorter than an ordinary one', () => {
    const error = problemsOf({ SESSION_TTL: '7200', SESSION_REMEMBER_TTL: '3600' });
    expect(error.problems).toEqual([expect.stringMatching(/^SESSION_REMEMBER_TTL: /)]);
    expect(parseConfig({ SESSION_TTL: '3600', SESSION_REMEMBER_TTL: '3600' }).sessionRememberTtlSeconds).toBe(
      3600,
    );
  });
});

describe('production', () => {
  it('refuses to start without a mail transport (SMTP_URL or MAIL_HTTP_URL)', () => {
    const error = problemsOf({
      NODE_ENV: 'production',
      ISSUER: 'https://auth.example.com',
      MASTER_SECRET: PRODUCTION_SECRET,
    });
    expect(error.problems).toEqual([expect.stringMatching(/^SMTP_URL: required in production/)]);
    const viaHttp = parseConfig({
      NODE_ENV: 'production',
      ISSUER: 'https://auth.example.com',
      MASTER_SECRET: PRODUCTION_SECRET,
      MAIL_HTTP_URL: 'https://mail-relay.example.com/send',
    });
    expect(viaHttp.mail.transport).toEqual({
      kind: 'http',
      url: 'https://mail-relay.example.com/send',
      token: undefined,
    });
  });

  it('refuses to start without MASTER_SECRET', () => {
    const error = problemsOf({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      ISSUER: 'https://auth.example.com',
    });
    expect(error.problems).toEqual([expect.stringMatching(/^MASTER_SECRET: required in production/)]);
  });

  it('refuses to start without ISSUER', () => {
    const error = problemsOf({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      MASTER_SECRET: PRODUCTION_SECRET,
    });
    expect(error.problems).toEqual([expect.stringMatching(/^ISSUER: must be set in production/)]);
  });

  it.each([
    'http://auth.example.com',
    'http://10.0.0.5:3000',
    'http://localhost.example.com',
    'ftp://auth.example.com',
  ])('refuses the non-https, non-local ISSUER %s', (issuer) => {
    const error = problemsOf({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      ISSUER: issuer,
      MASTER_SECRET: PRODUCTION_SECRET,
    });
    expect(error.problems).toEqual(['ISSUER: must be an https:// URL in production']);
  });

  it.each(['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://auth.localhost'])(
    'accepts the local http ISSUER %s',
    (issuer) => {
      const config = parseConfig({
        NODE_ENV: 'production',
        SMTP_URL: MAIL_URL,
        ISSUER: issuer,
        MASTER_SECRET: PRODUCTION_SECRET,
      });
      expect(config.issuer).toBe(issuer);
    },
  );

  it('reports both missing variables at once', () => {
    const error = problemsOf({ NODE_ENV: 'production', SMTP_URL: MAIL_URL });
    expect(error.problems).toHaveLength(2);
    expect(error.message).toContain('MASTER_SECRET');
    expect(error.message).toContain('ISSUER');
  });

  it('parses with an https ISSUER and a 48-character MASTER_SECRET', () => {
    const config = parseConfig({
      NODE_ENV: 'production',
      SMTP_URL: MAIL_URL,
      ISSUER: 'https://auth.example.com',
      MASTER_SECRET: PRODUCTION_SECRET,
    });
    expect(config).toMatchObject({
      env: 'production',
      issuer: 'https://auth.example.com',
      audience: 'https://auth.example.com',
      masterSecret: PRODUCTION_SECRET,
    });
  });

  it('development and test do not need a MASTER_SECRET or an https ISSUER', () => {
    expect(parseConfig({ NODE_ENV: 'development', ISSUER: 'http://auth.example.com' }).masterSecret).toBe(
      undefined,
    );
    expect(parseConfig({ NODE_ENV: 'test', ISSUER: 'http://auth.example.com' }).issuer).toBe(
      'http://auth.example.com',
    );
  });
});

describe('ALLOWED_ORIGINS', () => {
  it('refuses "*"', () => {
    const error = problemsOf({ ALLOWED_ORIGINS: '*' });
    expect(error.problems).toEqual([expect.stringMatching(/^ALLOWED_ORIGINS: "\*" is not allowed/)]);
  });

  it('refuses "*" hidden among real origins', () => {
    const error = problemsOf({ ALLOWED_ORIGINS: 'https://app.example.com, *' });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/"\*" is not allowed/);
  });

  it.each([
    'https://app.example.com/path',
    'https://app.example.com/',
    'https://app.example.com?x=1',
    'app.example.com',
    'null',
  ])('refuses %s, which is not an origin', (origin) => {
    const error = problemsOf({ ALLOWED_ORIGINS: origin });
    expect(error.problems).toEqual([
      `ALLOWED_ORIGINS: "${origin}" is not an origin like https://app.example.com`,
    ]);
  });

  it('reports each bad origin on its own line', () => {
    const error = problemsOf({ ALLOWED_ORIGINS: 'https://ok.example.com,https://a.example.com/x,*' });
    expect(error.problems).toHaveLength(2);
  });

  it('keeps exact origins, ports included, in order', () => {
    const config = parseConfig({ ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:5173' });
    expect(config.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });
});

describe('INTROSPECTION_CLIENTS and KEY_PREPUBLICATION', () => {
  const SECRET_1 = 's'.repeat(32);
  const SECRET_2 = 'another-secret-of-more-than-32-characters';

  it('INTROSPECTION_CLIENTS is empty by default', () => {
    expect(parseConfig({}).introspectionClients).toEqual([]);
    expect(parseConfig({ INTROSPECTION_CLIENTS: '' }).introspectionClients).toEqual([]);
  });

  it('parses client_id:secret pairs, trimmed, in order', () => {
    const config = parseConfig({ INTROSPECTION_CLIENTS: ` rs1:${SECRET_1} , rs2:${SECRET_2},` });
    expect(config.introspectionClients).toEqual([
      { id: 'rs1', secret: SECRET_1 },
      { id: 'rs2', secret: SECRET_2 },
    ]);
  });

  it('a secret may itself contain a colon: the id ends at the first one', () => {
    const secret = `${'x'.repeat(20)}:${'y'.repeat(20)}`;
    const config = parseConfig({ INTROSPECTION_CLIENTS: `rs1:${secret}` });
    expect(config.introspectionClients).toEqual([{ id: 'rs1', secret }]);
  });

  it.each([
    ['an entry without a colon', `rs1${SECRET_2}`, SECRET_2],
    ['an empty client id', `:${SECRET_2}`, SECRET_2],
    ['a client id with a space', `rs 1:${SECRET_2}`, SECRET_2],
  ])('refuses %s', (_label, value, secret) => {
    const error = problemsOf({ INTROSPECTION_CLIENTS: value });
    expect(error.problems).toEqual([
      expect.stringMatching(/^INTROSPECTION_CLIENTS: each entry is client_id:secret/),
    ]);
    expect(error.message).not.toContain(secret);
  });

  it('refuses a secret shorter than 32 characters, naming the client but not the secret', () => {
    const short = 'short-secret-31-characters-long';
    expect(short).toHaveLength(31);
    const error = problemsOf({ INTROSPECTION_CLIENTS: `rs1:${SECRET_1},rs2:${short}` });
    expect(error.problems).toEqual([
      expect.stringMatching(/^INTROSPECTION_CLIENTS: the secret of "rs2" must be at least 32 characters/),
    ]);
    expect(error.message).not.toContain(short);
    expect(error.message).not.toContain(SECRET_1);
  });

  it('refuses a client id listed twice, without printing either secret', () => {
    const error = problemsOf({ INTROSPECTION_CLIENTS: `rs1:${SECRET_1},rs1:${SECRET_2}` });
    expect(error.problems).toEqual(['INTROSPECTION_CLIENTS: "rs1" is listed twice']);
    expect(error.message).not.toContain(SECRET_1);
    expect(error.message).not.toContain(SECRET_2);
  });

  it('reports each bad entry on its own line', () => {
    const error = problemsOf({ INTROSPECTION_CLIENTS: `nocolon,rs1:short,rs2:${SECRET_1},rs2:${SECRET_2}` });
    expect(error.problems).toHaveLength(3);
    for (const secret of ['short', SECRET_1, SECRET_2]) expect(error.message).not.toContain(secret);
  });

  it('KEY_PREPUBLICATION defaults to 3600 seconds', () => {
    expect(parseConfig({}).keyPrepublicationSeconds).toBe(3600);
    expect(parseConfig({ KEY_PREPUBLICATION: '' }).keyPrepublicationSeconds).toBe(3600);
  });

  it('KEY_PREPUBLICATION accepts 0 (sign with a new key at once) and other whole seconds', () => {
    expect(parseConfig({ KEY_PREPUBLICATION: '0' }).keyPrepublicationSeconds).toBe(0);
    expect(parseConfig({ KEY_PREPUBLICATION: '7200' }).keyPrepublicationSeconds).toBe(7200);
  });

  it.each([
    ['-1', /^KEY_PREPUBLICATION: must be at least 0$/],
    ['abc', /^KEY_PREPUBLICATION: must be a whole number of seconds$/],
    ['1.5', /^KEY_PREPUBLICATION: must be a whole number of seconds$/],
  ])('KEY_PREPUBLICATION=%s is refused', (value, message) => {
    const error = problemsOf({ KEY_PREPUBLICATION: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(message);
  });
});

describe('.env.example', () => {
  it('lists every variable with its default, as `npm run env:example` writes it', () => {
    const file = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    expect(file, 'run `npm run env:example`').toBe(envExample());
    expect(file).toContain('# PORT=3000\n');
    expect(file).toContain('# WEBHOOK_ALLOW_PRIVATE=false\n');
  });
});

describe('variables Latchkey does not know', () => {
  it('a near miss is named with the closest variable; system and lower-case names are left alone', () => {
    expect(
      unknownVariableWarnings({
        ACCES_TOKEN_TTL: '600',
        WEBHOOK_TIMOUT: '5',
        LATCHKEY_SECRET: 'x',
        ACCESS_TOKEN_TTL: '900',
        HOME: '/root',
        PATH: '/bin',
        USER: 'root',
        TERM: 'xterm',
        npm_config_cache: '/tmp',
      }),
    ).toEqual([
      'ACCES_TOKEN_TTL is not a Latchkey variable and is ignored; did you mean ACCESS_TOKEN_TTL?',
      'LATCHKEY_SECRET is not a Latchkey variable and is ignored (see .env.example)',
      'WEBHOOK_TIMOUT is not a Latchkey variable and is ignored; did you mean WEBHOOK_TIMEOUT?',
    ]);
  });

  it('says nothing about the environment of this machine', () => {
    expect(unknownVariableWarnings(process.env).filter((w) => !w.startsWith('LATCHKEY_'))).toEqual([]);
  });
});

describe('passkeys: WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS', () => {
  it('default to the host and the origin of ISSUER', () => {
    expect(parseConfig({ ISSUER: 'https://auth.example.com' }).webauthn).toEqual({
      rpId: 'auth.example.com',
      rpName: 'Account',
      origins: ['https://auth.example.com'],
    });
  });

  it('take a parent domain and several origins, a mobile app among them', () => {
    const config = parseConfig({
      ISSUER: 'https://auth.example.com',
      BRAND_NAME: 'Acme',
      WEBAUTHN_RP_ID: 'Example.com',
      WEBAUTHN_ORIGINS:
        'https://auth.example.com, https://app.example.com,android:apk-key-hash:-sYXRdwJA3hvue3mKpYrOZ9zSPC7b4mbgzJmdZEDO5w',
    });
    expect(config.webauthn).toEqual({
      rpId: 'example.com',
      rpName: 'Acme',
      origins: [
        'https://auth.example.com',
        'https://app.example.com',
        'android:apk-key-hash:-sYXRdwJA3hvue3mKpYrOZ9zSPC7b4mbgzJmdZEDO5w',
      ],
    });
  });

  it('refuse an origin outside the RP ID, http:// off localhost, and what is not an origin', () => {
    const { problems } = problemsOf({
      ISSUER: 'https://auth.example.com',
      WEBAUTHN_RP_ID: 'example.com',
      WEBAUTHN_ORIGINS:
        'https://example.net,http://app.example.com,https://app.example.com/path,ftp://example.com',
    });
    expect(problems).toEqual([
      'WEBAUTHN_ORIGINS: "https://example.net" is not within WEBAUTHN_RP_ID "example.com"',
      'WEBAUTHN_ORIGINS: "http://app.example.com" must be https:// (http:// only on localhost)',
      'WEBAUTHN_ORIGINS: "https://app.example.com/path" is not an origin like https://app.example.com or android:apk-key-hash:…',
      'WEBAUTHN_ORIGINS: "ftp://example.com" is not an origin like https://app.example.com or android:apk-key-hash:…',
    ]);
  });

  it('refuse an RP ID that does not cover ISSUER when no origins are listed, and one with a scheme', () => {
    expect(
      problemsOf({ ISSUER: 'https://auth.example.com', WEBAUTHN_RP_ID: 'example.net' }).problems,
    ).toEqual([
      'WEBAUTHN_RP_ID: "example.net" does not cover the host of ISSUER (auth.example.com); set WEBAUTHN_ORIGINS',
    ]);
    expect(problemsOf({ WEBAUTHN_RP_ID: 'https://example.com' }).problems).toEqual([
      'WEBAUTHN_RP_ID: must be a domain name such as example.com (no scheme, port or path)',
    ]);
  });
});
