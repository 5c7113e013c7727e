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

/** The request facts every flow records: client IP, user agent and trusted location. */
export type RequestDevice = DeviceInfo;
