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
  it('every response carries the OWASP secure headers and a request id', async () => {
    for (const path of ['/health', '/.well-known/jwks.json', '/v1/users/me', '/nope']) {
      const res = await call(lk.app, path);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-request-id')).toMatch(/^[\w-]{8,}$/);
    }
  });
});
