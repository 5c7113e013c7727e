import type { Context } from 'hono';
import type { Config } from '../config.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { AdminService } from '../services/admin-service.js';
import type { AuthService } from '../services/auth-service.js';
import type { KeyRing } from '../services/key-ring.js';
import type { MfaService } from '../services/mfa-service.js';
import type { OAuthService } from '../services/oauth-service.js';
import type { SessionService } from '../services/session-service.js';
import type { GetClientIp } from './request.js';

/** What the route modules share: built once by `createApp`. */
export interface RouteContext {
  config: Config;
  clock: Clock;
  auth: AuthService;
  sessions: SessionService;
  mfa: MfaService;
  oauth: OAuthService;
  admin: AdminService;
  keyRing: KeyRing;
  logger: Logger;
  getClientIp: GetClientIp;
  /** The app's error handler, for sub-apps that map some errors themselves and defer the rest. */
  handleError: (error: unknown, c: Context) => Response;
}
