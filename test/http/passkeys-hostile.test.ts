import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { CEREMONIES_PER_NETWORK, CEREMONY_TIMEOUT_MS } from '../../src/services/passkeys.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import {
  addPasskey,
  assertion,
  finishRegistration,
  finishSecondFactor,
  finishSignIn,
  finishStepUp,
  registerPasskey,
  registrationOptions,
  secondFactorOptions,
  secondFactorWithPasskey,
  signInOptions,
  signInWithPasskey,
  softAuthenticator,
  stepUpOptions,
  stepUpWithPasskey,
  withoutAllowList,
} from '../support/passkeys.js';
import { base64url, type SoftAuthenticator } from '../support/soft-authenticator.js';
import { totpCode } from '../support/totp.js';

/**
 * Hostile passkey responses over the HTTP API (issue #20; W3C WebAuthn Level 3 §7.1, §7.2,
 * §13.4): each is refused with the contract's error code, and the account is left as it was
 * (no session opened or stepped up, no passkey added, no counter or last use moved). The
 * software authenticator makes each response hostile in one precise way; the rest of it is
 * a real ES256 response.
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  // Refused sign-ins count against the network's login budget; this file refuses many.
  lk = await buildLatchkey(database.current, { env: { LOGIN_FAILURES_PER_IP: '100000' } });
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const EVIL_ORIGIN = 'https://evil.example';

const rows = async <T>(query: SQL) => rowsOf<T>(await database.current.db.execute(query));
const count = async (query: SQL) => Number((await rows<{ n: number }>(query))[0]!.n);
const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const utf8 = (text: string) => new TextEncoder().encode(text);

/**
 * What a refused ceremony must not change: the user's passkeys (counter, backup state, last
 * use), their refresh-token rows (no session opened, rotated or stepped up), and their
 * security events other than the failures a refusal records.
 */
async function stateOf(userId: string) {
  return {
    passkeys: await rows(
      sql`SELECT id, sign_count::int AS sign_count, backed_up, last_used_at, name FROM passkeys WHERE user_id = ${userId} ORDER BY id`,
    ),
    tokens: await rows(
      sql`SELECT id, acr, amr, auth_time, rotated_at, revoked_at FROM refresh_tokens WHERE user_id = ${userId} ORDER BY id`,
    ),
    events: await rows(
      sql`SELECT type FROM security_events WHERE user_id = ${userId} AND type NOT IN ('mfa_failed', 'login_failed') ORDER BY id`,
    ),
  };
}

/** Runs `act` and checks the user's state is what it was before. */
async function unchanged<T>(userIds: string | string[], act: () => Promise<T>): Promise<T> {
  const ids = Array.isArray(userIds) ? userIds : [userIds];
  const before = await Promise.all(ids.map(stateOf));
  const result = await act();
  expect(await Promise.all(ids.map(stateOf))).toEqual(before);
  return result;
}

function expectError(res: { status: number; json: { error?: string } }, status: number, error: string) {
  expect({ status: res.status, error: res.json?.error }).toEqual({ status, error });
}

const cloneEvents = (userId: string) =>
  rows<{ details: Record<string, unknown> }>(
    sql`SELECT details FROM security_events WHERE user_id = ${userId} AND type = 'passkey_clone_suspected' ORDER BY created_at`,
  );

/** A new user, a fresh session of theirs, and one passkey on `authenticator`. */
async function userWithPasskey(authenticator: SoftAuthenticator = softAuthenticator()) {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const passkey = await registerPasskey(lk.app, pair.access_token, authenticator);
  return { user, pair, token: pair.access_token, authenticator, passkey };
}

/** A user with TOTP and a passkey; `mfaToken()` starts a password login of theirs. */
async function mfaUserWithPasskey(authenticator: SoftAuthenticator = softAuthenticator()) {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: totpCode(secret, nowSeconds()) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  const mfaToken = async (): Promise<string> => {
    const res = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(res.json.mfa_required).toBe(true);
    return res.json.mfa_token;
  };
  lk.clock.advance(30 * SECOND);
  const code = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: await mfaToken(), code: totpCode(secret, nowSeconds()) },
  });
  expect(code.status).toBe(200);
  const passkey = await registerPasskey(lk.app, code.json.access_token, authenticator);
  return { user, token: code.json.access_token as string, authenticator, passkey, mfaToken };
}

// ---------------------------------------------------------------------------------------------

