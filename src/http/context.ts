import type { Config } from '../config.js';
import type { Clock } from '../ports/clock.js';
import type { AuthService } from '../services/auth-service.js';
import type { MfaService } from '../services/mfa-service.js';
import type { SessionService } from '../services/session-service.js';
import type { GetClientIp } from './request.js';

/** What the route modules share: built once by `createApp`. */
export interface RouteContext {
  config: Config;
  clock: Clock;
  auth: AuthService;
  sessions: SessionService;
  mfa: MfaService;
  getClientIp: GetClientIp;
}
