import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import {
  base64url,
  derSignature,
  fromBase64url,
  SOFT_AUTHENTICATOR_AAGUID,
  SoftAuthenticator,
  type SoftAuthenticatorSettings,
} from './support/soft-authenticator.js';

/**
 * The software authenticator against @simplewebauthn/server itself, no Latchkey server: its
 * honest responses verify, and each override makes the library's check that it targets fail
 * (or, for the two the library leaves to the relying party, shows what the RP must compare).
 */

const ORIGIN = 'http://localhost:3000';
const RP_ID = 'localhost';
const utf8 = (text: string) => new TextEncoder().encode(text);

const authenticatorFor = (settings: Partial<SoftAuthenticatorSettings> = {}) =>
  new SoftAuthenticator({ origin: ORIGIN, rpId: RP_ID, ...settings });

/** Options as src/services/passkeys.ts asks them: discoverable, UV preferred, ES256/EdDSA/RS256. */
const registrationOptions = (userId = 'user-1', excludeCredentials: { id: string }[] = []) =>
  generateRegistrationOptions({
    rpName: 'Account',
    rpID: RP_ID,
    userName: `${userId}@example.com`,
    userID: utf8(userId),
    attestationType: 'none',
    excludeCredentials,
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    supportedAlgorithmIDs: [-7, -8, -257],
  });

const verifyRegistration = (
  response: RegistrationResponseJSON,
  challenge: string,
  requireUserVerification = true,
) =>
  verifyRegistrationResponse({
    response,
    expectedChallenge: challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification,
  });

/**
 * Registers a credential for `userId` and returns what a relying party stores of it (UV not
 * required, as passkeys.ts registers: a security key without a PIN is still a second factor).
 */
async function registered(authenticator: SoftAuthenticator, userId = 'user-1'): Promise<WebAuthnCredential> {
  const options = await registrationOptions(userId);
  const verification = await verifyRegistration(
    await authenticator.register(options),
    options.challenge,
    false,
  );
  expect(verification.verified).toBe(true);
  return verification.registrationInfo!.credential;
}

const assertionOptions = (
  allow: WebAuthnCredential[] = [],
  userVerification: 'required' | 'preferred' = 'preferred',
) =>
  generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: allow.map((credential) => ({ id: credential.id })),
    userVerification,
  });

const verifyAssertion = (
  response: AuthenticationResponseJSON,
  options: PublicKeyCredentialRequestOptionsJSON,
  credential: WebAuthnCredential,
  requireUserVerification = true,
) =>
  verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
    requireUserVerification,
  });

const clientData = (response: { response: { clientDataJSON: string } }) =>
  new TextDecoder().decode(fromBase64url(response.response.clientDataJSON));

