import { describe, expect, it } from 'vitest';
import { configSources, DEVELOPMENT_SECRET, SENSITIVE_VARIABLES } from '../src/config/sources.js';
import { EnvSchema, parseConfig } from '../src/config.js';

/** Where each variable's value comes from (`config:show`, issue #19). */

const sources = (env: Record<string, string | undefined>) =>
  new Map(configSources(env, parseConfig(env)).map((report) => [report.name, report]));

describe('configuration sources', () => {
  it('reports every variable of the schema by its name, in the order of .env.example', () => {
    const names = configSources({}, parseConfig({})).map((report) => report.name);
    expect(names).toEqual(Object.keys(EnvSchema.shape));
    expect(names).toContain('ACCESS_TOKEN_TTL');
    expect(names.every((name) => /^[A-Z][A-Z0-9_]*$/.test(name))).toBe(true);
  });

  it('tells a value from the environment from a default, with the parsed value', () => {
    const shown = sources({
      ACCESS_TOKEN_TTL: '600',
      TOTP_ISSUER: 'Acme',
      ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(shown.get('ACCESS_TOKEN_TTL')).toMatchObject({ value: 600, source: 'environment' });
    expect(shown.get('TOTP_ISSUER')).toMatchObject({ value: 'Acme', source: 'environment' });
    expect(shown.get('ALLOWED_ORIGINS')).toMatchObject({
      value: ['https://a.example', 'https://b.example'],
      source: 'environment',
    });
    expect(shown.get('REFRESH_TOKEN_TTL')).toEqual({
      name: 'REFRESH_TOKEN_TTL',
      value: 2592000,
      source: 'default',
    });
    expect(shown.get('COUNTRY_HEADER')).toEqual({ name: 'COUNTRY_HEADER', value: null, source: 'not set' });
  });

  it('an empty variable counts as not set, as it does for the server', () => {
    expect(sources({ ACCESS_TOKEN_TTL: '' }).get('ACCESS_TOKEN_TTL')).toMatchObject({
      value: 900,
      source: 'default',
    });
  });

  it('values worked out from other variables say so, with the value the server uses', () => {
    const shown = sources({ PORT: '4000', PRODUCT_NAME: 'Acme' });
    expect(shown.get('ISSUER')).toMatchObject({
      value: 'http://localhost:4000',
      source: 'default',
      note: 'from PORT',
    });
    expect(shown.get('AUDIENCE')).toMatchObject({ value: 'http://localhost:4000', source: 'default' });
    expect(shown.get('ALLOWED_ORIGINS')).toMatchObject({
      value: ['http://localhost:4000'],
      source: 'default',
    });
    expect(shown.get('HOST')).toMatchObject({ value: '127.0.0.1', source: 'default' });
    expect(shown.get('MAIL_FROM')).toMatchObject({ value: 'Acme <no-reply@localhost>', source: 'default' });
    expect(shown.get('PASSWORD_RESET_URL')).toMatchObject({
      value: 'http://localhost:4000/account/password/reset?token={token}',
      source: 'default',
    });
    // Set, ISSUER wins over PORT.
    expect(sources({ ISSUER: 'https://auth.example.com/' }).get('ISSUER')).toMatchObject({
      value: 'https://auth.example.com/',
      source: 'environment',
    });
  });

  it('the development fallbacks say what stands in: the MASTER_SECRET kept in DATA_DIR, mail written to files', () => {
    const shown = sources({ DATA_DIR: '/srv/latchkey' });
    expect(shown.get('MASTER_SECRET')).toMatchObject({
      value: DEVELOPMENT_SECRET,
      source: 'development fallback',
      note: 'generated once and kept in /srv/latchkey/master-secret',
      sensitivity: 'secret',
    });
    expect(shown.get('SMTP_URL')).toMatchObject({ value: null, source: 'development fallback' });
    expect(shown.get('SMTP_URL')!.note).toContain('/srv/latchkey/mail');
    expect(shown.get('DATABASE_URL')).toMatchObject({ value: null, source: 'default' });
    expect(shown.get('DATABASE_URL')!.note).toContain('/srv/latchkey/pglite');
  });

  it('in production nothing is a development fallback', () => {
    const env = {
      NODE_ENV: 'production',
      ISSUER: 'https://auth.example.com',
      MASTER_SECRET: 'p'.repeat(48),
      SMTP_URL: 'smtp://mail.example.com:587',
    };
    const reports = configSources(env, parseConfig(env));
    expect(reports.filter((report) => report.source === 'development fallback')).toEqual([]);
    expect(reports.find((report) => report.name === 'HOST')).toMatchObject({ value: '0.0.0.0' });
  });

  it('every variable with a secret-looking name is classified: a secret, a URL that may carry one, or not one', () => {
    // Names that only look like a secret's: a new variable must be added to one list or the other.
    const notSecret = new Set([
      // Public links on every page; src/config/brand.ts refuses credentials in them.
      'BRAND_LOGO_URL',
      'BRAND_SUPPORT_URL',
      'APP_URL',
      'PASSWORD_RESET_URL',
      'PASSWORD_RESET_TTL',
      'PASSWORD_RESETS_PER_ADDRESS',
      'PASSWORD_RESETS_PER_IP',
      'PASSWORD_MIN_SCORE',
      'PASSWORD_HASH_CONCURRENCY',
      'PASSWORD_HASH_NICENESS',
      'ACCESS_TOKEN_TTL',
      'REFRESH_TOKEN_TTL',
      'WEBHOOK_SECRET_OVERLAP',
      'KEY_PREPUBLICATION',
      'EMAIL_VERIFY_URL',
      'EMAIL_CHANGE_URL',
      'EMAIL_REVERT_URL',
      // client_id:policy pairs (RFC 9449 DPoP): names and policies, no secret.
      'DPOP_CLIENTS',
    ]);
    const looksSecret = /SECRET|TOKEN|PASS|KEY|CREDENTIAL|CLIENTS|_URL$/;
    for (const name of Object.keys(EnvSchema.shape).filter((name) => looksSecret.test(name))) {
      expect(Object.hasOwn(SENSITIVE_VARIABLES, name) || notSecret.has(name), name).toBe(true);
    }
    for (const name of Object.keys(SENSITIVE_VARIABLES)) expect(Object.keys(EnvSchema.shape)).toContain(name);
  });
});