describe('challenges are single use, short-lived and of one purpose', () => {
  it('replayed: the same sign-in response twice, the second is 401 invalid_passkey', async () => {
    const { user, authenticator } = await userWithPasskey();
    const first = await signInWithPasskey(lk.app, authenticator);
    expect(first.status).toBe(200);
    await unchanged(user.id, async () =>
      expectError(await finishSignIn(lk.app, first.response), 401, 'invalid_passkey'),
    );
  });

  it('replayed: the same step-up response twice, the second is 403 wrong_passkey', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    const first = await stepUpWithPasskey(lk.app, token, authenticator);
    expect(first.status).toBe(200);
    await unchanged(user.id, async () =>
      expectError(await finishStepUp(lk.app, first.json.access_token, first.response), 403, 'wrong_passkey'),
    );
  });

  it('replayed: a second-factor response sent again with a new mfa_token is 401 invalid_passkey', async () => {
    const { user, authenticator, mfaToken } = await mfaUserWithPasskey();
    const first = await secondFactorWithPasskey(lk.app, await mfaToken(), authenticator);
    expect(first.status).toBe(200);
    const next = await mfaToken();
    await unchanged(user.id, async () =>
      expectError(await finishSecondFactor(lk.app, next, first.response), 401, 'invalid_passkey'),
    );
  });

  it('expired: answered 5 minutes and 1 second after the options, every ceremony is refused', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    const signIn = await signInOptions(lk.app);
    const stepUp = await stepUpOptions(lk.app, token);
    const registration = await registrationOptions(lk.app, token);
    lk.clock.advance(CEREMONY_TIMEOUT_MS + SECOND);
    await unchanged(user.id, async () => {
      expectError(await finishSignIn(lk.app, await assertion(signIn, authenticator)), 401, 'invalid_passkey');
      expectError(
        await finishStepUp(lk.app, token, await assertion(stepUp, authenticator)),
        403,
        'wrong_passkey',
      );
      const created = await softAuthenticator().register(registration.json);
      expectError(await finishRegistration(lk.app, token, created), 400, 'passkey_not_accepted');
    });
    // A second before the end, it is still good.
    const late = await signInOptions(lk.app);
    lk.clock.advance(CEREMONY_TIMEOUT_MS - SECOND);
    expect((await finishSignIn(lk.app, await assertion(late, authenticator))).status).toBe(200);
  });

  it('expired: a second-factor challenge answered after 5 minutes is refused', async () => {
    const { user, authenticator, mfaToken } = await mfaUserWithPasskey();
    const token = await mfaToken();
    const options = await secondFactorOptions(lk.app, token);
    lk.clock.advance(CEREMONY_TIMEOUT_MS + SECOND);
    // The mfa_token expired with it (both live 5 minutes): refused either way.
    const res = await unchanged(user.id, async () =>
      finishSecondFactor(lk.app, token, await assertion(options, authenticator)),
    );
    expect(res.status).toBe(401);
    expect(['invalid_passkey', 'invalid_mfa_token']).toContain(res.json.error);
  });

  it('another purpose: registration options answered as a sign-in, sign-in options answered as a registration', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    const registration = await registrationOptions(lk.app, token);
    const signIn = await signInOptions(lk.app);
    await unchanged(user.id, async () => {
      // An assertion over the registration's challenge.
      const asSignIn = await authenticator.authenticate({
        challenge: registration.json.challenge,
        rpId: 'localhost',
        allowCredentials: [],
        userVerification: 'required',
      });
      expectError(await finishSignIn(lk.app, asSignIn), 401, 'invalid_passkey');
      // A new credential over the sign-in's challenge.
      const asRegistration = await softAuthenticator().register(registration.json, {
        challenge: signIn.json.challenge,
      });
      expectError(await finishRegistration(lk.app, token, asRegistration), 400, 'passkey_not_accepted');
    });
  });

  it('another purpose: a step-up challenge answered as a sign-in or as a second factor', async () => {
    const { user, token, authenticator, mfaToken } = await mfaUserWithPasskey();
    const stepUp = await stepUpOptions(lk.app, token);
    const response = await assertion(stepUp, authenticator);
    const mfa = await mfaToken();
    await unchanged(user.id, async () => {
      expectError(await finishSignIn(lk.app, response), 401, 'invalid_passkey');
      expectError(await finishSecondFactor(lk.app, mfa, response), 401, 'invalid_passkey');
    });
    // Taken by neither: its own ceremony still finishes.
    expect((await finishStepUp(lk.app, token, response)).status).toBe(200);
  });

  it('another session: session A’s step-up challenge sent by session B is 403 wrong_passkey', async () => {
    const { user, token: sessionA, authenticator } = await userWithPasskey();
    const sessionB = (await login(lk.app, user.email)).access_token;
    lk.clock.advance(10 * MINUTE);
    const response = await assertion(await stepUpOptions(lk.app, sessionA), authenticator);
    await unchanged(user.id, async () =>
      expectError(await finishStepUp(lk.app, sessionB, response), 403, 'wrong_passkey'),
    );
  });

  it('another session: registration options of session A finished by session B are 400 passkey_not_accepted', async () => {
    const { user, token: sessionA } = await userWithPasskey();
    const sessionB = (await login(lk.app, user.email)).access_token;
    const created = await softAuthenticator().register((await registrationOptions(lk.app, sessionA)).json);
    await unchanged(user.id, async () =>
      expectError(await finishRegistration(lk.app, sessionB, created), 400, 'passkey_not_accepted'),
    );
  });

  it('another login: a second-factor challenge bound to one mfa_token, sent with another', async () => {
    const { user, authenticator, mfaToken } = await mfaUserWithPasskey();
    const first = await mfaToken();
    const second = await mfaToken();
    const response = await assertion(await secondFactorOptions(lk.app, first), authenticator);
    const res = await unchanged(user.id, () => finishSecondFactor(lk.app, second, response));
    expectError(res, 401, 'invalid_passkey');
    expect(res.json.attempts_left).toBe(4);
  });

  it('a made-up challenge, and a response of the other ceremony type, are refused', async () => {
    const { user, authenticator } = await userWithPasskey();
    await unchanged(user.id, async () => {
      const options = await signInOptions(lk.app);
      const madeUp = await assertion(options, authenticator, { challenge: base64url(utf8('x'.repeat(32))) });
      expectError(await finishSignIn(lk.app, madeUp), 401, 'invalid_passkey');
      const swapped = await assertion(await signInOptions(lk.app), authenticator, {
        type: 'webauthn.create',
      });
      expectError(await finishSignIn(lk.app, swapped), 401, 'invalid_passkey');
    });
  });
});

