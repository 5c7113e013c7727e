import { configSources, type VariableReport } from '../../config/sources.js';
import type { Config } from '../../config.js';
import type { Writer } from './output.js';

/**
 * `config:show`: every configuration variable by its name, its effective value and where that
 * came from (the environment, a default, a development fallback), so an operator can check a
 * deploy; every secret masked so the output can be shared (a ticket, a chat) without leaking one.
 */

export const MASK = '****';
const SET = '(set)';
const NOT_SET = '(not set)';

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

/** A variable as printed: its value with every secret masked. */
export interface ShownVariable {
  value: VariableReport['value'];
  source: VariableReport['source'];
  note?: string;
}

/** The reports with their secrets masked, and the secrets found (to scrub from the text too). */
export function maskReports(reports: VariableReport[]): {
  shown: Map<string, ShownVariable>;
  secrets: string[];
} {
  const secrets: string[] = [];
  const shown = new Map<string, ShownVariable>();
  for (const report of reports) {
    const { name, source, note } = report;
    let value = report.value;
    const { sensitivity } = report;
    if (source === 'environment' && value !== null) {
      if (sensitivity === 'secret') {
        secrets.push(...(Array.isArray(value) ? value : [String(value)]));
        value = SET;
      } else if (sensitivity === 'clients' && Array.isArray(value)) {
        value = value.map((item) => {
          const colon = item.indexOf(':');
          secrets.push(item.slice(colon + 1));
          return colon > 0 ? `${item.slice(0, colon)}:${MASK}` : MASK;
        });
      } else if (sensitivity === 'url' && typeof value === 'string') {
        const url = maskUrl(value);
        secrets.push(...url.secrets);
        value = url.masked;
      }
    }
    shown.set(name, { value, source, ...(note ? { note } : {}) });
  }
  return { shown, secrets };
}

const display = (value: ShownVariable['value']): string => {
  if (value === null) return NOT_SET;
  if (Array.isArray(value)) return value.length > 0 ? value.join(',') : '(none)';
  return String(value);
};

/** Name, value, source in columns; a long value pushes its source along rather than the table. */
function table(shown: Map<string, ShownVariable>): string {
  const rows = [...shown].map(([name, { value, source, note }]) => [
    name,
    display(value),
    note ? `${source}: ${note}` : source,
  ]);
  const nameWidth = Math.max(...rows.map(([name]) => name!.length));
  const valueWidth = Math.min(48, Math.max(...rows.map(([, value]) => value!.length)));
  return [['VARIABLE', 'VALUE', 'SOURCE'], ...rows]
    .map(([name, value, source]) => `${name!.padEnd(nameWidth)}  ${value!.padEnd(valueWidth)}  ${source}`)
    .join('\n');
}

/**
 * `config:show [--json]`: every variable with its effective value and its source, secrets
 * masked; `--json` prints an object by variable name (`jq .ACCESS_TOKEN_TTL.value`).
 */
export function showConfigCommand(deps: {
  config: Config;
  /** What the configuration was parsed from (process.env). */
  env: Record<string, string | undefined>;
  out: Writer;
  json?: boolean;
}): string {
  const { shown, secrets } = maskReports(configSources(deps.env, deps.config));
  let text = deps.json ? JSON.stringify(Object.fromEntries(shown), null, 2) : table(shown);
  // Belt and braces: a secret that also turns up in some other value is masked there too.
  for (const secret of secrets) {
    if (secret.length < MIN_SCRUB_LENGTH) continue;
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) {
      text = text.split(form).join(MASK);
    }
  }
  deps.out(text);
  return text;
}
