import type { Context } from 'hono';
import type { Config } from '../config.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { AdminService } from '../services/admin-service.js';
import type { AuthService } from '../services/auth-service.js';
import type { DpopProofs } from '../services/dpop.js';
import type { EmailAddress } from '../services/email-address.js';
import type { Health } from '../services/health.js';
import type { KeyRing } from '../services/key-ring.js';
import type { MfaService } from '../services/mfa-service.js';
import type { OAuthService } from '../services/oauth-service.js';
import type { Passkeys } from '../services/passkeys.js';
import type { PasswordReset } from '../services/password-reset.js';
import type { SessionService } from '../services/session-service.js';
import type { UserProfile } from '../services/user-profile.js';
import type { Webhooks } from '../services/webhooks.js';
import type { GetClientIp } from './request.js';

/** The services the routes call: built from ports by src/compose/services.ts, never in http/. */
export interface AppServices {
  auth: AuthService;
  sessions: SessionService;
  mfa: MfaService;
  passkeys: Passkeys;
  oauth: OAuthService;
  admin: AdminService;
  profile: UserProfile;
  passwordReset: PasswordReset;
  emailAddress: EmailAddress;
  keyRing: KeyRing;
  health: Health;
  webhooks: Webhooks;
  dpop: DpopProofs;
}

/** What the route modules share: built once by `createApp`. */
export interface RouteContext extends AppServices {
  config: Config;
  clock: Clock;
  logger: Logger;
  getClientIp: GetClientIp;
  /** The app's error handler, for sub-apps that map some errors themselves and defer the rest. */
  handleError: (error: unknown, c: Context) => Response;
}
