import type { Context, MiddlewareHandler } from 'hono';
import { isActiveAdmin } from '../../domain/roles.js';
import type { RequestOrigin } from '../../ports/records.js';
import type { AuthService } from '../../services/auth-service.js';
import type { Caller, SessionService } from '../../services/session-service.js';
import type { IssuedTokens, RequestDevice } from '../../services/types.js';
import { clearTokenCookies, conflictingTokenCookies, setTokenCookies, tokenCookies } from './cookies.js';
import { type PageEnv, SIGN_IN } from './env.js';
import { expected } from './failures.js';
import { message } from './render.js';

export type CookieSession = ReturnType<typeof cookieSession>;

/**
 * The signed-in browser behind the token cookies (./cookies.ts): the access token while it
 * lasts, else one rotation of the refresh token, as an SPA with cookie delivery would.
 */
export function cookieSession(deps: {
  auth: AuthService;
  sessions: SessionService;
  device: (c: Context) => RequestDevice;
  origin: (c: Context) => RequestOrigin;
}) {
  const { auth, sessions, device, origin } = deps;

  /** The caller behind the cookies, or none (then the cookies are cleared). */
  async function signedInCaller(c: Context): Promise<Caller | undefined> {
    const { accessToken, refreshToken } = tokenCookies(c);
    if (accessToken) {
      try {
        return await sessions.authenticate(accessToken, () => origin(c));
      } catch (error) {
        expected(error, 'invalid_token');
      }
    }
    if (refreshToken) {
      try {
        const tokens = await auth.refresh({ refreshToken, device: device(c) });
        setTokenCookies(c, tokens);
        return await sessions.authenticate(tokens.accessToken, () => origin(c));
      } catch (error) {
        // Revoked, expired, reused or throttled: this browser is signed out.
        expected(error, 'invalid_grant', 'refresh_token_reused', 'invalid_token', 'rate_limited');
      }
    }
    if (accessToken || refreshToken) clearTokenCookies(c);
    return undefined;
  }

  /** Guards a page: signed in, else to the sign-in page; sets who it is for the handlers. */
  const signedIn: MiddlewareHandler<PageEnv> = async (c, next) => {
    if (conflictingTokenCookies(c)) {
      return message(
        c,
        'Conflicting cookies',
        'Your browser sent two sign-in cookies for this site, one of them not set by it. Clear the cookies of this site and its parent domain, then sign in again.',
        400,
      );
    }
    const { accessToken, refreshToken } = tokenCookies(c);
    const caller = await signedInCaller(c);
    if (!caller) return c.redirect(accessToken || refreshToken ? `${SIGN_IN}?notice=ended` : SIGN_IN, 303);
    const user = await sessions.me(caller);
    c.set('caller', caller);
    c.set('email', user.email);
    c.set('mfaEnabled', user.mfaEnabled);
    // For the menu only; the admin page itself asks the admin service (./admin.tsx).
    c.set('admin', isActiveAdmin(user));
    await next();
  };

  /** New tokens for this browser (after a step-up) and the caller they stand for. */
  async function adopt(c: Context, tokens: IssuedTokens): Promise<Caller> {
    setTokenCookies(c, tokens);
    return sessions.authenticate(tokens.accessToken, () => origin(c));
  }

  return { signedInCaller, signedIn, adopt };
}
