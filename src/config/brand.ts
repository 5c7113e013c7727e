import { z } from 'zod';
import { isLoopbackHost } from '../lib/hosts.js';

/**
 * The account pages and the mails under the product's own name (issue #20, "Brandable"): its
 * name, logo, accent colour, support link and the app's home, and whether the sign-up page is
 * served. Nothing shows "Latchkey" to end users unless it is configured so.
 */

import { DEFAULT_BRAND_NAME } from '../domain/brand.js';

export { DEFAULT_BRAND_NAME };
/** Blue with 6.4:1 against white, either way round (WCAG 2.2 AA asks 4.5:1 for text). */
export const DEFAULT_ACCENT = '#0b57d0';
/** WCAG 2.2 SC 1.4.3: text (and white text on a button) against its background. */
export const MIN_CONTRAST = 4.5;
/** The light surfaces links and buttons sit on (style.ts: --card and --bg of the light scheme). */
const LIGHT_SURFACES = ['#ffffff', '#f6f8fa'];
/** The lighter of the dark scheme's surfaces (--card), which links must stand out from. */
const DARK_SURFACE = '#161b22';

const URL_MAX = 2000;

export const BrandEnvSchema = {
  /** Shown in every page's title and header, and in every mail. */
  BRAND_NAME: z
    .string()
    .trim()
    .min(1)
    .max(60, 'must be at most 60 characters')
    .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters')
    .optional(),
  /** An https:// image, or a path on this server ("/brand/logo.svg"); shown with the name as its alt text. */
  BRAND_LOGO_URL: z.string().max(URL_MAX, `must be at most ${URL_MAX} characters`).optional(),
  /** #rgb or #rrggbb, for buttons and links; must keep 4.5:1 against white. */
  BRAND_ACCENT_COLOR: z
    .string()
    .regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be a colour like #0b57d0 or #05c')
    .default(DEFAULT_ACCENT),
  /** A help page (https://) or a mailbox (mailto:), linked in every page's footer. */
  BRAND_SUPPORT_URL: z.string().max(URL_MAX, `must be at most ${URL_MAX} characters`).optional(),
  /** The app's own home: a "Back to <name>" link in every page's footer. */
  APP_URL: z.string().max(URL_MAX, `must be at most ${URL_MAX} characters`).optional(),
  /** The sign-up page at /account/sign-up (POST /v1/auth/register is open either way). */
  SIGNUP_PAGE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
};

export interface BrandConfig {
  name: string;
  /** An absolute https:// URL, or a path on this server; undefined for none. */
  logoUrl: string | undefined;
  /** The origin CSP img-src must name for the logo (undefined: none, or this server's own). */
  logoOrigin: string | undefined;
  /** #rrggbb, lower case. */
  accent: string;
  /** The accent's lighter shade for links on the dark scheme's surfaces (4.5:1 against them). */
  accentOnDark: string;
  supportUrl: string | undefined;
  appUrl: string | undefined;
  signupPage: boolean;
}

/** The brand of a request that failed before the pages' middleware ran, and of tests' pages. */
export const DEFAULT_BRAND: BrandConfig = {
  name: DEFAULT_BRAND_NAME,
  logoUrl: undefined,
  logoOrigin: undefined,
  accent: DEFAULT_ACCENT,
  accentOnDark: lightenUntil(DEFAULT_ACCENT, DARK_SURFACE),
  supportUrl: undefined,
  appUrl: undefined,
  signupPage: true,
};

// ---------------------------------------------------------------------------------------------
// Colour: WCAG 2.2 relative luminance and contrast ratio.
// ---------------------------------------------------------------------------------------------

/** #rgb or #rrggbb as #rrggbb in lower case. */
export function normalizeHex(hex: string): string {
  const digits = hex.slice(1).toLowerCase();
  return `#${digits.length === 3 ? [...digits].map((d) => d + d).join('') : digits}`;
}

function channels(hex: string): [number, number, number] {
  const full = normalizeHex(hex);
  return [1, 3, 5].map((i) => Number.parseInt(full.slice(i, i + 2), 16)) as [number, number, number];
}

/** WCAG 2.2 "relative luminance" of an sRGB colour. */
export function relativeLuminance(hex: string): number {
  const [r, g, b] = channels(hex).map((value) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.2 contrast ratio, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x) as [
    number,
    number,
  ];
  return (light + 0.05) / (dark + 0.05);
}