describe('origin and relying party', () => {
  it('a phishing origin is refused in every ceremony', async () => {
    const { user, token, authenticator, mfaToken } = await mfaUserWithPasskey();
    const mfa = await mfaToken();
    await unchanged(user.id, async () => {
      for (const origin of [EVIL_ORIGIN, 'http://localhost:3001', 'https://localhost:3000']) {
        expectError(
          await signInWithPasskey(lk.app, authenticator, { overrides: { origin } }),
          401,
          'invalid_passkey',
        );
        expectError(await stepUpWithPasskey(lk.app, token, authenticator, { origin }), 403, 'wrong_passkey');
        const created = await addPasskey(lk.app, token, softAuthenticator(), { overrides: { origin } });
        expectError(created, 400, 'passkey_not_accepted');
      }
      expectError(
        await secondFactorWithPasskey(lk.app, mfa, authenticator, { origin: EVIL_ORIGIN }),
        401,
        'invalid_passkey',
      );
    });
  });

  it('a credential of another RP ID is refused', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    await unchanged(user.id, async () => {
      for (const rpId of ['evil.example', 'localhost.evil.example', 'host']) {
        expectError(
          await signInWithPasskey(lk.app, authenticator, { overrides: { rpId } }),
          401,
          'invalid_passkey',
        );
        expectError(await stepUpWithPasskey(lk.app, token, authenticator, { rpId }), 403, 'wrong_passkey');
        expectError(
          await addPasskey(lk.app, token, softAuthenticator(), { overrides: { rpId } }),
          400,
          'passkey_not_accepted',
        );
      }
    });
  });
});

