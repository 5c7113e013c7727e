import { UAParser } from 'ua-parser-js';
import { sameNetwork } from './client-network.js';

/**
 * Optional session binding (SESSION_BINDING): a refresh from another network or another
 * browser/OS family than the session's last one is either recorded (`warn`) or refused with
 * the session revoked (`strict`). A stolen refresh token used elsewhere then fails at once
 * (OWASP ASVS V3.3, session binding); the price is paid by honest users whose network
 * changes: phones moving between Wi-Fi and mobile data, dual-stack hosts switching between
 * IPv4 and IPv6, carrier-grade NAT pools. Hence `off` by default, and `strict` only where
 * clients sit on stable networks (an office, a kiosk, a back office).
 */
export type BindingMode = 'off' | 'warn' | 'strict';

export interface BindingPolicy {
  mode: BindingMode;
  /** Addresses in one /ipv4Prefix (or /ipv6Prefix) network count as the same network. */
  ipv4Prefix: number;
  ipv6Prefix: number;
}

export type BindingMismatch = 'network' | 'user_agent';

export interface DeviceFacts {
  ipAddress: string | null;
  userAgent: string | null;
}

/** "Chrome/Windows": the browser and OS families, without versions (they change on update). */
export function userAgentFamily(userAgent: string): string {
  const parsed = new UAParser(userAgent).getResult();
  return `${parsed.browser.name ?? 'unknown'}/${parsed.os.name ?? 'unknown'}`;
}

/**
 * What differs between the session's last request and this one; empty when nothing does.
 * An attribute present on one side and missing on the other is a difference: a thief who
 * strips the User-Agent or hides the address must not skip the check (issue #15).
 */
export function bindingMismatches(
  session: DeviceFacts,
  request: DeviceFacts,
  policy: BindingPolicy,
): BindingMismatch[] {
  if (policy.mode === 'off') return [];
  const found: BindingMismatch[] = [];
  if (
    (session.ipAddress !== null || request.ipAddress !== null) &&
    !(session.ipAddress && request.ipAddress && sameNetwork(session.ipAddress, request.ipAddress, policy))
  ) {
    found.push('network');
  }
  if (
    (session.userAgent !== null || request.userAgent !== null) &&
    !(
      session.userAgent &&
      request.userAgent &&
      userAgentFamily(session.userAgent) === userAgentFamily(request.userAgent)
    )
  ) {
    found.push('user_agent');
  }
  return found;
}
