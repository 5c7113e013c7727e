import { beforeAll, describe, expect, it } from 'vitest';
import { createPromMetrics } from '../../src/adapters/prom-metrics.js';
import { TOKEN_REFUSALS, type TokenRefusal } from '../../src/domain/bearer.js';
import { call, login, registerUser } from '../support/client.js';
import { b64, signRaw } from '../support/forge.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * What operators watch when they scale (issue #21): prom-client's default metrics (memory,
 * event-loop lag, GC) once per process whatever the number of apps, and
 * latchkey_token_validations_refused_total{reason}, one reason per refusal, from a bounded set.
 */
const TOKEN = 'metrics-token-0123456789abcdefghijklmnop';
const REFUSED = 'latchkey_token_validations_refused_total';
const database = useDatabase();
let lk: Latchkey;
let metrics: ReturnType<typeof createPromMetrics>;

beforeAll(async () => {
  metrics = createPromMetrics();
  lk = await buildLatchkey(database.current, { env: { METRICS_TOKEN: TOKEN }, appDeps: { metrics } });
});

async function scrapeText(): Promise<string> {
  const res = await lk.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** The refusal counter's series, by reason. */
function refusals(text: string): Map<string, number> {
  const byReason = new Map<string, number>();
  for (const [series, value] of samples(text)) {
    const match = series.match(/^latchkey_token_validations_refused_total\{reason="([^"]*)"\}$/);
    if (match) byReason.set(match[1]!, value);
    else expect(series.startsWith(REFUSED), series).toBe(false); // no other label, ever
  }
  return byReason;
}

/** Runs `act` and expects exactly one refusal, of `reason`, and a 401 from it. */
async function expectRefusal(reason: TokenRefusal, act: () => Promise<{ status: number }>) {
  const before = refusals(await scrapeText());
  const res = await act();
  expect(res.status).toBe(401);
  const after = refusals(await scrapeText());
  for (const name of TOKEN_REFUSALS) {
    expect((after.get(name) ?? 0) - (before.get(name) ?? 0), name).toBe(name === reason ? 1 : 0);
  }
}

const me = (token: string) => call(lk.app, '/v1/users/me', { token });
const freshPair = async (app = lk.app) => login(app, (await registerUser(app)).email);

describe('default metrics', () => {
  it('exposes memory, event-loop lag and GC beside the latchkey metrics', async () => {
    const text = await scrapeText();
    const values = samples(text);
    expect(values.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(values.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(values.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(values.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    // A histogram with no sample before the first collection: its declaration is there.
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    expect(text).toContain('# TYPE latchkey_http_request_duration_seconds histogram');
    // Each metric once: the process's and the app's registries never overlap.
    const declared = text.split('\n').filter((line) => line.startsWith('# TYPE '));
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('are registered once per process: many apps, no "already registered", one set of samplers', () => {
    const apps = Array.from({ length: 30 }, () => createPromMetrics());
    const gc = metrics.registry.getSingleMetric('nodejs_gc_duration_seconds');
    const lag = metrics.registry.getSingleMetric('nodejs_eventloop_lag_seconds');
    expect(gc).toBeDefined();
    for (const other of apps) {
      // The same metric objects, so the same PerformanceObserver and event-loop histogram.
      expect(other.registry.getSingleMetric('nodejs_gc_duration_seconds')).toBe(gc);
      expect(other.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBe(lag);
    }
    // The apps' own metrics stay their own.
    apps[0]!.tokenRefused('expired');
    expect(apps[0]!.registry.getSingleMetric(REFUSED)).not.toBe(apps[1]!.registry.getSingleMetric(REFUSED));
  });
});

describe(REFUSED, () => {
  it('has every reason from zero, and no other label', async () => {
    const byReason = refusals(await scrapeText());
    expect([...byReason.keys()].sort()).toEqual([...TOKEN_REFUSALS].sort());
  });

  it('counts an expired token as expired', async () => {
    const pair = await freshPair();
    lk.clock.advance((lk.config.accessTokenTtlSeconds + 6) * 1000); // past exp and the 5 s tolerance
    await expectRefusal('expired', () => me(pair.access_token));
  });

  it('counts a bad signature as bad_signature', async () => {
    const { access_token: token } = await freshPair();
    // A character in the middle of the signature: still a canonical token, no longer signed.
    const at = token.lastIndexOf('.') + 10;
    const tampered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    await expectRefusal('bad_signature', () => me(tampered));
  });

  it('counts a token of another issuer as wrong_issuer, and of another audience as wrong_audience', async () => {
    // Same database, so the same signing keys: only the claims differ.
    const staging = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { ISSUER: 'https://staging.example.com' },
    });
    const stagingPair = await freshPair(staging.app);
    await expectRefusal('wrong_issuer', () => me(stagingPair.access_token));

    const otherApi = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { AUDIENCE: 'https://other-api.example.com' },
    });
    const otherPair = await freshPair(otherApi.app);
    await expectRefusal('wrong_audience', () => me(otherPair.access_token));
  });

  it('counts the token of a revoked session as session_ended', async () => {
    const pair = await freshPair();
    const revoked = await call(lk.app, `/v1/sessions/${pair.session_id}`, {
      method: 'DELETE',
      token: pair.access_token,
    });
    expect(revoked.status).toBe(204);
    await expectRefusal('session_ended', () => me(pair.access_token));
    // A handler's own check counts too: logout by Bearer token.
    await expectRefusal('session_ended', () =>
      call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token }),
    );
  });

  it('counts an unknown key, a wrong type, no token, a malformed header and a step-up', async () => {
    const pair = await freshPair();
    const [header, payload] = pair.access_token.split('.') as [string, string];
    const decoded = JSON.parse(Buffer.from(header, 'base64url').toString());
    const stranger = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const unknownKid = await signRaw(
      b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'not-one-of-ours' }),
      payload,
      stranger.privateKey,
      'EdDSA',
    );
    await expectRefusal('unknown_key', () => me(unknownKid));
    const idToken = await signRaw(b64({ ...decoded, typ: 'JWT' }), payload, stranger.privateKey, 'EdDSA');
    await expectRefusal('wrong_type', () => me(idToken));
    await expectRefusal('missing', () => call(lk.app, '/v1/users/me'));
    await expectRefusal('malformed', () =>
      call(lk.app, '/v1/users/me', { headers: { authorization: 'Bearer not a token' } }),
    );
    await expectRefusal('malformed', () => me('lkr_not-an-access-token'));
    // RFC 9470: a valid token whose authentication is too old for the route.
    lk.clock.advance(301_000);
    await expectRefusal('insufficient_assurance', () =>
      call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token }),
    );
  });

  it('does not count what is not a Bearer refusal: a wrong METRICS_TOKEN, a valid token', async () => {
    const pair = await freshPair();
    const before = refusals(await scrapeText());
    expect((await me(pair.access_token)).status).toBe(200);
    const wrong = await lk.app.request('/metrics', {
      headers: { authorization: `Bearer ${'x'.repeat(40)}` },
    });
    expect(wrong.status).toBe(401);
    expect(refusals(await scrapeText())).toEqual(before);
  });
});