describe('registration', () => {
  it('gives a response the library verifies: none attestation, ES256 COSE key, AAGUID, flags', async () => {
    const authenticator = authenticatorFor();
    const options = await registrationOptions();
    const response = await authenticator.register(options);
    const verification = await verifyRegistration(response, options.challenge);
    expect(verification.verified).toBe(true);
    const info = verification.registrationInfo!;
    expect(info).toMatchObject({
      fmt: 'none',
      aaguid: SOFT_AUTHENTICATOR_AAGUID,
      credentialType: 'public-key',
      userVerified: true,
      credentialDeviceType: 'singleDevice',
      credentialBackedUp: false,
      origin: ORIGIN,
      rpID: RP_ID,
    });
    expect(info.credential).toMatchObject({ id: response.id, counter: 0, transports: ['internal'] });
    // The library decodes the COSE key and encodes it again: the same bytes, so ours is
    // canonical CBOR.
    const [held] = authenticator.credentials();
    expect(base64url(info.credential.publicKey)).toBe(held!.publicKey);
    expect(held).toMatchObject({ id: response.id, rpId: RP_ID, userHandle: base64url(utf8('user-1')) });
    // As a browser writes it, byte for byte (§5.8.1.1).
    expect(clientData(response)).toBe(
      `{"type":"webauthn.create","challenge":"${options.challenge}","origin":"${ORIGIN}","crossOrigin":false}`,
    );
    expect(response).toMatchObject({
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: { credProps: { rk: true } },
      response: { publicKeyAlgorithm: -7 },
    });
  });

  it('a synced passkey is backup eligible and backed up (BE, BS)', async () => {
    const options = await registrationOptions();
    const response = await authenticatorFor({ backupEligible: true }).register(options);
    const info = (await verifyRegistration(response, options.challenge)).registrationInfo!;
    expect(info).toMatchObject({ credentialDeviceType: 'multiDevice', credentialBackedUp: true });
  });

  it('registering twice makes two keys, for one user or several', async () => {
    const authenticator = authenticatorFor();
    const first = await registered(authenticator, 'user-1');
    const second = await registered(authenticator, 'user-1');
    const other = await registered(authenticator, 'user-2');
    expect(new Set([first.id, second.id, other.id]).size).toBe(3);
    expect(new Set([first, second, other].map((c) => base64url(c.publicKey))).size).toBe(3);
    expect(authenticator.credentials().map((c) => c.userHandle)).toEqual(
      ['user-1', 'user-1', 'user-2'].map((id) => base64url(utf8(id))),
    );
  });

  it.each([
    ['origin', { origin: 'https://evil.example' }, /origin "https:\/\/evil.example"/],
    ['rpId', { rpId: 'evil.example' }, /Unexpected RP ID hash/],
    [
      'challenge',
      { challenge: base64url(utf8('another ceremony')) },
      /Unexpected registration response challenge/,
    ],
    ['type', { type: 'webauthn.get' }, /Unexpected registration response type/],
    ['userPresent', { userPresent: false }, /User presence was required/],
    ['userVerified', { userVerified: false }, /User verification was required/],
  ])('override %s: the library refuses it', async (_name, overrides, reason) => {
    const options = await registrationOptions();
    const response = await authenticatorFor().register(options, overrides);
    await expect(verifyRegistration(response, options.challenge)).rejects.toThrow(reason);
  });

  it('UV false passes when the RP does not require user verification', async () => {
    const options = await registrationOptions();
    const response = await authenticatorFor({ userVerification: false }).register(options);
    const verification = await verifyRegistration(response, options.challenge, false);
    expect(verification.registrationInfo?.userVerified).toBe(false);
  });

  it('the credentialId override names the new credential', async () => {
    const options = await registrationOptions();
    const claimed = base64url(utf8('a credential id registered already'));
    const response = await authenticatorFor().register(options, { credentialId: claimed });
    const verification = await verifyRegistration(response, options.challenge);
    expect(verification.registrationInfo?.credential.id).toBe(claimed);
  });

  it('stops as a browser would: excluded credential, RP ID outside the origin, no ES256, UV impossible', async () => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator);
    await expect(
      authenticator.register(await registrationOptions('user-1', [credential])),
    ).rejects.toMatchObject({
      name: 'InvalidStateError',
    });
    const foreign = await generateRegistrationOptions({
      rpName: 'x',
      rpID: 'example.com',
      userName: 'a',
      userID: utf8('a'),
    });
    await expect(authenticator.register(foreign)).rejects.toMatchObject({ name: 'SecurityError' });
    const rsaOnly = await generateRegistrationOptions({
      rpName: 'x',
      rpID: RP_ID,
      userName: 'a',
      userID: utf8('a'),
      supportedAlgorithmIDs: [-257],
    });
    await expect(authenticator.register(rsaOnly)).rejects.toMatchObject({ name: 'NotSupportedError' });
    const uvRequired = await generateRegistrationOptions({
      rpName: 'x',
      rpID: RP_ID,
      userName: 'a',
      userID: utf8('a'),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    await expect(authenticatorFor({ userVerification: false }).register(uvRequired)).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
  });
});

