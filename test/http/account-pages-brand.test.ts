import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../../src/adapters/db/schema.js';
import {
  contrastRatio,
  DEFAULT_ACCENT,
  DEFAULT_BRAND,
  DEFAULT_BRAND_NAME,
  MIN_CONTRAST,
  relativeLuminance,
} from '../../src/config/brand.js';
import { ConfigError, envExample, parseConfig } from '../../src/config.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, testConfig, useDatabase } from '../support/harness.js';
import { Browser, cspDirectives, type Page } from './account-pages-browser.js';
import { KEYS } from './password-reset-harness.js';

/**
 * Brandable account pages (issue #20): the product's name, logo, accent colour, support link and
 * the app's home come from the configuration (BRAND_*, APP_URL), are checked at start (URLs,
 * the colour's contrast), and show on every page and in every mail; by default nothing an end
 * user sees says "Latchkey".
 */

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    testConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('brand configuration', () => {
  it('defaults: a neutral name, the blue accent, the sign-up page on, no logo or links', () => {
    const { brand, mail } = testConfig();
    expect(brand).toEqual({
      name: 'Account',
      logoUrl: undefined,
      logoOrigin: undefined,
      accent: DEFAULT_ACCENT,
      accentOnDark: DEFAULT_BRAND.accentOnDark,
      supportUrl: undefined,
      appUrl: undefined,
      signupPage: true,
    });
    expect(DEFAULT_BRAND_NAME).not.toMatch(/latchkey/i);
    // The mails carry the same name, and so does their sender.
    expect(mail.productName).toBe('Account');
    expect(mail.from).toBe('Account <no-reply@localhost>');
  });

  it('the default accent keeps WCAG AA (4.5:1) with white text on it and as link text on both light surfaces', () => {
    // WCAG 2.2's definition, checked on known values: black on white is 21:1.
    expect(relativeLuminance('#ffffff')).toBeCloseTo(1, 6);
    expect(contrastRatio('#000', '#fff')).toBeCloseTo(21, 6);
    expect(contrastRatio('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
    expect(contrastRatio(DEFAULT_ACCENT, '#ffffff')).toBeGreaterThanOrEqual(MIN_CONTRAST);
    expect(contrastRatio(DEFAULT_ACCENT, '#f6f8fa')).toBeGreaterThanOrEqual(MIN_CONTRAST);
    // Links on the dark scheme take a lighter shade that keeps 4.5:1 on its surfaces.
    for (const surface of ['#161b22', '#0d1117'])
      expect(contrastRatio(DEFAULT_BRAND.accentOnDark, surface)).toBeGreaterThanOrEqual(MIN_CONTRAST);
  });

  it('takes every variable, the colour in either hex form', () => {
    const { brand } = testConfig({
      BRAND_NAME: '  Acme Widgets ',
      BRAND_LOGO_URL: 'https://cdn.acme.test/brand/logo.svg',
      BRAND_ACCENT_COLOR: '#A0C',
      BRAND_SUPPORT_URL: 'https://help.acme.test/',
      APP_URL: 'https://app.acme.test/',
      SIGNUP_PAGE: 'false',
    });
    expect(brand).toMatchObject({
      name: 'Acme Widgets',
      logoUrl: 'https://cdn.acme.test/brand/logo.svg',
      logoOrigin: 'https://cdn.acme.test',
      accent: '#aa00cc',
      supportUrl: 'https://help.acme.test/',
      appUrl: 'https://app.acme.test/',
      signupPage: false,
    });
    expect(contrastRatio(brand.accentOnDark, '#161b22')).toBeGreaterThanOrEqual(MIN_CONTRAST);
    // A path on this server is a logo too, with no other origin to allow.
    expect(testConfig({ BRAND_LOGO_URL: '/brand/logo.png' }).brand).toMatchObject({
      logoUrl: '/brand/logo.png',
      logoOrigin: undefined,
    });
    expect(testConfig({ BRAND_SUPPORT_URL: 'mailto:help@acme.test' }).brand.supportUrl).toBe(
      'mailto:help@acme.test',
    );
  });

  it('refuses a colour that is not #rgb or #rrggbb, and one that fails 4.5:1 against white, saying its ratio', () => {
    for (const bad of ['red', '#12345', '#1234567', 'rgb(0,0,0)', '#0b57d0;}body{display:none', '#ggg'])
      expect(problemsOf({ BRAND_ACCENT_COLOR: bad }).join('\n')).toMatch(
        /^BRAND_ACCENT_COLOR: must be a colour/m,
      );
    const problems = problemsOf({ BRAND_ACCENT_COLOR: '#ffcc00' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^BRAND_ACCENT_COLOR: #ffcc00 has 1\.\d\d:1 against white .*4\.5:1/);
    // Just dark enough against white, not against the page's background (#f6f8fa): refused too.
    expect(contrastRatio('#767676', '#ffffff')).toBeGreaterThanOrEqual(4.5);
    expect(problemsOf({ BRAND_ACCENT_COLOR: '#767676' })[0]).toMatch(/against the page background #f6f8fa/);
    expect(problemsOf({ BRAND_ACCENT_COLOR: '#1a7f37' })).toEqual([]);
  });

  it('refuses logos and links that are not https (or a path, or mailto:), and over-long or odd values', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ BRAND_LOGO_URL: 'http://cdn.acme.test/logo.svg' }, /^BRAND_LOGO_URL: must be an https:\/\//],
      [{ BRAND_LOGO_URL: '//cdn.acme.test/logo.svg' }, /^BRAND_LOGO_URL: must be an absolute https/],
      [{ BRAND_LOGO_URL: 'javascript:alert(1)' }, /^BRAND_LOGO_URL: must be an absolute https/],
      [{ BRAND_LOGO_URL: 'data:image/svg+xml,<svg/>' }, /^BRAND_LOGO_URL: must be an absolute https/],
      [{ BRAND_LOGO_URL: 'https://user:pw@cdn.acme.test/logo.svg' }, /^BRAND_LOGO_URL: must not carry/],
      [
        { BRAND_LOGO_URL: `https://cdn.acme.test/${'a'.repeat(2000)}` },
        /^BRAND_LOGO_URL: must be at most 2000/,
      ],
      [{ APP_URL: 'app.acme.test' }, /^APP_URL: must be an absolute https/],
      [{ APP_URL: 'http://app.acme.test/' }, /^APP_URL: must be an https:\/\//],
      [
        { BRAND_SUPPORT_URL: 'javascript:alert(1)' },
        /^BRAND_SUPPORT_URL: must be an absolute https.* or a mailto:/,
      ],
      [{ BRAND_SUPPORT_URL: 'mailto:nobody' }, /^BRAND_SUPPORT_URL: a mailto: link must be/],
      [{ BRAND_NAME: 'x'.repeat(61) }, /^BRAND_NAME: must be at most 60/],
      [{ BRAND_NAME: 'Acme\nInjected: header' }, /^BRAND_NAME: must not contain control characters/],
      [{ SIGNUP_PAGE: 'yes' }, /^SIGNUP_PAGE: must be true or false/],
    ];
    for (const [env, problem] of cases)
      expect(problemsOf(env).join('\n'), JSON.stringify(env)).toMatch(problem);
    // http:// is for a developer's own machine only.
    expect(problemsOf({ APP_URL: 'http://localhost:5173/' })).toEqual([]);
    expect(
      problemsOf({
        NODE_ENV: 'production',
        SMTP_URL: 'smtp://mail.test',
        ISSUER: 'https://auth.acme.test',
        APP_URL: 'http://localhost:5173/',
      }),
    ).toEqual(['APP_URL: must be an https:// URL (http:// only for localhost outside production)']);
  });

  it('authenticator apps show the brand too: TOTP_ISSUER follows BRAND_NAME unless set', () => {
    expect(testConfig().totpIssuer).toBe('Account');
    expect(testConfig({ BRAND_NAME: 'Acme Widgets' }).totpIssuer).toBe('Acme Widgets');
    expect(testConfig({ BRAND_NAME: 'Acme Widgets', TOTP_ISSUER: 'Acme' }).totpIssuer).toBe('Acme');
  });

  it('PRODUCT_NAME, the older variable, still names the product when BRAND_NAME is not set; both must agree', () => {
    expect(testConfig({ PRODUCT_NAME: 'Acme' }).brand.name).toBe('Acme');
    expect(testConfig({ PRODUCT_NAME: 'Acme' }).mail.productName).toBe('Acme');
    expect(testConfig({ PRODUCT_NAME: 'Acme', BRAND_NAME: 'Acme' }).brand.name).toBe('Acme');
    expect(problemsOf({ PRODUCT_NAME: 'Acme', BRAND_NAME: 'Other' })).toEqual([
      'PRODUCT_NAME: the old name of BRAND_NAME; set only BRAND_NAME',
    ]);
  });

  it('.env.example lists the brand variables with their defaults', () => {
    const example = envExample();
    for (const line of [
      '# BRAND_NAME=',
      '# BRAND_LOGO_URL=',
      '# BRAND_ACCENT_COLOR=#0b57d0',
      '# BRAND_SUPPORT_URL=',
      '# APP_URL=',
      '# SIGNUP_PAGE=true',
      '# TOTP_ISSUER=',
    ])
      expect(example.split('\n')).toContain(line);
    expect(parseConfig({ NODE_ENV: 'test' }).brand.name).toBe('Account');
  });
});

// ---------------------------------------------------------------------------------------------
// The pages and the mails.
// ---------------------------------------------------------------------------------------------

const database = useDatabase();
let plain: Latchkey;
let branded: Latchkey;
const BRAND_ENV = {
  BRAND_NAME: 'Acme Widgets',
  BRAND_LOGO_URL: 'https://cdn.acme.test/brand/logo.svg',
  BRAND_ACCENT_COLOR: '#8a1c7c',
  BRAND_SUPPORT_URL: 'https://help.acme.test/contact',
  APP_URL: 'https://app.acme.test/',
  PASSWORD_RESETS_PER_IP: '100000',
};
beforeAll(async () => {
  plain = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
  branded = await buildLatchkey(database.current, { env: BRAND_ENV });
});

const titleOf = (page: Page) => /<title>([^<]*)<\/title>/.exec(page.html)?.[1];

/** Pages anyone can open, signed in or not. */
const PUBLIC_PAGES = [
  ['/account/sign-in', 'Sign in'],
  ['/account/sign-up', 'Create an account'],
  ['/account/password/forgot', 'Forgot your password?'],
  ['/account/no-such-page', 'Page not found'],
] as const;

async function mailsTo(userId: string) {
  const rows = await database.current.db.select().from(outbox).where(eq(outbox.userId, userId));
  return Promise.all(rows.map(async (row) => unsealMailMessage(await KEYS, row.id, row.payload!)));
}

describe('pages under the default brand', () => {
  it('say "<page> · Account" and never "Latchkey", in the title or anywhere in the page', async () => {
    const browser = new Browser(plain);
    for (const [path] of PUBLIC_PAGES) {
      const page = await browser.get(path);
      const title = titleOf(page);
      expect(title, path).toMatch(/ · Account$/);
      expect(page.html, path).not.toMatch(/latchkey/i);
    }
    // Signed in too: the devices and security pages.
    const user = await registerUser(plain.app);
    await browser.get('/account/sign-in');
    const signedIn = await browser.post('/account/sign-in', { email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    for (const path of ['/account/sessions', '/account/security', '/account/activity']) {
      const page = await browser.get(path);
      expect(page.status, path).toBe(200);
      expect(titleOf(page), path).toMatch(/ · Account$/);
      expect(page.text, path).not.toMatch(/latchkey/i);
    }
  });

  it('show the name in the header, no footer links, and CSP img-src as before', async () => {
    const page = await new Browser(plain).get('/account/sign-in');
    expect(page.html).toContain('<span class="brand">Account</span>');
    expect(page.html).not.toContain('<img');
    expect(page.html).not.toContain('<footer');
    expect(cspDirectives(page).get('img-src')).toEqual(["'self'", 'data:']);
    expect(page.html).toContain(`--accent: ${DEFAULT_ACCENT};`);
  });

  it('mails never say Latchkey and read naturally under the default name ("your password", no "Account password")', async () => {
    const user = await registerUser(plain.app);
    const browser = new Browser(plain);
    await browser.get('/account/password/forgot');
    expect((await browser.post('/account/password/forgot', { email: user.email })).status).toBe(200);
    const mails = await mailsTo(user.id);
    expect(mails.length).toBeGreaterThan(0);
    for (const mail of mails) {
      expect(`${mail.subject}\n${mail.text}\n${mail.html}`).not.toMatch(/latchkey/i);
      expect(`${mail.subject}\n${mail.text}`).not.toMatch(/Account (account|password|address)/);
      // The mail's header and signature still carry the name.
      expect(mail.text).toMatch(/— Account$/);
    }
    expect(mails.map((mail) => mail.subject)).toContain('Reset your password');
  });
});

describe('pages under a configured brand', () => {
  it('every page: "<page> · Acme Widgets", the logo with the name as its alt text, the footer links', async () => {
    const browser = new Browser(branded);
    for (const [path, heading] of PUBLIC_PAGES) {
      const page = await browser.get(path);
      expect(titleOf(page), path).toBe(`${heading} · Acme Widgets`);
      expect(page.html, path).toContain(
        '<span class="brand"><img src="https://cdn.acme.test/brand/logo.svg" alt="Acme Widgets"/></span>',
      );
      expect(page.html, path).toMatch(
        /<footer class="foot"><ul><li><a href="https:\/\/app\.acme\.test\/">Back to Acme Widgets<\/a><\/li><li><a href="https:\/\/help\.acme\.test\/contact">Help and support<\/a><\/li><\/ul><\/footer>/,
      );
      expect(page.html, path).not.toMatch(/latchkey/i);
    }
  });

  it('the accent colour is the pages’ --accent, with its lighter shade for links on the dark scheme', async () => {
    const page = await new Browser(branded).get('/account/sign-in');
    const { brand } = branded.config;
    expect(page.html).toContain(':root { --accent: #8a1c7c; }');
    expect(page.html).toContain(
      `@media (prefers-color-scheme: dark) { :root { --link: ${brand.accentOnDark}; } }`,
    );
    expect(contrastRatio(brand.accent, '#ffffff')).toBeGreaterThanOrEqual(MIN_CONTRAST);
  });

  it('CSP img-src allows the logo’s origin and nothing else; a logo on this server adds none', async () => {
    const page = await new Browser(branded).get('/account/sign-in');
    expect(cspDirectives(page).get('img-src')).toEqual(["'self'", 'data:', 'https://cdn.acme.test']);
    expect(cspDirectives(page).get('default-src')).toEqual(["'none'"]);

    const local = await buildLatchkey(database.current, { env: { BRAND_LOGO_URL: '/brand/logo.svg' } });
    const own = await new Browser(local).get('/account/sign-in');
    expect(cspDirectives(own).get('img-src')).toEqual(["'self'", 'data:']);
    expect(own.html).toContain('<img src="/brand/logo.svg" alt="Account"/>');
  });

  it('a name with markup in it is text, not markup', async () => {
    const lk = await buildLatchkey(database.current, { env: { BRAND_NAME: '<b>Acme</b> & "Co"' } });
    const page = await new Browser(lk).get('/account/sign-in');
    expect(page.html).toContain('<title>Sign in · &lt;b&gt;Acme&lt;/b&gt; &amp; &quot;Co&quot;</title>');
    expect(page.html).not.toContain('<b>Acme</b>');
  });

  it('mails carry the configured name', async () => {
    const user = await registerUser(branded.app);
    const browser = new Browser(branded);
    await browser.get('/account/password/forgot');
    expect((await browser.post('/account/password/forgot', { email: user.email })).status).toBe(200);
    const mails = await mailsTo(user.id);
    expect(mails.length).toBeGreaterThan(0);
    for (const mail of mails) {
      expect(mail.subject).toContain('Acme Widgets');
      expect(`${mail.subject}\n${mail.text}\n${mail.html}`).not.toMatch(/latchkey/i);
    }
    expect(branded.config.mail.from).toBe('Acme Widgets <no-reply@localhost>');
  });
});
