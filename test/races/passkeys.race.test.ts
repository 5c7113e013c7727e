import { type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { CEREMONIES_PER_NETWORK, PASSKEYS_PER_USER } from '../../src/services/passkeys.js';
import { call, login, registerUser } from '../support/client.js';
import { onPostgres } from '../support/database.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import {
  assertion,
  finishRegistration,
  finishSecondFactor,
  finishSignIn,
  finishStepUp,
  registerPasskey,
  registrationOptions,
  secondFactorOptions,
  signInOptions,
  softAuthenticator,
  stepUpOptions,
} from '../support/passkeys.js';
import { totpCode } from '../support/totp.js';

/**
 * Passkeys against parallel requests (issue #20, as issue #15 §1 asks of every limit): a
 * challenge is taken by one DELETE … RETURNING, so one response sent N times at once is
 * accepted once; a passkey is added under the user's row lock, so N registrations at once
 * never pass the per-user limit; the credential ID is unique across accounts, so one
 * credential registered N times at once is stored once. Real concurrency needs PostgreSQL
 * (CI runs this file there too); on PGlite the requests still overlap at every await, and
 * the same bounds hold.
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { LOGIN_FAILURES_PER_IP: '100000' } });
});

const N = 20;

const count = async (query: SQL) =>
  Number(rowsOf<{ n: number }>(await database.current.db.execute(query))[0]!.n);
const statuses = (responses: { status: number }[]) => {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
};
const errors = (responses: { status: number; json: { error?: string } }[]) => [
  ...new Set(
    responses.filter((res) => res.status !== 200 && res.status !== 201).map((res) => res.json.error),
  ),
];
const all = <T>(make: (i: number) => Promise<T>) => Promise.all(Array.from({ length: N }, (_, i) => make(i)));
const liveSessionsOf = (userId: string) =>
  count(
    sql`SELECT count(DISTINCT session_id)::int AS n FROM refresh_tokens WHERE user_id = ${userId} AND revoked_at IS NULL`,
  );
const cloneEventsOf = (userId: string) =>
  count(
    sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${userId} AND type = 'passkey_clone_suspected'`,
  );

async function userWithPasskey() {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const authenticator = softAuthenticator();
  const passkey = await registerPasskey(lk.app, pair.access_token, authenticator);
  return { user, token: pair.access_token, authenticator, passkey };
}

describe(`passkeys under parallel requests (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it(`the ceremony limit (${CEREMONIES_PER_NETWORK.points} per network) holds under ${N} options requests at once: the last 10 allowed pass, no challenge past it`, async () => {
    // A network of its own, its counter set 10 short of the limit (the limiter's one
    // conditional UPSERT counts each request before its challenge row is written).
    const network = await buildLatchkey(database.current, { clock: lk.clock, clientIp: '198.51.100.201' });
    expect((await signInOptions(network.app)).status).toBe(200);
    await database.current.db.execute(
      sql`UPDATE rate_limits SET points = ${CEREMONIES_PER_NETWORK.points - 10} WHERE key = 'passkey:net:198.51.100.201/32'`,
    );
    const before = await count(sql`SELECT count(*)::int AS n FROM webauthn_challenges`);
    const responses = await all(() => signInOptions(network.app));
    expect(statuses(responses)).toEqual({ 200: 10, 429: N - 10 });
    expect(errors(responses)).toEqual(['rate_limited']);
    expect(await count(sql`SELECT count(*)::int AS n FROM webauthn_challenges`)).toBe(before + 10);
  });

  it(`one sign-in assertion sent ${N} times at once: exactly one 200, one session`, async () => {
    const { user, authenticator, passkey } = await userWithPasskey();
    const response = await assertion(await signInOptions(lk.app), authenticator);
    const answers = await all(() => finishSignIn(lk.app, response));
    expect(statuses(answers)).toEqual({ 200: 1, 401: N - 1 });
    expect(errors(answers)).toEqual(['invalid_passkey']);
    expect(await liveSessionsOf(user.id)).toBe(2); // the password login and this one
    expect(await count(sql`SELECT sign_count::int AS n FROM passkeys WHERE id = ${passkey.id}`)).toBe(1);
    // The losers never reached the counter: no clone is suspected.
    expect(await cloneEventsOf(user.id)).toBe(0);
  });

  it(`one step-up assertion sent ${N} times at once: exactly one 200`, async () => {
    const { user, token, authenticator } = await userWithPasskey();
    const response = await assertion(await stepUpOptions(lk.app, token), authenticator);
    const answers = await all(() => finishStepUp(lk.app, token, response));
    // Each step-up is one of the user's guesses (MFA_FAILURES_PER_USER, 10), charged before
    // the check: past it the losers are 429; one response wins, whatever the interleaving.
    expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
    for (const error of errors(answers)) expect(['wrong_passkey', 'rate_limited']).toContain(error);
    expect(await cloneEventsOf(user.id)).toBe(0);
  });

  it(`one second-factor assertion sent ${N} times at once with its mfa_token: exactly one session`, async () => {
    const { user, token, authenticator } = await userWithPasskey();
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token });
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code: totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000)) },
      token,
    });
    expect(activated.status).toBe(200);
    const first = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    const mfaToken: string = first.json.mfa_token;
    const response = await assertion(await secondFactorOptions(lk.app, mfaToken), authenticator);
    const before = await liveSessionsOf(user.id);
    const answers = await all(() => finishSecondFactor(lk.app, mfaToken, response));
    // The user's guesses (MFA_FAILURES_PER_USER) and the token's 5 attempts are charged before
    // the check, so some losers are 429 or invalid_mfa_token rather than invalid_passkey; the
    // one that took the challenge is among those charged, and it alone wins.
    expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
    for (const error of errors(answers))
      expect(['invalid_passkey', 'invalid_mfa_token', 'rate_limited']).toContain(error);
    expect(await liveSessionsOf(user.id)).toBe(before + 1);
    expect(await cloneEventsOf(user.id)).toBe(0);
  });

  it(`${N} registrations at once for a user holding ${N} passkeys: exactly ${PASSKEYS_PER_USER - N} are added`, async () => {
    const user = await registerUser(lk.app);
    const { access_token: token } = await login(lk.app, user.email);
    for (let i = 0; i < N; i++) await registerPasskey(lk.app, token, softAuthenticator());
    // Options first (each sees 20 passkeys, under the limit), then every finish at once.
    const responses = await Promise.all(
      Array.from({ length: N }, async () =>
        softAuthenticator().register((await registrationOptions(lk.app, token)).json),
      ),
    );
    const answers = await all((i) => finishRegistration(lk.app, token, responses[i]!));
    expect(statuses(answers)).toEqual({ 201: PASSKEYS_PER_USER - N, 409: N - (PASSKEYS_PER_USER - N) });
    expect(errors(answers)).toEqual(['passkey_limit_reached']);
    expect(await count(sql`SELECT count(*)::int AS n FROM passkeys WHERE user_id = ${user.id}`)).toBe(
      PASSKEYS_PER_USER,
    );
    const added = await count(
      sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${user.id} AND type = 'passkey_added'`,
    );
    expect(added).toBe(PASSKEYS_PER_USER);
  });

  it(`one credential ID registered by ${N} users at once is stored once: one 201, the rest 409 passkey_exists`, async () => {
    const credentialId = 'cmFjZS1jcmVkZW50aWFsLWlkLTAx';
    const users = await all(async () => {
      const user = await registerUser(lk.app);
      return { user, token: (await login(lk.app, user.email)).access_token };
    });
    const responses = await all(async (i) =>
      softAuthenticator().register((await registrationOptions(lk.app, users[i]!.token)).json, {
        credentialId,
      }),
    );
    const answers = await all((i) => finishRegistration(lk.app, users[i]!.token, responses[i]!));
    expect(statuses(answers)).toEqual({ 201: 1, 409: N - 1 });
    expect(errors(answers)).toEqual(['passkey_exists']);
    expect(
      await count(sql`SELECT count(*)::int AS n FROM passkeys WHERE credential_id = ${credentialId}`),
    ).toBe(1);
  });
});