describe('whose passkey', () => {
  it('user B’s passkey in user A’s step-up is 403 wrong_passkey; B’s passkey is not touched', async () => {
    const a = await userWithPasskey();
    const b = await userWithPasskey();
    const response = await b.authenticator.authenticate(
      withoutAllowList(await stepUpOptions(lk.app, a.token)).json,
    );
    await unchanged([a.user.id, b.user.id], async () =>
      expectError(await finishStepUp(lk.app, a.token, response), 403, 'wrong_passkey'),
    );
  });

  it('user B’s passkey as user A’s second factor is 401 invalid_passkey', async () => {
    const a = await mfaUserWithPasskey();
    const b = await userWithPasskey();
    const mfa = await a.mfaToken();
    const response = await b.authenticator.authenticate(
      withoutAllowList(await secondFactorOptions(lk.app, mfa)).json,
    );
    await unchanged([a.user.id, b.user.id], async () =>
      expectError(await finishSecondFactor(lk.app, mfa, response), 401, 'invalid_passkey'),
    );
  });

  it('B’s signature claiming A’s credential ID is refused, and is no clone of A’s', async () => {
    const a = await userWithPasskey();
    const b = await userWithPasskey();
    const claimed = a.authenticator.credentials()[0]!.id;
    await unchanged([a.user.id, b.user.id], async () => {
      expectError(
        await signInWithPasskey(lk.app, b.authenticator, { overrides: { credentialId: claimed } }),
        401,
        'invalid_passkey',
      );
      expectError(
        await finishStepUp(
          lk.app,
          a.token,
          await assertion(withoutAllowList(await stepUpOptions(lk.app, a.token)), b.authenticator, {
            credentialId: claimed,
          }),
        ),
        403,
        'wrong_passkey',
      );
    });
    expect(await cloneEvents(a.user.id)).toEqual([]);
  });

  it('a userHandle of another user, or none, is refused at sign-in', async () => {
    const a = await userWithPasskey();
    const b = await userWithPasskey();
    await unchanged([a.user.id, b.user.id], async () => {
      const asB = base64url(utf8(b.user.id));
      expectError(
        await signInWithPasskey(lk.app, a.authenticator, { overrides: { userHandle: asB } }),
        401,
        'invalid_passkey',
      );
      // A discoverable credential always returns its user handle (WebAuthn §7.2 step 6).
      expectError(
        await signInWithPasskey(lk.app, a.authenticator, { overrides: { userHandle: null } }),
        401,
        'invalid_passkey',
      );
      expectError(
        await stepUpWithPasskey(lk.app, a.token, a.authenticator, { userHandle: asB }),
        403,
        'wrong_passkey',
      );
    });
  });

  it('a passkey that was removed no longer signs in or steps up', async () => {
    const { user, token, authenticator, passkey } = await userWithPasskey();
    await registerPasskey(lk.app, token, softAuthenticator()); // so that step-up has options
    expect((await call(lk.app, `/v1/passkeys/${passkey.id}`, { method: 'DELETE', token })).status).toBe(204);
    await unchanged(user.id, async () => {
      expectError(await signInWithPasskey(lk.app, authenticator), 401, 'invalid_passkey');
      const options = withoutAllowList(await stepUpOptions(lk.app, token));
      expectError(
        await finishStepUp(lk.app, token, await assertion(options, authenticator)),
        403,
        'wrong_passkey',
      );
    });
  });
});