describe('authentication', () => {
  it('gives assertions the library verifies, the counter going up by one each time', async () => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator);
    for (const expected of [1, 2, 3]) {
      const options = await assertionOptions([credential]);
      const response = await authenticator.authenticate(options);
      const verification = await verifyAssertion(response, options, credential);
      expect(verification.verified).toBe(true);
      expect(verification.authenticationInfo).toMatchObject({
        newCounter: expected,
        credentialID: credential.id,
        userVerified: true,
        credentialDeviceType: 'singleDevice',
        credentialBackedUp: false,
      });
      expect(response.id).toBe(credential.id);
      expect(response.response.userHandle).toBe(base64url(utf8('user-1')));
      expect(clientData(response)).toBe(
        `{"type":"webauthn.get","challenge":"${options.challenge}","origin":"${ORIGIN}","crossOrigin":false}`,
      );
      credential.counter = verification.authenticationInfo.newCounter;
    }
    expect(authenticator.credentials()[0]?.signCount).toBe(3);
  });

  it('with no allowCredentials it signs with a discoverable credential of the RP, returning its user handle', async () => {
    const authenticator = authenticatorFor();
    const ada = await registered(authenticator, 'ada');
    const bob = await registered(authenticator, 'bob');
    const options = await assertionOptions([], 'required');
    // Several fit: the most recent, unless the test picks (the browser's account chooser).
    const byDefault = await authenticator.authenticate(options);
    expect(byDefault.id).toBe(bob.id);
    expect(byDefault.response.userHandle).toBe(base64url(utf8('bob')));
    const chosen = await authenticator.authenticate(options, { select: ada.id });
    expect(chosen.response.userHandle).toBe(base64url(utf8('ada')));
    expect((await verifyAssertion(chosen, options, ada)).verified).toBe(true);
    // allowCredentials limits the choice to the listed credential.
    const listed = await assertionOptions([ada]);
    expect((await authenticator.authenticate(listed)).id).toBe(ada.id);
  });

  it("one credential's assertion does not verify with another's key", async () => {
    const authenticator = authenticatorFor();
    const first = await registered(authenticator);
    const second = await registered(authenticator);
    const options = await assertionOptions([first]);
    const response = await authenticator.authenticate(options);
    expect((await verifyAssertion(response, options, { ...second, id: first.id })).verified).toBe(false);
  });

  it("signCount 'zero' reports 0 every time, as synced passkeys do, and the library accepts it", async () => {
    const authenticator = authenticatorFor({ signCount: 'zero', backupEligible: true });
    const credential = await registered(authenticator);
    for (let i = 0; i < 2; i++) {
      const options = await assertionOptions([credential]);
      const verification = await verifyAssertion(
        await authenticator.authenticate(options),
        options,
        credential,
      );
      expect(verification.verified).toBe(true);
      expect(verification.authenticationInfo).toMatchObject({
        newCounter: 0,
        credentialDeviceType: 'multiDevice',
        credentialBackedUp: true,
      });
    }
  });

  it.each([
    ['origin', { origin: 'https://evil.example' }, /origin "https:\/\/evil.example"/],
    ['rpId', { rpId: 'evil.example' }, /Unexpected RP ID hash/],
    [
      'challenge',
      { challenge: base64url(utf8('another ceremony')) },
      /Unexpected authentication response challenge/,
    ],
    ['type', { type: 'webauthn.create' }, /Unexpected authentication response type/],
    ['userPresent', { userPresent: false }, /User not present/],
    ['userVerified', { userVerified: false }, /User verification required/],
  ])('override %s: the library refuses it', async (_name, overrides, reason) => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator);
    const options = await assertionOptions([credential]);
    const response = await authenticator.authenticate(options, overrides);
    await expect(verifyAssertion(response, options, credential)).rejects.toThrow(reason);
  });

  it('UV false passes when the RP does not require user verification', async () => {
    const authenticator = authenticatorFor({ userVerification: false });
    const credential = await registered(authenticator);
    const options = await assertionOptions([credential]);
    const verification = await verifyAssertion(
      await authenticator.authenticate(options),
      options,
      credential,
      false,
    );
    expect(verification).toMatchObject({ verified: true, authenticationInfo: { userVerified: false } });
  });

  it('a tampered signature does not verify', async () => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator);
    const options = await assertionOptions([credential]);
    const response = await authenticator.authenticate(options, { tamperSignature: true });
    expect((await verifyAssertion(response, options, credential)).verified).toBe(false);
  });

  it('claiming another credential id: the claimed credential’s key does not verify the signature', async () => {
    const authenticator = authenticatorFor();
    const mine = await registered(authenticator, 'mallory');
    const theirs = await registered(authenticatorFor(), 'ada');
    const options = await assertionOptions([mine]);
    const response = await authenticator.authenticate(options, { credentialId: theirs.id });
    expect(response.id).toBe(theirs.id);
    expect(response.rawId).toBe(theirs.id);
    // The relying party looks the key up by the claimed id.
    expect((await verifyAssertion(response, options, theirs)).verified).toBe(false);
  });

  it('a counter lower than the stored one fails the library’s counter check; the held counter stays', async () => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator);
    let options = await assertionOptions([credential]);
    await authenticator.authenticate(options);
    options = await assertionOptions([credential]);
    credential.counter = (
      await verifyAssertion(await authenticator.authenticate(options), options, credential)
    ).authenticationInfo.newCounter;
    expect(credential.counter).toBe(2);
    options = await assertionOptions([credential]);
    const lower = await authenticator.authenticate(options, { signCount: 1 });
    await expect(verifyAssertion(lower, options, credential)).rejects.toThrow(
      /counter value 1 was lower than expected 2/,
    );
    expect(authenticator.credentials()[0]?.signCount).toBe(2);
  });

  it('a cloned authenticator has the same key and counter; used after the original, its counter goes backwards', async () => {
    const original = authenticatorFor();
    const credential = await registered(original);
    const clone = original.clone();
    for (let i = 0; i < 2; i++) {
      const options = await assertionOptions([credential]);
      credential.counter = (
        await verifyAssertion(await original.authenticate(options), options, credential)
      ).authenticationInfo.newCounter;
    }
    const options = await assertionOptions([credential]);
    const fromClone = await clone.authenticate(options);
    expect(fromClone.id).toBe(credential.id);
    // A valid signature (the same key) with an old counter (1 after the RP saw 2).
    expect((await verifyAssertion(fromClone, options, { ...credential, counter: 0 })).verified).toBe(true);
    await expect(verifyAssertion(fromClone, options, credential)).rejects.toThrow(
      /counter value 1 was lower/,
    );
  });

  it('userHandle override: the response claims another user (the library leaves this check to the RP, §7.2 step 6)', async () => {
    const authenticator = authenticatorFor();
    const credential = await registered(authenticator, 'mallory');
    const options = await assertionOptions();
    const claimed = await authenticator.authenticate(options, { userHandle: base64url(utf8('ada')) });
    expect(claimed.response.userHandle).toBe(base64url(utf8('ada')));
    expect((await verifyAssertion(claimed, options, credential)).verified).toBe(true);
    const without = await authenticator.authenticate(await assertionOptions(), { userHandle: null });
    expect(without.response).not.toHaveProperty('userHandle');
  });

  it('stops as a browser would: no credential for the RP, UV required without UV', async () => {
    await expect(authenticatorFor().authenticate(await assertionOptions())).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
    const withoutUv = authenticatorFor({ userVerification: false });
    await registered(withoutUv);
    await expect(withoutUv.authenticate(await assertionOptions([], 'required'))).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
    // An explicit override still answers, for the RP's own UV check to be tested.
    const response = await withoutUv.authenticate(await assertionOptions([], 'required'), {
      userVerified: false,
    });
    expect(response.id).toBe(withoutUv.credentials()[0]?.id);
  });
});

