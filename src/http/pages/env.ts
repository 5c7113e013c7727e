import type { Context, Hono } from 'hono';
import type { BrandConfig } from '../../config/brand.js';
import type { Caller } from '../../services/session-service.js';
import type { RequestDevice } from '../../services/types.js';
import type { RouteContext } from '../context.js';
import type { CookieSession } from './cookie-session.js';

/** What the page middleware leaves on the request for the handlers. */
export type PageEnv = {
  Variables: {
    nonce: string;
    caller: Caller;
    email: string;
    mfaEnabled: boolean;
    admin: boolean;
    /** The product's name, logo, colour and links (BRAND_*), for the layout. */
    brand: BrandConfig;
  };
};
export type PageContextOf = Context<PageEnv>;
export type PageApp = Hono<PageEnv>;

/** What every page group receives: the services, the cookie session, the request's device. */
export interface PageDeps extends RouteContext {
  session: CookieSession;
  device: (c: Context) => RequestDevice;
}

export const SIGN_IN = '/account/sign-in';
export const SESSIONS = '/account/sessions';
export const SECURITY = '/account/security';
export const SIGN_UP = '/account/sign-up';

/**
 * A form field as text, bounded before anything parses it (issue #15 §2): the longest field
 * we take is a password (API.md's 1024); a longer value reads as empty, so it gets the
 * field's "enter …" error rather than reaching a service.
 */
const FORM_FIELD_MAX = 1024;
export const text = (value: unknown): string =>
  typeof value === 'string' && value.length <= FORM_FIELD_MAX ? value : '';