describe('signature counter (WebAuthn §6.1.1)', () => {
  it('a cloned authenticator: the one used second is refused and passkey_clone_suspected is recorded', async () => {
    const { user, token, authenticator, passkey } = await userWithPasskey();
    expect((await signInWithPasskey(lk.app, authenticator)).status).toBe(200); // counter 1
    const twin = authenticator.clone();
    expect((await signInWithPasskey(lk.app, authenticator)).status).toBe(200); // counter 2
    const stored = await stateOf(user.id);
    expect(stored.passkeys).toMatchObject([{ sign_count: 2 }]);
    const res = await signInWithPasskey(lk.app, twin); // reports 2 again
    expectError(res, 401, 'invalid_passkey');
    const after = await stateOf(user.id);
    expect(after.passkeys).toEqual(stored.passkeys);
    expect(after.tokens).toEqual(stored.tokens);
    expect(await cloneEvents(user.id)).toEqual([
      { details: { passkey_id: passkey.id, name: 'Passkey', stored_count: 2, seen_count: 2 } },
    ]);
    // The user sees it in their activity.
    const events = await call(lk.app, '/v1/users/me/events?limit=100', { token });
    expect(events.json.events.map((event: { type: string }) => event.type)).toContain(
      'passkey_clone_suspected',
    );
    // The original authenticator, counting on, still works.
    expect((await signInWithPasskey(lk.app, authenticator)).status).toBe(200);
  });

  it('a counter that went backwards is refused as a clone in a step-up too', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    expect((await stepUpWithPasskey(lk.app, token, authenticator)).status).toBe(200);
    const second = await stepUpWithPasskey(lk.app, token, authenticator); // counter 2
    expect(second.status).toBe(200);
    const before = await stateOf(user.id);
    const res = await stepUpWithPasskey(lk.app, second.json.access_token, authenticator, { signCount: 1 });
    expectError(res, 403, 'wrong_passkey');
    const after = await stateOf(user.id);
    expect(after.passkeys).toEqual(before.passkeys);
    expect(before.passkeys).toMatchObject([{ sign_count: 2 }]);
    expect(after.tokens).toEqual(before.tokens);
    expect(await cloneEvents(user.id)).toMatchObject([{ details: { stored_count: 2, seen_count: 1 } }]);
  });

  it('a tampered signature is refused and is NOT a clone, whatever counter it claims', async () => {
    const { user, authenticator } = await userWithPasskey();
    expect((await signInWithPasskey(lk.app, authenticator)).status).toBe(200);
    await unchanged(user.id, async () => {
      for (const signCount of [undefined, 0, 1]) {
        const overrides = { tamperSignature: true, ...(signCount === undefined ? {} : { signCount }) };
        expectError(await signInWithPasskey(lk.app, authenticator, { overrides }), 401, 'invalid_passkey');
      }
    });
    expect(await cloneEvents(user.id)).toEqual([]);
  });
});

describe('user presence and verification', () => {
  it('a sign-in without UV is refused (a passkey alone must verify its user)', async () => {
    const { user, authenticator } = await userWithPasskey();
    await unchanged(user.id, async () =>
      expectError(
        await signInWithPasskey(lk.app, authenticator, { overrides: { userVerified: false } }),
        401,
        'invalid_passkey',
      ),
    );
  });

  it('without user presence (UP) every ceremony is refused', async () => {
    const { user, token, authenticator, mfaToken } = await mfaUserWithPasskey();
    const mfa = await mfaToken();
    await unchanged(user.id, async () => {
      const overrides = { userPresent: false };
      expectError(await signInWithPasskey(lk.app, authenticator, { overrides }), 401, 'invalid_passkey');
      expectError(await stepUpWithPasskey(lk.app, token, authenticator, overrides), 403, 'wrong_passkey');
      expectError(
        await secondFactorWithPasskey(lk.app, mfa, authenticator, overrides),
        401,
        'invalid_passkey',
      );
      expectError(
        await addPasskey(lk.app, token, softAuthenticator(), { overrides }),
        400,
        'passkey_not_accepted',
      );
    });
  });
});

