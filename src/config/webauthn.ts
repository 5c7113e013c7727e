import { z } from 'zod';
import { isLoopbackHost } from '../lib/hosts.js';

/**
 * Passkeys (issue #20): the relying party that credentials are scoped to, and the origins
 * whose ceremonies are accepted (W3C WebAuthn Level 3 §5.1.4.1, §7.1 step 9, §7.2 step 13).
 */
export interface WebAuthnConfig {
  /** The RP ID: a registrable domain suffix of every web origin's host (the ISSUER's host by default). */
  rpId: string;
  /** The name authenticators show (BRAND_NAME). */
  rpName: string;
  /**
   * Exact origins a ceremony may come from: the account pages' (ISSUER's) origin by default;
   * more for SPAs on other subdomains and for mobile apps (`android:apk-key-hash:…`).
   */
  origins: string[];
}

const list = z
  .string()
  .max(8000)
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .optional();

const RP_ID = /^[a-z0-9.-]+$/;

export const WebAuthnEnvSchema = {
  /** The passkeys' RP ID; the host of ISSUER when not set. Changing it orphans every passkey. */
  WEBAUTHN_RP_ID: z
    .string()
    .trim()
    .toLowerCase()
    .max(253)
    .regex(RP_ID, 'must be a domain name such as example.com (no scheme, port or path)')
    .optional(),
  /** Comma-separated origins passkey ceremonies may come from; the origin of ISSUER when not set. */
  WEBAUTHN_ORIGINS: list,
};

const ANDROID_ORIGIN = /^android:apk-key-hash:[A-Za-z0-9_-]{20,100}$/;

/** The host a web origin names, or undefined for what is not an http(s) origin. */
function webOriginHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.origin !== origin || (url.protocol !== 'https:' && url.protocol !== 'http:')) return undefined;
    return url.hostname;
  } catch {
    return undefined;
  }
}

/** WebAuthn §5.1.4.1: the RP ID must be the origin's host or a registrable suffix of it. */
const scopes = (rpId: string, host: string) => host === rpId || host.endsWith(`.${rpId}`);

export function webauthnCrossChecks(raw: Record<string, string>, issuerHost: string | undefined): string[] {
  const problems: string[] = [];
  const configured = raw.WEBAUTHN_RP_ID?.trim().toLowerCase() || issuerHost;
  // A malformed RP ID is the schema's to report; its scope is not checked on top.
  const rpId = configured && RP_ID.test(configured) ? configured : undefined;
  const origins = (raw.WEBAUTHN_ORIGINS ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (ANDROID_ORIGIN.test(origin)) continue;
    const host = webOriginHost(origin);
    if (host === undefined) {
      problems.push(
        `WEBAUTHN_ORIGINS: "${origin}" is not an origin like https://app.example.com or android:apk-key-hash:…`,
      );
      continue;
    }
    // Browsers allow WebAuthn over http:// on localhost only (a secure context).
    if (origin.startsWith('http:') && !isLoopbackHost(host))
      problems.push(`WEBAUTHN_ORIGINS: "${origin}" must be https:// (http:// only on localhost)`);
    else if (rpId && !scopes(rpId, host))
      problems.push(`WEBAUTHN_ORIGINS: "${origin}" is not within WEBAUTHN_RP_ID "${rpId}"`);
  }
  if (raw.WEBAUTHN_RP_ID && origins.length === 0 && issuerHost && rpId && !scopes(rpId, issuerHost))
    problems.push(
      `WEBAUTHN_RP_ID: "${rpId}" does not cover the host of ISSUER (${issuerHost}); set WEBAUTHN_ORIGINS`,
    );
  return problems;
}

type WebAuthnEnv = z.output<z.ZodObject<typeof WebAuthnEnvSchema>>;

export function webauthnConfig(e: WebAuthnEnv, issuer: string, rpName: string): WebAuthnConfig {
  const issuerUrl = new URL(issuer);
  return {
    rpId: e.WEBAUTHN_RP_ID ?? issuerUrl.hostname,
    rpName,
    origins: e.WEBAUTHN_ORIGINS && e.WEBAUTHN_ORIGINS.length > 0 ? e.WEBAUTHN_ORIGINS : [issuerUrl.origin],
  };
}
