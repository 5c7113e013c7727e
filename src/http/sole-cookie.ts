import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';

/**
 * The value of cookie `name` when the request carries that name exactly once; `undefined`
 * when it is absent **or sent more than once**.
 *
 * A browser sends every cookie whose domain and path match, longest path first (RFC 6265
 * §5.4), and Hono's `getCookie` takes the first: a cookie of the same name that a sibling
 * subdomain set for the parent domain, with a longer path, would be read instead of ours
 * (RFC 6265bis §8.6, Weak Integrity). Our `__Host-` cookies cannot be set by another host at
 * all (RFC 6265bis §4.1.3.2); the API's refresh cookie, whose path rules that prefix out, is
 * `__Secure-`, which a sibling on https can still set. Either way, of two values we cannot
 * tell which one is ours, so we use neither (fail closed): the cost is a sign-in, never
 * someone else's session or a CSRF check passed with a planted token.
 */
export function soleCookie(c: Context, name: string): string | undefined {
  return cookieCount(c, name) === 1 ? getCookie(c, name) : undefined;
}

/** How many cookies named `name` the request carries (more than one: see soleCookie). */
export function cookieCount(c: Context, name: string): number {
  const header = c.req.header('cookie');
  if (header === undefined) return 0;
  let seen = 0;
  // Same split as Hono's parser (RFC 6265 §4.2.1: pairs separated by "; "); names compared
  // exactly after trimming (a superset of its trimming), so we count all it could match.
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals !== -1 && pair.slice(0, equals).trim() === name) seen += 1;
  }
  return seen;
}
