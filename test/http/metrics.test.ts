import { beforeAll, describe, expect, it } from 'vitest';
import { createPromMetrics } from '../../src/adapters/prom-metrics.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/** GET /metrics (Prometheus): protected by METRICS_TOKEN, and moving as logins and refreshes happen. */
const TOKEN = 'metrics-token-0123456789abcdefghijklmnop';
const database = useDatabase();
let lk: Latchkey;
let metrics: ReturnType<typeof createPromMetrics>;

beforeAll(async () => {
  metrics = createPromMetrics();
  lk = await buildLatchkey(database.current, { env: { METRICS_TOKEN: TOKEN }, appDeps: { metrics } });
});

async function scrape(): Promise<Map<string, number>> {
  const res = await lk.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const values = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

const outcome = (values: Map<string, number>, flow: string, result: string) =>
  values.get(`latchkey_auth_outcomes_total{flow="${flow}",result="${result}"}`) ?? 0;

describe('/metrics', () => {
  it('is 401 without the token or with another one, and 404 when no token is configured', async () => {
    expect((await lk.app.request('/metrics')).status).toBe(401);
    const wrong = await lk.app.request('/metrics', {
      headers: { authorization: `Bearer ${'x'.repeat(40)}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    const plain = await buildLatchkey(database.current, { clock: lk.clock });
    const res = await plain.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
  });

  it('counts logins, refreshes and a reuse, and the session gauges follow', async () => {
    const before = await scrape();
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    await login(lk.app, email);
    await call(lk.app, '/v1/auth/login', { body: { email, password: 'not the password at all' } });
    const next = (await refresh(lk.app, pair.refresh_token)).json;
    await refresh(lk.app, 'lkr_unknown');
    lk.clock.advance(11_000);
    expect((await refresh(lk.app, pair.refresh_token)).json.error).toBe('refresh_token_reused');
    // Through /oauth/token the reuse is an invalid_grant for the client, a reuse for the metrics.
    const other = await login(lk.app, email);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: other.refresh_token,
    }).toString();
    expect((await call(lk.app, '/oauth/token', { rawBody: body, headers: form })).status).toBe(200);
    lk.clock.advance(11_000);
    expect((await call(lk.app, '/oauth/token', { rawBody: body, headers: form })).json.error).toBe(
      'invalid_grant',
    );
    const after = await scrape();

    const delta = (flow: string, result: string) =>
      outcome(after, flow, result) - outcome(before, flow, result);
    expect(delta('login', 'ok')).toBe(3);
    expect(delta('login', 'failed')).toBe(1);
    expect(delta('refresh', 'ok')).toBe(2);
    expect(delta('refresh', 'invalid')).toBe(1);
    expect(delta('refresh', 'reused')).toBe(2);
    expect(next.refresh_token).toBeTruthy();

    // Three logins opened sessions; two were revoked by the reuses.
    expect((after.get('latchkey_sessions_active') ?? 0) - (before.get('latchkey_sessions_active') ?? 0)).toBe(
      1,
    );
    expect(after.get('latchkey_sessions_created_today')).toBeGreaterThanOrEqual(3);
    expect(after.get('latchkey_sessions_duration_seconds_avg')).toBeGreaterThan(0);
    expect(
      after.get(
        'latchkey_http_request_duration_seconds_count{method="POST",route="/v1/auth/login",status="200"}',
      ),
    ).toBeGreaterThanOrEqual(3);
  });

  it('counts throttled logins and failed MFA codes', async () => {
    const throttled = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { METRICS_TOKEN: TOKEN, LOGIN_FAILURES_PER_ACCOUNT: '1' },
      appDeps: { metrics },
    });
    const before = await scrape();
    const { email } = await registerUser(throttled.app);
    for (let i = 0; i < 3; i++) {
      await call(throttled.app, '/v1/auth/login', { body: { email, password: 'not the password at all' } });
    }
    const after = await scrape();
    expect(
      outcome(after, 'login', 'throttled') - outcome(before, 'login', 'throttled'),
    ).toBeGreaterThanOrEqual(1);

    const pair = await login(lk.app, (await registerUser(lk.app)).email);
    await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    await call(lk.app, '/v1/mfa/totp/activate', { body: { code: '000000' }, token: pair.access_token });
    expect(outcome(await scrape(), 'mfa', 'failed') - outcome(after, 'mfa', 'failed')).toBe(1);
  });

  it('reports rows removed by cleanup', async () => {
    metrics.cleaned('refresh_tokens', 7);
    metrics.cleaned('refresh_tokens', 0);
    expect((await scrape()).get('latchkey_cleanup_deleted_rows_total{table="refresh_tokens"}')).toBe(7);
  });
});