describe('malformed and oversized bodies: 4xx, never 500', () => {
  /** A real assertion to break one field of. */
  async function realAssertion() {
    const { authenticator } = await userWithPasskey();
    return assertion(await signInOptions(lk.app), authenticator);
  }

  type Mutation = [string, (response: AuthenticationResponseJSON) => unknown];
  const schemaRefusals: Mutation[] = [
    ['no response', () => undefined],
    ['a string', () => 'public-key'],
    ['an array', (r) => [r]],
    ['type is not public-key', (r) => ({ ...r, type: 'password' })],
    ['id is not base64url', (r) => ({ ...r, id: 'abc+/def==', rawId: 'abc+/def==' })],
    ['id is empty', (r) => ({ ...r, id: '', rawId: '' })],
    ['id is a number', (r) => ({ ...r, id: 42 })],
    [
      'clientDataJSON is not base64url',
      (r) => ({ ...r, response: { ...r.response, clientDataJSON: '{"a":1}' } }),
    ],
    ['clientDataJSON is a number', (r) => ({ ...r, response: { ...r.response, clientDataJSON: 1 } })],
    [
      'clientDataJSON is 5,000 characters',
      (r) => ({ ...r, response: { ...r.response, clientDataJSON: 'A'.repeat(5000) } }),
    ],
    [
      'signature is 1,025 characters',
      (r) => ({ ...r, response: { ...r.response, signature: 'A'.repeat(1025) } }),
    ],
    [
      'userHandle is 129 characters',
      (r) => ({ ...r, response: { ...r.response, userHandle: 'A'.repeat(129) } }),
    ],
    [
      'authenticatorData is missing',
      (r) => ({ ...r, response: { ...r.response, authenticatorData: undefined } }),
    ],
    ['response.response is null', (r) => ({ ...r, response: null })],
  ];

  it.each(schemaRefusals)('sign-in: %s is 400 invalid_request', async (_, mutate) => {
    const response = await realAssertion();
    const res = await call(lk.app, '/v1/auth/passkey', { body: { response: mutate(response) } });
    expectError(res, 400, 'invalid_request');
  });

  it('the same refusals at the second factor, the step-up and the registration finish', async () => {
    const { token, authenticator, mfaToken } = await mfaUserWithPasskey();
    const response = await assertion(await stepUpOptions(lk.app, token), authenticator);
    const mfa = await mfaToken();
    for (const [label, mutate] of schemaRefusals) {
      const broken = mutate(response);
      const stepUp = await call(lk.app, '/v1/auth/step-up', { body: { passkey: broken }, token });
      expect([label, stepUp.status, stepUp.json.error]).toEqual([label, 400, 'invalid_request']);
      const second = await call(lk.app, '/v1/auth/login/mfa', { body: { mfa_token: mfa, passkey: broken } });
      expect([label, second.status, second.json.error]).toEqual([label, 400, 'invalid_request']);
    }
    // None of them was checked: the challenge is still there, and the mfa_token has all its attempts.
    expect((await finishStepUp(lk.app, token, response)).status).toBe(200);
    const registration = await registrationOptions(lk.app, token);
    const created = await softAuthenticator().register(registration.json);
    for (const broken of [
      { ...created, response: { ...created.response, attestationObject: 'A'.repeat(20_000) } },
      { ...created, response: { ...created.response, attestationObject: 'not base64url!' } },
      { ...created, response: { ...created.response, transports: ['usb', 'carrier-pigeon'] } },
      { ...created, type: 'public-key ' },
      { ...created, response: undefined },
    ]) {
      const res = await call(lk.app, '/v1/passkeys', { body: { response: broken }, token });
      expectError(res, 400, 'invalid_request');
    }
    expect((await finishRegistration(lk.app, token, created)).status).toBe(201);
  });

  it('a 1 MB clientDataJSON is refused before it is read: 413 payload_too_large', async () => {
    const response = await realAssertion();
    const huge = { ...response, response: { ...response.response, clientDataJSON: 'A'.repeat(1024 * 1024) } };
    for (const [path, body] of [
      ['/v1/auth/passkey', { response: huge }],
      ['/v1/auth/login/mfa', { mfa_token: 'lkm_x', passkey: huge }],
      ['/v1/passkeys', { response: huge }],
    ] as const) {
      const res = await call(lk.app, path, { body });
      expect(res.status, path).toBe(413);
      expect(res.json.error).toBe('payload_too_large');
    }
  });

  it('well-formed fields with nonsense inside are 401 invalid_passkey (not 400, not 500)', async () => {
    const { authenticator } = await userWithPasskey();
    const clientData = (value: unknown) =>
      base64url(utf8(typeof value === 'string' ? value : JSON.stringify(value)));
    const inResponse =
      (fields: Partial<AuthenticationResponseJSON['response']>) => (r: AuthenticationResponseJSON) => ({
        ...r,
        response: { ...r.response, ...fields },
      });
    const cases: [string, (r: AuthenticationResponseJSON) => AuthenticationResponseJSON][] = [
      ['clientDataJSON is not JSON', inResponse({ clientDataJSON: clientData('not json {') })],
      ['clientDataJSON is a JSON array', inResponse({ clientDataJSON: clientData([1, 2]) })],
      ['clientDataJSON is null', inResponse({ clientDataJSON: clientData('null') })],
      [
        'challenge is a number',
        inResponse({ clientDataJSON: clientData({ type: 'webauthn.get', challenge: 7 }) }),
      ],
      [
        'challenge is 200 characters',
        inResponse({ clientDataJSON: clientData({ type: 'webauthn.get', challenge: 'A'.repeat(200) }) }),
      ],
      ['clientDataJSON is empty', inResponse({ clientDataJSON: '' })],
      ['authenticatorData is garbage', inResponse({ authenticatorData: 'AAAA' })],
      ['authenticatorData is empty', inResponse({ authenticatorData: '' })],
      ['signature is garbage', inResponse({ signature: 'AAAA' })],
      ['signature is empty', inResponse({ signature: '' })],
      [
        'an unknown credential',
        (r) => ({ ...r, id: 'AAAAAAAAAAAAAAAAAAAAAA', rawId: 'AAAAAAAAAAAAAAAAAAAAAA' }),
      ],
      ['id and rawId differ', (r) => ({ ...r, rawId: 'AAAAAAAAAAAAAAAAAAAAAA' })],
    ];
    for (const [label, mutate] of cases) {
      // A fresh ceremony each: the challenge is taken by the first response that names it.
      const broken = mutate(await assertion(await signInOptions(lk.app), authenticator));
      const res = await finishSignIn(lk.app, broken);
      expect([label, res.status, res.json.error]).toEqual([label, 401, 'invalid_passkey']);
    }
  });

  it('a body that is not JSON, or the wrong media type', async () => {
    const notJson = await call(lk.app, '/v1/auth/passkey', {
      rawBody: '{"response":',
      headers: { 'content-type': 'application/json' },
    });
    expectError(notJson, 400, 'invalid_request');
    const form = await call(lk.app, '/v1/auth/passkey', {
      rawBody: 'response=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(form, 415, 'unsupported_media_type');
  });
});

describe('rate limits', () => {
  /** An app whose requests come from their own network (the counters are per network). */
  const fromNetwork = (clientIp: string, env: Record<string, string> = {}) =>
    buildLatchkey(database.current, { clock: lk.clock, clientIp, env });
  const ceremonyCounter = (network: string) =>
    rows<{ points: number }>(sql`SELECT points FROM rate_limits WHERE key = ${`passkey:net:${network}`}`);
  const allChallenges = () => count(sql`SELECT count(*)::int AS n FROM webauthn_challenges`);

  it(`options are counted per network before a challenge is written: past ${CEREMONIES_PER_NETWORK.points} in 5 minutes, 429 with Retry-After`, async () => {
    const network = await fromNetwork('198.51.100.77');
    const { token } = await userWithPasskey(); // a session to ask options with (sessions work from any network)
    const mfa = await mfaUserWithPasskey();
    const mfaToken = await mfa.mfaToken();
    expect((await signInOptions(network.app)).status).toBe(200);
    expect(await ceremonyCounter('198.51.100.77/32')).toEqual([{ points: 1 }]);
    expect((await registrationOptions(network.app, token)).status).toBe(200);
    expect((await stepUpOptions(network.app, token)).status).toBe(200);
    expect((await secondFactorOptions(network.app, mfaToken)).status).toBe(200);
    expect(await ceremonyCounter('198.51.100.77/32')).toEqual([{ points: 4 }]);
    // 300 requests would only be slow: the counter is set where they would have left it.
    await database.current.db.execute(
      sql`UPDATE rate_limits SET points = ${CEREMONIES_PER_NETWORK.points} WHERE key = 'passkey:net:198.51.100.77/32'`,
    );
    const before = await allChallenges();
    for (const res of [
      await signInOptions(network.app),
      await registrationOptions(network.app, token),
      await stepUpOptions(network.app, token),
      await secondFactorOptions(network.app, mfaToken),
    ]) {
      expectError(res, 429, 'rate_limited');
      const wait = Number(res.headers.get('retry-after'));
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(CEREMONIES_PER_NETWORK.windowMs / 1000);
    }
    expect(await allChallenges()).toBe(before);
    // Another network is not held back.
    expect((await signInOptions((await fromNetwork('198.51.100.78')).app)).status).toBe(200);
    // The window ends.
    lk.clock.advance(CEREMONIES_PER_NETWORK.windowMs + SECOND);
    expect((await signInOptions(network.app)).status).toBe(200);
  });

  it('passkey sign-ins count against the network’s login budget (LOGIN_FAILURES_PER_IP); a success gives its attempt back', async () => {
    const network = await fromNetwork('198.51.100.90', { LOGIN_FAILURES_PER_IP: '3' });
    const { user, authenticator } = await userWithPasskey();
    for (let i = 0; i < 5; i++)
      expect((await signInWithPasskey(network.app, authenticator)).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expectError(
        await signInWithPasskey(network.app, authenticator, { overrides: { tamperSignature: true } }),
        401,
        'invalid_passkey',
      );
    // Counted before the check: even a good passkey waits now, and is not checked.
    const held = await unchanged(user.id, () => signInWithPasskey(network.app, authenticator));
    expectError(held, 429, 'rate_limited');
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
