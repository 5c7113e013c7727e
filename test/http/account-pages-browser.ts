import { expect } from 'vitest';
import type { Latchkey } from '../support/harness.js';

/**
 * A browser for the account pages' HTTP tests (account-pages*.test.ts), over `app.request()`:
 * a cookie jar of our own (Set-Cookie, Max-Age=0, Path) and form posts. Every /account answer
 * it gets is also checked for the page invariants (CSP with a fresh nonce, no inline handlers
 * or style attributes, no-store, the CSRF token in every form): see `expectPageInvariants`.
 */

/** `app.request('/path')` asks for http://localhost/path: the pages' own origin. */
export const ORIGIN = 'http://localhost';
export const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

export const REFRESH = '__Host-latchkey_account_rt';
export const ACCESS = '__Host-latchkey_account_at';
export const MFA = '__Host-latchkey_account_mfa';
export const LIMIT = '__Host-latchkey_account_limit';
export const CSRF = '__Host-latchkey_csrf';

// ---------------------------------------------------------------------------------------------
// A browser: a cookie jar (Set-Cookie, Max-Age=0, Path) and form posts.
// ---------------------------------------------------------------------------------------------

export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names in lower case; `true` for flags (HttpOnly, Secure). */
  attributes: Map<string, string | true>;
}

