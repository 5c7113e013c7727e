import { beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current); // ALLOWED_ORIGINS=https://app.example.com
});

const preflight = (origin: string) =>
  call(lk.app, '/v1/auth/refresh', {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });

describe('CORS', () => {
  it('an allowed origin may call with credentials, and is named exactly (never *)', async () => {
    const res = await preflight('https://app.example.com');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('another origin gets no CORS grant', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null']) {
      const res = await preflight(origin);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('actual responses name the allowed origin and expose the headers clients need', async () => {
    const res = await call(lk.app, '/v1/users/me', { headers: { origin: 'https://app.example.com' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
  });
});

describe('security headers', () => {
  const PATHS = ['/health', '/.well-known/jwks.json', '/v1/users/me', '/nope', '/docs', '/account/sign-in'];

  it('every response carries the OWASP secure headers, never lets itself be framed, and has a request id', async () => {
    for (const path of PATHS) {
      const res = await lk.app.request(path);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('x-request-id'), path).toMatch(/^[\w-]{8,}$/);
    }
  });

  it('behind an https issuer: HSTS for a year, subdomains included (OWASP HSTS Cheat Sheet)', async () => {
    const https = await buildLatchkey(database.current, { env: { ISSUER: 'https://auth.example.com' } });
    for (const path of PATHS) {
      const res = await https.app.request(path);
      expect(res.headers.get('strict-transport-security'), path).toBe('max-age=31536000; includeSubDomains');
    }
  });

  it('an http issuer (a development server) sends no HSTS, which browsers would ignore there anyway', async () => {
    for (const path of PATHS) {
      const res = await lk.app.request(path);
      expect(res.headers.get('strict-transport-security'), path).toBeNull();
    }
  });
});