/** The colour mixed with white, a step at a time, until it has 4.5:1 against a dark surface. */
function lightenUntil(hex: string, surface: string): string {
  const base = channels(hex);
  for (let step = 0; step <= 20; step++) {
    const mixed = base.map((c) => Math.round(c + ((255 - c) * step) / 20));
    const candidate = `#${mixed.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
    if (contrastRatio(candidate, surface) >= MIN_CONTRAST) return candidate;
  }
  return '#ffffff';
}

// ---------------------------------------------------------------------------------------------
// Checks and the result.
// ---------------------------------------------------------------------------------------------

const parseUrl = (value: string): URL | undefined => {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
};

/** https://, or http:// on a loopback host outside production. */
const webUrlProblem = (value: string, production: boolean): string | undefined => {
  const url = parseUrl(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    return 'must be an absolute https:// URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  if (url.protocol === 'http:' && (production || !isLoopbackHost(url.hostname)))
    return 'must be an https:// URL (http:// only for localhost outside production)';
  return undefined;
};

/** A path on this server: one leading slash (not "//host", which is another site). */
const isLocalPath = (value: string) => /^\/(?!\/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(value);

/** Rules on the raw strings, reported with every other problem. */
export function brandCrossChecks(raw: Record<string, string>): string[] {
  const problems: string[] = [];
  const production = raw.NODE_ENV === 'production';
  const logo = raw.BRAND_LOGO_URL;
  if (logo && !isLocalPath(logo)) {
    const problem = webUrlProblem(logo, production);
    if (problem)
      problems.push(`BRAND_LOGO_URL: ${problem}, or a path on this server such as /brand/logo.svg`);
  }
  for (const name of ['APP_URL', 'BRAND_SUPPORT_URL'] as const) {
    const value = raw[name];
    if (!value) continue;
    if (name === 'BRAND_SUPPORT_URL' && value.startsWith('mailto:')) {
      if (!/^mailto:[^\s@]+@[^\s@]+$/.test(value))
        problems.push('BRAND_SUPPORT_URL: a mailto: link must be mailto:someone@example.com');
      continue;
    }
    const problem = webUrlProblem(value, production);
    if (problem)
      problems.push(`${name}: ${problem}${name === 'BRAND_SUPPORT_URL' ? ' or a mailto: link' : ''}`);
  }
  const accent = raw.BRAND_ACCENT_COLOR;
  if (accent && /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(accent)) {
    for (const surface of LIGHT_SURFACES) {
      const ratio = contrastRatio(accent, surface);
      if (ratio < MIN_CONTRAST) {
        problems.push(
          `BRAND_ACCENT_COLOR: ${accent} has ${ratio.toFixed(2)}:1 against ${surface === '#ffffff' ? 'white (the text of its buttons)' : `the page background ${surface}`}; WCAG AA needs ${MIN_CONTRAST}:1, so choose a darker shade`,
        );
        break;
      }
    }
  }
  if (raw.BRAND_NAME && raw.PRODUCT_NAME && raw.BRAND_NAME.trim() !== raw.PRODUCT_NAME)
    problems.push('PRODUCT_NAME: the old name of BRAND_NAME; set only BRAND_NAME');
  return problems;
}

type BrandEnv = z.output<z.ZodObject<typeof BrandEnvSchema>> & { PRODUCT_NAME?: string | undefined };

/** The brand from checked variables (brandCrossChecks passed). PRODUCT_NAME, the older name, stands in for BRAND_NAME. */
export function brandConfig(e: BrandEnv): BrandConfig {
  const accent = normalizeHex(e.BRAND_ACCENT_COLOR);
  const logoUrl = e.BRAND_LOGO_URL;
  const logoOrigin = logoUrl && !isLocalPath(logoUrl) ? new URL(logoUrl).origin : undefined;
  return {
    name: e.BRAND_NAME ?? e.PRODUCT_NAME ?? DEFAULT_BRAND_NAME,
    logoUrl,
    logoOrigin,
    accent,
    accentOnDark: lightenUntil(accent, DARK_SURFACE),
    supportUrl: e.BRAND_SUPPORT_URL,
    appUrl: e.APP_URL,
    signupPage: e.SIGNUP_PAGE === 'true',
  };
}
