/**
 * RFC 9470 step-up: a route may ask for a minimum assurance level and for an
 * authentication no older than `maxAge` seconds. Pure, and the one home of the decision:
 * the API's guard (`requireAuth`, through `authorizeBearer`), the `/account` pages and the
 * resource-server kit all call `checkAssurance`.
 */
/** NIST SP 800-63B assurance levels, as `acr` values. */
export type AuthenticatorAssurance = 'aal1' | 'aal2';

export interface AssuranceRequirement {
  acr?: AuthenticatorAssurance;
  maxAge?: number;
}

export interface AssuranceFacts {
  acr: string;
  authTime: number; // epoch seconds
}

export type AssuranceVerdict =
  | { ok: true }
  | { ok: false; acrValues?: AuthenticatorAssurance; maxAge?: number; description: string };

const rank: Record<string, number> = { aal1: 1, aal2: 2 };

export function checkAssurance(
  facts: AssuranceFacts,
  need: AssuranceRequirement,
  now: Date,
): AssuranceVerdict {
  const tooWeak = need.acr !== undefined && (rank[facts.acr] ?? 0) < (rank[need.acr] ?? 0);
  const tooOld = need.maxAge !== undefined && now.getTime() / 1000 - facts.authTime > need.maxAge;
  if (!tooWeak && !tooOld) return { ok: true };
  return {
    ok: false,
    ...(tooWeak ? { acrValues: need.acr } : {}),
    ...(tooOld ? { maxAge: need.maxAge } : {}),
    description: tooWeak
      ? 'A stronger authentication is required for this request'
      : 'A more recent authentication is required for this request',
  };
}

/**
 * "Fresh auth" is an `auth_time` within 300 s (API.md, Step-up): an `auth_time` exactly
 * 300 s old is still fresh, 301 s is not (OIDC Core §3.1.2.1 `max_age`: re-authenticate
 * when the elapsed time is *greater*).
 */
export const FRESH_AUTH_SECONDS = 300;

/** What a route asks of a session before it changes the account's factors (API.md, Step-up). */
export const FRESH_AUTH: AssuranceRequirement = { maxAge: FRESH_AUTH_SECONDS };
export const FRESH_AAL2: AssuranceRequirement = { acr: 'aal2', maxAge: FRESH_AUTH_SECONDS };
/** Administrators act from a session that passed a second factor (the admin API and its page). */
export const ADMIN_ASSURANCE: AssuranceRequirement = { acr: 'aal2' };

/**
 * A page that offers a form without asking for a password again (the `/account` security
 * page) judges the form by when it will be posted, not by when it is shown: it asks
 * whether `need` still holds `FORM_LEAD_SECONDS` from now. So a session about to go stale
 * gets the password field at once instead of a button the POST then refuses. The POST
 * itself is judged by `checkAssurance` at its own instant, as the API judges it.
 */
export const FORM_LEAD_SECONDS = 30;

export function holdsUntilPosted(facts: AssuranceFacts, need: AssuranceRequirement, now: Date): boolean {
  return checkAssurance(facts, need, new Date(now.getTime() + FORM_LEAD_SECONDS * 1000)).ok;
}

/** The facts of a set of access-token claims (RFC 9470 `acr`, `auth_time`). */
export const assuranceOf = (claims: { acr: string; auth_time: number }): AssuranceFacts => ({
  acr: claims.acr,
  authTime: claims.auth_time,
});
