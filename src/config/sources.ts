import { type Config, EnvSchema, presentVariables } from '../config.js';

/**
 * Where each variable's effective value comes from, for `config:show`: the environment, the
 * schema's default, a default worked out from other variables (ISSUER from PORT…), or a
 * development fallback (the MASTER_SECRET kept in DATA_DIR, mail written to files). Values are
 * raw here: the caller masks what `sensitivity` marks before printing anything.
 */

export type VariableSource = 'environment' | 'default' | 'development fallback' | 'not set';

/**
 * How a value holds a secret: `secret` is one as a whole (only "set" may be shown), `url` may
 * carry a password in its userinfo or query, `clients` is a list of `id:secret`.
 */
export type Sensitivity = 'secret' | 'url' | 'clients';

export interface VariableReport {
  name: string;
  /** The effective value (numbers parsed, lists split); null when unset and nothing stands in. */
  value: string | number | string[] | null;
  source: VariableSource;
  /** What stands in, or what follows from it: "from PORT", "GET /metrics answers 404". */
  note?: string;
  sensitivity?: Sensitivity;
}

/**
 * Every variable that holds a secret, or a value that may carry one. test/config-sources.test.ts
 * makes each new variable with a secret-looking name (SECRET, TOKEN, PASS, KEY, CREDENTIAL)
 * appear here or in its list of names that only look so.
 */
export const SENSITIVE_VARIABLES: Readonly<Record<string, Sensitivity>> = {
  MASTER_SECRET: 'secret',
  METRICS_TOKEN: 'secret',
  MAIL_HTTP_TOKEN: 'secret',
  INTROSPECTION_CLIENTS: 'clients',
  DATABASE_URL: 'url',
  SMTP_URL: 'url',
  MAIL_HTTP_URL: 'url',
};

/** The development secret's stand-in text (never the secret: it stays in its file). */
export const DEVELOPMENT_SECRET = '(development secret: set MASTER_SECRET in production)';

type Standin = { value: VariableReport['value']; source: VariableSource; note: string };

/**
 * What an unset variable becomes when the schema has no plain default for it: worked out from
 * other variables, a development fallback, or a word on what its absence means.
 */
function standin(name: string, config: Config): Standin | undefined {
  const links = config.mail.links;
  const production = config.env === 'production';
  switch (name) {
    case 'HOST':
      return { value: config.host, source: 'default', note: 'from NODE_ENV (0.0.0.0 in production)' };
    case 'ISSUER':
      return { value: config.issuer, source: 'default', note: 'from PORT' };
    case 'AUDIENCE':
      return { value: config.audience, source: 'default', note: 'ISSUER' };
    case 'ALLOWED_ORIGINS':
      return { value: config.allowedOrigins, source: 'default', note: 'the origin of ISSUER' };
    case 'MAIL_FROM':
      return { value: config.mail.from, source: 'default', note: 'from BRAND_NAME and ISSUER' };
    case 'BRAND_NAME':
      return {
        value: config.brand.name,
        source: 'default',
        note: 'or PRODUCT_NAME, its older name; never Latchkey',
      };
    case 'WEBAUTHN_RP_ID':
      return { value: config.webauthn.rpId, source: 'default', note: 'the host of ISSUER' };
    case 'WEBAUTHN_ORIGINS':
      return { value: config.webauthn.origins, source: 'default', note: 'the origin of ISSUER' };
    case 'TOTP_ISSUER':
      return { value: config.totpIssuer, source: 'default', note: 'from BRAND_NAME' };
    case 'PASSWORD_RESET_URL':
      return { value: links.passwordReset, source: 'default', note: 'the account pages, from ISSUER' };
    case 'EMAIL_VERIFY_URL':
      return { value: links.verifyEmail, source: 'default', note: 'the account pages, from ISSUER' };
    case 'EMAIL_CHANGE_URL':
      return { value: links.changeEmail, source: 'default', note: 'the account pages, from ISSUER' };
    case 'EMAIL_REVERT_URL':
      return { value: links.revertEmailChange, source: 'default', note: 'the account pages, from ISSUER' };
    case 'DATABASE_URL':
      return {
        value: null,
        source: 'default',
        note: `the embedded PGlite database in ${config.dataDir}/pglite (Node)`,
      };
    case 'MASTER_SECRET':
      // Production refuses to start without one (src/config.ts); elsewhere Node keeps one.
      return production
        ? undefined
        : {
            value: DEVELOPMENT_SECRET,
            source: 'development fallback',
            note: `generated once and kept in ${config.dataDir}/master-secret`,
          };
    case 'SMTP_URL':
      return config.mail.transport.kind === 'files'
        ? {
            value: null,
            source: 'development fallback',
            note: `mail is not sent but written as .eml files to ${config.mail.transport.dir}`,
          }
        : undefined;
    case 'METRICS_TOKEN':
      return { value: null, source: 'not set', note: 'GET /metrics answers 404' };
    case 'TRUSTED_IP_HEADER':
      return { value: null, source: 'not set', note: "the client's address is the connection's" };
    default:
      return undefined;
  }
}

/**
 * Every variable of EnvSchema, in its order (the order of `.env.example`), with its effective
 * value and where that comes from. `env` is what the configuration was parsed from, `config`
 * the result (so values worked out from others are the ones the server uses).
 */
export function configSources(env: Record<string, string | undefined>, config: Config): VariableReport[] {
  const present = presentVariables(env);
  // The configuration was parsed from this same environment: this parse succeeds.
  const data: Record<string, unknown> = EnvSchema.parse(present);
  return Object.keys(EnvSchema.shape).map((name): VariableReport => {
    const sensitivity = SENSITIVE_VARIABLES[name];
    const report = (fields: Omit<VariableReport, 'name' | 'sensitivity'>): VariableReport => ({
      name,
      ...fields,
      ...(sensitivity ? { sensitivity } : {}),
    });
    if (Object.hasOwn(present, name)) {
      return report({ value: asValue(data[name]), source: 'environment' });
    }
    const replacement = standin(name, config);
    if (replacement) {
      const { value, source, note } = replacement;
      return report({ value, source, note });
    }
    const value = asValue(data[name]);
    return report({ value, source: value === null ? 'not set' : 'default' });
  });
}

const asValue = (value: unknown): VariableReport['value'] => {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String);
  return String(value);
};
