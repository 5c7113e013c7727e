import type { Config } from '../../config.js';
import type { Writer } from './output.js';

/**
 * `config:show`: the effective configuration, printed so an operator can check it, with
 * every secret masked so the output can be shared (a ticket, a chat) without leaking one.
 */

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
