/**
 * RFC 9470 step-up: a route may ask for a minimum assurance level and for an
 * authentication no older than `maxAge` seconds. Pure, so the server's guard and the
 * resource-server kit can share it.
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