describe('encodings', () => {
  it('DER signatures: minimal INTEGERs, a 0x00 before a high bit', () => {
    const r = new Uint8Array(32).fill(0x11);
    r[0] = 0x00;
    r[1] = 0x80;
    const s = new Uint8Array(32);
    s[31] = 0x05;
    const der = derSignature(new Uint8Array([...r, ...s]));
    // r: 31 significant bytes from 0x80, so 0x00 is put back before them: 32 bytes.
    expect([...der.subarray(0, 6)]).toEqual([0x30, 2 + 32 + 3, 0x02, 32, 0x00, 0x80]);
    expect([...der.subarray(der.length - 3)]).toEqual([0x02, 0x01, 0x05]);
  });

  it('the challenge echoed is the options’ own: a string challenge given to the library is its UTF-8, base64url', async () => {
    // The library encodes a string `challenge` as UTF-8 bytes and puts their base64url in
    // the options; clientDataJSON carries that, not the string.
    const options = await generateAuthenticationOptions({ rpID: RP_ID, challenge: 'abc' });
    expect(options.challenge).toBe(base64url(utf8('abc')));
    const authenticator = authenticatorFor();
    await registered(authenticator);
    expect(JSON.parse(clientData(await authenticator.authenticate(options))).challenge).toBe('YWJj');
  });
});
