import { beforeAll, describe, expect, it } from 'vitest';
import { createLatchkeyClient, LatchkeyError, type StepUpChallenge } from '../src/client/index.js';
import { appFetch, decodeJwtPart, registerUser } from './support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from './support/harness.js';
import { softAuthenticator } from './support/passkeys.js';
import { totpCode } from './support/totp.js';

/**
 * `@latchkey/client` and passkeys (issue #20): every passkey call of the client against the
 * server, with the software authenticator standing where an app calls
 * @simplewebauthn/browser (the client takes the options' JSON out and the credential's JSON
 * back, and imports nothing of WebAuthn).
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

/** The app as a browser on https://app.example.com would reach it: Origin set, cookies kept. */
function browserFetch() {
  const jar = new Map<string, string>();
  const fetch = async (input: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('origin', 'https://app.example.com');
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await appFetch(lk.app)(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [name, value] = line.split(';')[0]!.split('=');
      if (value) jar.set(name!, value);
      else jar.delete(name!);
    }
    return response;
  };
  return { fetch, jar };
}

const newClient = (options: Partial<Parameters<typeof createLatchkeyClient>[0]> = {}) =>
  createLatchkeyClient({
    baseUrl: lk.config.issuer,
    delivery: 'body',
    fetch: browserFetch().fetch,
    ...options,
  });

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (caught: unknown) => caught as LatchkeyError,
  );

const claims = (token: string | undefined) => decodeJwtPart(token!, 1);

/** The TOTP code of `secret` `ahead` steps from now, on the server's clock. */
const code = (secret: string, ahead = 0) =>
  totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000) + ahead * 30);

