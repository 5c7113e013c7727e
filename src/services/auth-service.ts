import type { AuthServiceDeps } from './auth-flow.js';
import { createBindingGuard } from './binding-guard.js';
import { createHeldLogins } from './held-logins.js';
import { createPasswordLogin } from './password-login.js';
import { createRefreshRotation } from './refresh-rotation.js';
import { createSessionTokens } from './session-tokens.js';

export {
  type AuthServiceDeps,
  DEFAULT_CLIENT_ID,
  MFA_TOKEN_MAX_ATTEMPTS,
  MFA_TOKEN_TTL_MS,
} from './auth-flow.js';
export type { Delivery, MfaRequired, SessionLimitReached } from './types.js';

/**
 * Passwords, sessions and refresh tokens, one module per flow: the password step of a login
 * (password-login.ts), logins held at the session limit (held-logins.ts), rotation and its
 * replays (refresh-rotation.ts), session binding (binding-guard.ts), and the tokens a
 * session hands out (session-tokens.ts).
 */
export function createAuthService(deps: AuthServiceDeps) {
  const tokens = createSessionTokens(deps);
  const binding = createBindingGuard(deps);
  const held = createHeldLogins({ ...deps, tokens, binding });
  const passwordLogin = createPasswordLogin({ ...deps, tokens, held });
  const rotation = createRefreshRotation({ ...deps, tokens, binding });
  return {
    register: passwordLogin.register,
    login: passwordLogin.login,
    openSession: passwordLogin.openSession,
    refresh: rotation.refresh,
    logoutWithRefreshToken: rotation.logoutWithRefreshToken,
    completeHeldLogin: held.completeHeldLogin,
    tokensFor: tokens.tokensFor,
    enforceBinding: binding.enforceBinding,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
