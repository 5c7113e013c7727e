import type { DeviceInfo } from '../ports/store.js';

/** What the HTTP layer sends back for a login, an MFA login, a refresh or a step-up. */
export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshTokenExpiresIn: number;
  sessionId: string;
  remembered: boolean;
}

/**
 * The request facts every flow records: client IP, user agent and trusted location, and the
 * country (ISO 3166-1 alpha-2) when a trusted edge tells it.
 */
export type RequestDevice = DeviceInfo & { country?: string | null };