describe('@latchkey/client: passkeys', () => {
  it('adds, lists and renames a passkey, then signs in with it alone at aal2 (no email typed)', async () => {
    const { email, id } = await registerUser(lk.app);
    const app = newClient();
    await app.login(email, PASSWORD);
    const device = softAuthenticator();

    const options = await app.passkeys.registrationOptions();
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required' });
    const added = await app.passkeys.register(await device.register(options), 'Laptop');
    expect(added).toMatchObject({ name: 'Laptop', device_type: 'singleDevice', last_used_at: null });
    expect(await app.passkeys.list()).toEqual([added]);
    expect((await app.passkeys.rename(added.id, ' Work laptop ')).name).toBe('Work laptop');

    // Another device of the app, in a browser with cookie delivery.
    const browser = browserFetch();
    const other = createLatchkeyClient({ baseUrl: lk.config.issuer, fetch: browser.fetch });
    const request = await other.passkeyOptions();
    expect([request.userVerification, request.allowCredentials]).toEqual(['required', []]);
    const pair = await other.signInWithPasskey(await device.authenticate(request), {
      deviceName: 'tablet',
      remember: true,
    });
    expect(pair.refresh_token).toBeUndefined(); // in the HttpOnly cookie
    expect([...browser.jar.keys()]).toEqual([lk.config.refreshCookieName]);
    expect(claims(other.accessToken)).toMatchObject({ sub: id, acr: 'aal2', amr: ['hwk', 'user', 'mfa'] });
    expect((await other.sessions()).find((session) => session.current)).toMatchObject({
      device_name: 'tablet',
      remembered: true,
      acr: 'aal2',
    });
    expect((await other.passkeys.list())[0]!.last_used_at).not.toBeNull();
  });

  it('a refused passkey is a typed error; a copied one too, once the original has signed', async () => {
    const { email } = await registerUser(lk.app);
    const app = newClient();
    await app.login(email, PASSWORD);
    const device = softAuthenticator({ signCount: 'increment' });
    await app.passkeys.register(await device.register(await app.passkeys.registrationOptions()));
    const stranger = softAuthenticator();
    await stranger.register(await app.passkeys.registrationOptions()); // made, never sent

    const unknown = await errorOf(
      newClient().signInWithPasskey(await stranger.authenticate(await app.passkeyOptions())),
    );
    expect(unknown).toBeInstanceOf(LatchkeyError);
    expect([unknown?.status, unknown?.code]).toEqual([401, 'invalid_passkey']);

    const copy = device.clone();
    await newClient().signInWithPasskey(await device.authenticate(await app.passkeyOptions()));
    const cloned = await errorOf(
      newClient().signInWithPasskey(await copy.authenticate(await app.passkeyOptions())),
    );
    expect(cloned?.code).toBe('invalid_passkey');
  });

  it('with TOTP on: the login lists passkey, and loginMfa finishes it with one; the amr says both', async () => {
    const { email } = await registerUser(lk.app);
    const app = newClient();
    await app.login(email, PASSWORD);
    const { secret } = await app.enrollTotp();
    await app.activateTotp(code(secret));
    const key = softAuthenticator({
      userVerification: false,
      transports: ['usb'],
      attachment: 'cross-platform',
    });
    // Adding needs aal2 now: the TOTP activation made this session so.
    const added = await app.passkeys.register(await key.register(await app.passkeys.registrationOptions()));
    expect(added.name).toBe('Security key');

    const later = newClient();
    const result = await later.login(email, PASSWORD);
    if (!('mfa_required' in result)) throw new Error('expected mfa_required');
    expect(result.methods).toEqual(['totp', 'recovery_code', 'passkey']);
    const options = await later.loginMfaPasskeyOptions(result.mfa_token);
    expect(options.allowCredentials?.map((credential) => credential.id)).toEqual([key.credentials()[0]!.id]);

    // A wrong one spends an attempt of the mfa_token, and says how many are left.
    const stranger = softAuthenticator({ userVerification: false });
    await stranger.register(await app.passkeys.registrationOptions());
    const wrong = await errorOf(
      later.loginMfa(result.mfa_token, {
        passkey: await stranger.authenticate({ ...options, allowCredentials: [] }),
      }),
    );
    expect([wrong?.code, wrong?.body.attempts_left]).toEqual(['invalid_passkey', 4]);

    const again = await later.loginMfaPasskeyOptions(result.mfa_token);
    await later.loginMfa(result.mfa_token, { passkey: await key.authenticate(again) });
    // A security key without user verification: the password and the key, not `mfa`.
    expect(claims(later.accessToken)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'hwk', 'user'] });
  });

  it('step-up with a passkey, by hand and through onStepUpRequired; removing needs it', async () => {
    const { email } = await registerUser(lk.app);
    const device = softAuthenticator({ backupEligible: true, signCount: 'zero' });
    const challenges: StepUpChallenge[] = [];
    const app = newClient({
      onStepUpRequired: async (challenge) => {
        challenges.push(challenge);
        return { passkey: await device.authenticate(await app.stepUpPasskeyOptions()) };
      },
    });
    await app.login(email, PASSWORD);
    const added = await app.passkeys.register(
      await device.register(await app.passkeys.registrationOptions()),
    );
    expect([added.device_type, added.backed_up, added.name]).toEqual(['multiDevice', true, 'Synced passkey']);

    lk.clock.advance(301_000);
    const pair = await app.stepUp({ passkey: await device.authenticate(await app.stepUpPasskeyOptions()) });
    expect(claims(pair.access_token)).toMatchObject({ acr: 'aal2', amr: ['swk', 'user', 'mfa'] });
    expect(challenges).toEqual([]);

    lk.clock.advance(301_000);
    await app.passkeys.remove(added.id); // stale: asked, stepped up with the passkey, sent again
    expect(challenges).toEqual([{ maxAge: 300 }]);
    expect(await app.passkeys.list()).toEqual([]);
    expect((await errorOf(app.stepUpPasskeyOptions()))?.code).toBe('not_found');
    expect((await errorOf(app.passkeys.rename(added.id, 'x')))?.code).toBe('not_found');
  });

  it('without onStepUpRequired, a stale session gets the challenge as a typed error', async () => {
    const { email } = await registerUser(lk.app);
    const app = newClient();
    await app.login(email, PASSWORD);
    lk.clock.advance(301_000);
    const error = await errorOf(app.passkeys.registrationOptions());
    expect([error?.status, error?.code, error?.challenge]).toEqual([
      401,
      'insufficient_user_authentication',
      { maxAge: 300 },
    ]);
    // A wrong step-up passkey is 403: the access token itself is fine.
    await app.stepUp({ password: PASSWORD });
    const device = softAuthenticator();
    await app.passkeys.register(await device.register(await app.passkeys.registrationOptions()));
    const options = await app.stepUpPasskeyOptions();
    const wrong = await errorOf(
      app.stepUp({ passkey: await device.authenticate(options, { tamperSignature: true }) }),
    );
    expect([wrong?.status, wrong?.code]).toEqual([403, 'wrong_passkey']);
  });
});
