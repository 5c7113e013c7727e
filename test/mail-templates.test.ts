import { describe, expect, it } from 'vitest';
import { escapeHtml, plainValue } from '../src/services/mail-templates/escape.js';
import { renderMail } from '../src/services/mail-templates/layout.js';
import { passwordChangedMail } from '../src/services/mail-templates/password-changed.js';
import { linkWithToken, passwordResetMail } from '../src/services/mail-templates/password-reset.js';

/** The mail templates (issue #17): plain text and HTML, every value escaped. */

const HOSTILE = `<script>alert("x")</script><img src=x onerror='y'>&amp;`;

describe('escapeHtml', () => {
  it('encodes the five characters that end content or a quoted attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
    expect(escapeHtml('plain text, é ✓')).toBe('plain text, é ✓');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });
});

describe('plainValue', () => {
  it('flattens control characters and bounds the length', () => {
    expect(plainValue('a\r\nBcc: x@example.com\u0000b')).toBe('a Bcc: x@example.com b');
    expect(plainValue('x'.repeat(300), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

describe('renderMail', () => {
  it('escapes every value in the HTML part, and says the same in the text part', () => {
    const mail = renderMail({
      to: 'a@example.com',
      productName: HOSTILE,
      subject: HOSTILE,
      paragraphs: [HOSTILE],
      action: { label: HOSTILE, url: `https://example.com/?a=1&b="2"` },
      facts: [[HOSTILE, HOSTILE]],
      closing: HOSTILE,
    });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).not.toContain('<img');
    expect(mail.html).not.toContain(`onerror='`);
    expect(mail.html).toContain('href="https://example.com/?a=1&amp;b=&quot;2&quot;"');
    expect(mail.text).toContain(HOSTILE);
    expect(mail.text).toContain(`https://example.com/?a=1&b="2"`);
  });
});

describe('the password reset mail', () => {
  it('puts the URL-encoded token into the configured link, in both parts', () => {
    const link = linkWithToken('https://app.example.com/reset#t={token}', 'lkp_a+b/c=');
    expect(link).toBe('https://app.example.com/reset#t=lkp_a%2Bb%2Fc%3D');
    const mail = passwordResetMail({ to: 'a@example.com', productName: 'Acme', link, ttlSeconds: 1800 });
    expect(mail.subject).toBe('Reset your Acme password');
    expect(mail.text).toContain(link);
    expect(mail.html).toContain(link);
    expect(mail.text).toContain('30 minutes');
  });
});

describe('the password changed notice', () => {
  it('names the time, the address and the device, escaped', () => {
    const mail = passwordChangedMail({
      to: 'a@example.com',
      productName: 'Acme',
      how: 'reset',
      at: new Date('2030-01-01T12:34:56Z'),
      ipAddress: '203.0.113.7',
      userAgent: `Mozilla <b>"evil"</b>\r\nX-Injected: 1`,
    });
    expect(mail.text).toContain('2030-01-01 12:34 UTC');
    expect(mail.text).toContain('203.0.113.7');
    expect(mail.text).toContain('Mozilla <b>"evil"</b> X-Injected: 1');
    expect(mail.html).toContain('Mozilla &lt;b&gt;&quot;evil&quot;&lt;/b&gt; X-Injected: 1');
    expect(mail.text).toContain('signed out');
  });
});