export function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...rest] = header.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string | true>();
  for (const part of rest) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    if (key) attributes.set(key, i < 0 ? true : part.slice(i + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** RFC 6265 §5.1.4 default-path: the request path up to its last `/`. */
function defaultPath(requestPath: string): string {
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}

export interface Page {
  status: number;
  headers: Headers;
  html: string;
  /** The visible text, tags removed and entities decoded. */
  text: string;
  location: string | null;
  /** This response's Set-Cookie headers. */
  cookies: SetCookie[];
}

export interface PostOptions {
  /** The form's `csrf` field: the jar's CSRF cookie unless given; null leaves it out. */
  csrf?: string | null;
  /** `Sec-Fetch-Site`: `same-origin` unless given; null leaves it out. */
  site?: string | null;
  /** `Origin`: the pages' own unless given; null leaves it out. */
  origin?: string | null;
  /** A body sent as is, with this content type, instead of the form. */
  raw?: { contentType: string; body: string };
}

export interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export class Browser {
  private readonly jar = new Map<string, StoredCookie>();

  constructor(
    readonly lk: Latchkey,
    private readonly userAgent = FIREFOX,
  ) {}

  /** Another browser with a copy of this one's cookies (a thief's, or a second tab's). */
  clone(): Browser {
    const copy = new Browser(this.lk, this.userAgent);
    for (const [key, cookie] of this.jar) copy.jar.set(key, { ...cookie });
    return copy;
  }

  cookie(name: string): string | undefined {
    for (const cookie of this.jar.values()) if (cookie.name === name) return cookie.value;
    return undefined;
  }

  get csrf(): string {
    const token = this.cookie(CSRF);
    if (!token) throw new Error('no CSRF cookie yet: open a page first');
    return token;
  }

  /** The cookies in the jar, as the server named them. */
  stored(): StoredCookie[] {
    return [...this.jar.values()].map((cookie) => ({ ...cookie }));
  }

  /** Puts a cookie in the jar as if a response had set it. */
  plant(setCookie: string): void {
    this.keep(parseSetCookie(setCookie), '/');
  }

  get(path: string): Promise<Page> {
    return this.send('GET', path, undefined, {});
  }

  post(path: string, fields: Record<string, string> = {}, options: PostOptions = {}): Promise<Page> {
    const form = new URLSearchParams(fields);
    const csrf = options.csrf === undefined ? this.cookie(CSRF) : options.csrf;
    if (csrf !== null && csrf !== undefined) form.set('csrf', csrf);
    const headers: Record<string, string> = {};
    const site = options.site === undefined ? 'same-origin' : options.site;
    if (site !== null) headers['sec-fetch-site'] = site;
    const origin = options.origin === undefined ? ORIGIN : options.origin;
    if (origin !== null) headers.origin = origin;
    if (options.raw) headers['content-type'] = options.raw.contentType;
    return this.send('POST', path, options.raw ? options.raw.body : form, headers);
  }

  /** GETs a 303's Location. */
  follow(page: Page): Promise<Page> {
    expect(page.status).toBe(303);
    expect(page.location).toBeTruthy();
    return this.get(page.location!);
  }

  private cookieHeader(requestPath: string): string {
    return [...this.jar.values()]
      .filter((cookie) => pathMatches(requestPath, cookie.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  private keep(cookie: SetCookie, requestPath: string): void {
    const pathAttribute = cookie.attributes.get('path');
    const path =
      typeof pathAttribute === 'string' && pathAttribute.startsWith('/')
        ? pathAttribute
        : defaultPath(requestPath);
    const key = `${cookie.name}\n${path}`;
    const maxAge = cookie.attributes.get('max-age');
    const expires = cookie.attributes.get('expires');
    const gone =
      typeof maxAge === 'string'
        ? Number(maxAge) <= 0
        : typeof expires === 'string' && Date.parse(expires) <= Date.now();
    if (gone) this.jar.delete(key);
    else this.jar.set(key, { name: cookie.name, value: cookie.value, path });
  }

  private async send(
    method: string,
    path: string,
    body: URLSearchParams | string | undefined,
    extra: Record<string, string>,
  ): Promise<Page> {
    const url = new URL(path, ORIGIN);
    const headers = new Headers({ 'user-agent': this.userAgent, ...extra });
    const cookie = this.cookieHeader(url.pathname);
    if (cookie) headers.set('cookie', cookie);
    const response = await this.lk.app.request(`${url.pathname}${url.search}`, {
      method,
      headers,
      ...(body ? { body } : {}),
    });
    const html = await response.text();
    const cookies = response.headers.getSetCookie().map(parseSetCookie);
    for (const set of cookies) this.keep(set, url.pathname);
    const page: Page = {
      status: response.status,
      headers: response.headers,
      html,
      text: textOf(html),
      location: response.headers.get('location'),
      cookies,
    };
    if (url.pathname === '/account' || url.pathname.startsWith('/account/')) {
      expect(page.headers.get('cache-control'), `${method} ${path}`).toBe('no-store');
      if (page.headers.get('content-type')?.startsWith('text/html'))
        expectPageInvariants(page, this.cookie(CSRF));
    }
    return page;
  }
}

export const setCookieOf = (page: Page, name: string) => page.cookies.find((cookie) => cookie.name === name);

// ---------------------------------------------------------------------------------------------
// What every page keeps.
// ---------------------------------------------------------------------------------------------

export const decodeEntities = (text: string) =>
  text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&#x27;', "'")
    .replaceAll('&amp;', '&');

const SCRIPT_OR_STYLE = /<(script|style)\b([^>]*)>([\s\S]*?)<\/\1\s*>/gi;

export function textOf(html: string): string {
  return decodeEntities(html.replace(SCRIPT_OR_STYLE, ' ').replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

/** Every nonce any page has carried in this file: none may come twice. */
const seenNonces = new Set<string>();

export function cspDirectives(page: Page): Map<string, string[]> {
  const csp = page.headers.get('content-security-policy');
  expect(csp, 'Content-Security-Policy').toBeTruthy();
  return new Map(
    csp!
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name!.toLowerCase(), values]),
  );
}

export function expectPageInvariants(page: Page, csrfCookie: string | undefined): void {
  const { html } = page;
  expect(page.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8$/i);
  expect(page.headers.get('cache-control')).toBe('no-store');

  // CSP: a fresh nonce, and only that nonce, for scripts and styles.
  const directives = cspDirectives(page);
  const scriptSrc = directives.get('script-src') ?? [];
  expect(scriptSrc).toHaveLength(1);
  const nonce = /^'nonce-([A-Za-z0-9+/_-]{16,}={0,2})'$/.exec(scriptSrc[0] ?? '')?.[1];
  expect(nonce, `script-src ${scriptSrc.join(' ')}`).toBeTruthy();
  expect(directives.get('style-src')).toEqual([`'nonce-${nonce}'`]);
  expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|unsafe-hashes/);
  expect(directives.get('default-src')).toEqual(["'none'"]);
  expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
  expect(directives.get('base-uri')).toEqual(["'none'"]);
  expect(directives.get('form-action')).toEqual(["'self'"]);
  expect(seenNonces.has(nonce!), 'a nonce seen on an earlier response').toBe(false);
  seenNonces.add(nonce!);

  // The document.
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html).toContain('<html lang="en">');

  // Every <script> and <style> carries this response's nonce.
  const elements = [...html.matchAll(SCRIPT_OR_STYLE)];
  expect(elements.filter((m) => m[1]!.toLowerCase() === 'script').length).toBeGreaterThan(0);
  expect(elements.filter((m) => m[1]!.toLowerCase() === 'style').length).toBeGreaterThan(0);
  for (const [, , attributes] of elements) expect(attributes!.trim()).toBe(`nonce="${nonce}"`);
  const rest = html.replace(SCRIPT_OR_STYLE, '');
  expect(rest).not.toMatch(/<\/?(script|style)\b/i);

  // No inline event handlers, no style attributes, no javascript: URLs, in any tag.
  for (const tag of rest.match(/<[a-zA-Z][^>]*>/g) ?? []) {
    const bare = tag.replace(/"[^"]*"|'[^']*'/g, '""');
    expect(bare, tag).not.toMatch(/\s(on[a-z]+|style)\s*=/i);
  }
  expect(rest).not.toMatch(/javascript:/i);

  // Never a stack trace or an internal error's text.
  expect(page.text).not.toMatch(/\bat [\w$.<>]+ \(|node_modules|\.[cm]?[jt]sx?:\d+|Error:/);

  // Every form that posts echoes the CSRF cookie.
  for (const [form] of html.matchAll(/<form\b[\s\S]*?<\/form>/g)) {
    if (!/method="post"/i.test(form)) continue;
    const echoed = /<input type="hidden" name="csrf" value="([^"]*)"/.exec(form)?.[1];
    expect(echoed, 'csrf field of a form').toBeTruthy();
    expect(echoed).toBe(csrfCookie);
  }
}

export function expectCleared(page: Page, name: string, path = '/') {
  const set = setCookieOf(page, name);
  expect(set, `${name} cleared`).toBeDefined();
  expect(set!.attributes.get('max-age')).toBe('0');
  expect(set!.attributes.get('path')).toBe(path);
}
