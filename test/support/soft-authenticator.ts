import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A software WebAuthn authenticator and the browser in front of it (W3C WebAuthn Level 3),
 * for tests that need real registration and assertion responses without a browser: ES256
 * keys made by WebCrypto, `none` attestation, discoverable credentials (passkeys), a
 * signature counter per credential (§6.1.1), and overrides that make a response hostile in
 * one precise way.
 *
 * It plays both parts a real ceremony has:
 * - the client (browser): clientDataJSON, the RP ID's scope check against the origin
 *   (§5.1.4.1), `excludeCredentials`, `allowCredentials`, refusing when UV is required and
 *   the authenticator cannot verify the user;
 * - the authenticator: the key pair, authenticator data (§6.1), the attestation object
 *   (§6.5.4) and the assertion signature (§6.3.3).
 * The browser's checks run on the honest values; overrides are applied after them, as a
 * compromised client or authenticator would (a phishing page's origin still gets a response
 * to check).
 *
 * Only WebCrypto (`globalThis.crypto.subtle`), `btoa`/`atob` and its own small CBOR encoder
 * are used, so it also runs in a browser page or a worker. It does not depend on
 * @levischuck/tiny-cbor: that package is only @simplewebauthn/server's dependency, not ours,
 * and the few maps needed here are a page of code.
 */

/** The AAGUID this authenticator reports (a made-up model identifier, §6.5.2). */
export const SOFT_AUTHENTICATOR_AAGUID = '5ef7a0e1-1a7c-4e10-9c3e-5e7f0a1e2b3c';

/** COSE algorithm identifier of ES256 (ECDSA P-256 with SHA-256; RFC 9053 §2.1). */
const ES256 = -7;

export interface SoftAuthenticatorSettings {
  /** The origin of the page the ceremony runs in: clientDataJSON's `origin`. */
  origin: string;
  /** The RP ID when the options name none (§5.4.2, §5.5): the origin's host by default. */
  rpId?: string;
  /** Whether the authenticator can verify the user (PIN, biometric): the UV flag. Default true. */
  userVerification?: boolean;
  /** BE flag: a synced passkey whose key may be copied to other devices. Default false. */
  backupEligible?: boolean;
  /** BS flag: backed up now. Default: as `backupEligible` (a synced passkey is backed up). */
  backedUp?: boolean;
  /**
   * `increment`: each assertion adds 1 to the credential's counter and reports it;
   * `zero`: the counter is always 0, as synced passkeys report (§6.1.1). Default `increment`.
   */
  signCount?: 'increment' | 'zero';
  /** The AAGUID in the attested credential data. Default {@link SOFT_AUTHENTICATOR_AAGUID}. */
  aaguid?: string;
  /** What `getTransports()` returns. Default `['internal']`. */
  transports?: AuthenticatorTransportFuture[];
  /** Default `platform` (built into the device), `cross-platform` for a security key. */
  attachment?: 'platform' | 'cross-platform';
}

/** What every ceremony's response can be made to lie about. */
interface CommonOverrides {
  /** clientDataJSON's `origin`: a phishing page's origin. */
  origin?: string;
  /** The RP ID whose SHA-256 goes into authData (a credential of another relying party). */
  rpId?: string;
  /** clientDataJSON's `challenge` (base64url): answer another ceremony's challenge. */
  challenge?: string;
  /** The UV flag; also lets the ceremony go on when UV is required and cannot be done. */
  userVerified?: boolean;
  /** The UP flag (user presence). */
  userPresent?: boolean;
  /** clientDataJSON's `type`: `webauthn.get` and `webauthn.create` swapped. */
  type?: string;
}

export interface RegistrationOverrides extends CommonOverrides {
  /** The new credential's ID (base64url) instead of 16 random bytes: e.g. one registered already. */
  credentialId?: string;
  /** The counter in the registration's authData (and where the credential's counter starts). */
  signCount?: number;
}

export interface AssertionOverrides extends CommonOverrides {
  /**
   * Which credential signs (its ID), when several held ones fit: the user's choice in the
   * browser's account chooser. Not hostile. Default: the most recently registered one.
   */
  select?: string;
  /** The counter reported in authData (e.g. lower than before); the held counter does not move. */
  signCount?: number;
  /** Flip one bit of the signature (it stays well-formed DER). */
  tamperSignature?: boolean;
  /** The response's `id` and `rawId`: claim to be another credential (the signature is still this one's). */
  credentialId?: string;
  /** `userHandle` (base64url) in place of the credential's user ID; `null` leaves it out. */
  userHandle?: string | null;
}

/** A credential as the authenticator holds it. */
interface HeldCredential {
  id: string;
  rpId: string;
  /** user.id of the registration options (base64url): returned as `userHandle` (§6.4.1). */
  userHandle: string;
  userName: string;
  privateKey: CryptoKey;
  /** The COSE_Key (RFC 9052 §7) in the attested credential data. */
  cosePublicKey: Uint8Array<ArrayBuffer>;
  signCount: number;
}

/** A held credential as tests may see it (no private key). */
export interface SoftCredentialInfo {
  id: string;
  rpId: string;
  userHandle: string;
  userName: string;
  signCount: number;
  /** The COSE public key, base64url: what a relying party stores. */
  publicKey: string;
}

/** An error named as the browser's DOMException would be (`NotAllowedError`, `InvalidStateError`, …). */
export class CeremonyError extends Error {
  constructor(
    override readonly name: 'NotAllowedError' | 'InvalidStateError' | 'NotSupportedError' | 'SecurityError',
    message: string,
  ) {
    super(message);
  }
}

export class SoftAuthenticator {
  readonly settings: Required<SoftAuthenticatorSettings>;
  #credentials: HeldCredential[] = [];

  constructor(settings: SoftAuthenticatorSettings) {
    const backupEligible = settings.backupEligible ?? false;
    this.settings = {
      origin: settings.origin,
      rpId: settings.rpId ?? new URL(settings.origin).hostname,
      userVerification: settings.userVerification ?? true,
      backupEligible,
      backedUp: settings.backedUp ?? backupEligible,
      signCount: settings.signCount ?? 'increment',
      aaguid: settings.aaguid ?? SOFT_AUTHENTICATOR_AAGUID,
      transports: settings.transports ?? ['internal'],
      attachment: settings.attachment ?? 'platform',
    };
  }

  /**
   * A second authenticator holding the same keys and counters as this one now (a cloned
   * authenticator, §6.1.1): from here on each counts on its own, so the one used second
   * reports a counter the relying party has seen already.
   */
  clone(): SoftAuthenticator {
    const twin = new SoftAuthenticator(this.settings);
    twin.#credentials = this.#credentials.map((credential) => ({ ...credential }));
    return twin;
  }

  /** The credentials held, oldest first. */
  credentials(): SoftCredentialInfo[] {
    return this.#credentials.map((credential) => ({
      id: credential.id,
      rpId: credential.rpId,
      userHandle: credential.userHandle,
      userName: credential.userName,
      signCount: credential.signCount,
      publicKey: base64url(credential.cosePublicKey),
    }));
  }

  /**
   * navigator.credentials.create() (§5.1.3) with this authenticator: a new ES256 key pair
   * for the options' RP and user, answered as the browser's `toJSON()` gives it.
   */
  async register(
    options: PublicKeyCredentialCreationOptionsJSON,
    overrides: RegistrationOverrides = {},
  ): Promise<RegistrationResponseJSON> {
    const rpId = options.rp.id ?? this.settings.rpId;
    this.#checkScope(rpId);
    if (!options.pubKeyCredParams.some((param) => param.type === 'public-key' && param.alg === ES256))
      throw new CeremonyError('NotSupportedError', 'The relying party does not accept ES256 (-7)');
    // §5.1.3 step 20 (authenticatorMakeCredential step 3): an excluded credential held here
    // stops the ceremony, so one authenticator is not registered twice.
    const excluded = new Set((options.excludeCredentials ?? []).map((descriptor) => descriptor.id));
    if (this.#credentials.some((credential) => credential.rpId === rpId && excluded.has(credential.id)))
      throw new CeremonyError('InvalidStateError', 'This authenticator holds an excluded credential already');
    const userVerified = this.#userVerified(options.authenticatorSelection?.userVerification, overrides);

    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const credentialId = overrides.credentialId ?? base64url(randomBytes(16));
    const credentialIdBytes = fromBase64url(credentialId);
    // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes) (SEC 1 §2.3.3).
    const point = new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey));
    const cosePublicKey = cbor(
      new Map<number, CborValue>([
        [1, 2], // kty: EC2 (RFC 9053 §7.1)
        [3, ES256], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, point.slice(1, 33)], // x
        [-3, point.slice(33, 65)], // y
      ]),
    );
    const signCount = overrides.signCount ?? 0;
    this.#credentials.push({
      id: credentialId,
      rpId,
      userHandle: options.user.id,
      userName: options.user.name,
      privateKey: keys.privateKey,
      cosePublicKey,
      signCount,
    });

    // Attested credential data (§6.5.2): AAGUID (16) || credentialIdLength (2, big-endian)
    // || credentialId || credentialPublicKey (COSE_Key, CTAP2 canonical CBOR).
    const attestedCredentialData = concat(
      uuidBytes(this.settings.aaguid),
      uint16(credentialIdBytes.length),
      credentialIdBytes,
      cosePublicKey,
    );
    const authData = await this.#authenticatorData({
      rpId: overrides.rpId ?? rpId,
      userPresent: overrides.userPresent ?? true,
      userVerified,
      signCount,
      attestedCredentialData,
    });
    const clientDataJSON = this.#clientData(
      overrides.type ?? 'webauthn.create',
      options.challenge,
      overrides,
    );
    // The attestation object (§6.5.4) with the `none` format (§8.7): no statement, so the
    // relying party learns nothing about the model beyond the AAGUID. Keys in CTAP2
    // canonical order (shorter first): fmt, attStmt, authData.
    const attestationObject = cbor(
      new Map<string, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
    return {
      id: credentialId,
      rawId: credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: base64url(clientDataJSON),
        attestationObject: base64url(attestationObject),
        // What the L3 response's getAuthenticatorData(), getPublicKey() (SPKI DER),
        // getPublicKeyAlgorithm() and getTransports() give, as the browser's toJSON() has them.
        authenticatorData: base64url(authData),
        publicKey: base64url(spki),
        publicKeyAlgorithm: ES256,
        transports: [...this.settings.transports],
      },
      authenticatorAttachment: this.settings.attachment,
      // Every credential made here is discoverable (a passkey): credProps says so (§10.1.3).
      clientExtensionResults: options.extensions?.credProps ? { credProps: { rk: true } } : {},
    };
  }

  /**
   * navigator.credentials.get() (§5.1.4) with this authenticator: an assertion by a listed
   * credential, or (empty `allowCredentials`) by a discoverable one of the RP.
   */
  async authenticate(
    options: PublicKeyCredentialRequestOptionsJSON,
    overrides: AssertionOverrides = {},
  ): Promise<AuthenticationResponseJSON> {
    const rpId = options.rpId ?? this.settings.rpId;
    this.#checkScope(rpId);
    const allowed = new Set((options.allowCredentials ?? []).map((descriptor) => descriptor.id));
    const candidates = this.#credentials.filter(
      (credential) => credential.rpId === rpId && (allowed.size === 0 || allowed.has(credential.id)),
    );
    const credential =
      overrides.select !== undefined
        ? candidates.find((candidate) => candidate.id === overrides.select)
        : candidates[candidates.length - 1];
    // The browser shows nothing to choose and the ceremony ends as a user's cancel would.
    if (!credential)
      throw new CeremonyError('NotAllowedError', `No credential for ${rpId} on this authenticator`);
    const userVerified = this.#userVerified(options.userVerification, overrides);

    // §6.1.1: the counter moves before it is reported (a forced value leaves it where it is).
    if (overrides.signCount === undefined && this.settings.signCount === 'increment')
      credential.signCount += 1;
    const reportedCount =
      overrides.signCount ?? (this.settings.signCount === 'zero' ? 0 : credential.signCount);
    const authData = await this.#authenticatorData({
      rpId: overrides.rpId ?? rpId,
      userPresent: overrides.userPresent ?? true,
      userVerified,
      signCount: reportedCount,
    });
    const clientDataJSON = this.#clientData(overrides.type ?? 'webauthn.get', options.challenge, overrides);
    // §6.3.3 step 11: the signature is over authenticatorData || SHA-256(clientDataJSON).
    const clientDataHash = new Uint8Array(await crypto.subtle.digest('SHA-256', clientDataJSON));
    const raw = new Uint8Array(
      await crypto.subtle.sign(
        { name: 'ECDSA', hash: 'SHA-256' },
        credential.privateKey,
        concat(authData, clientDataHash),
      ),
    );
    // The last bit of s: a wrong signature that still parses.
    if (overrides.tamperSignature) raw[raw.length - 1]! ^= 0x01;
    const id = overrides.credentialId ?? credential.id;
    const userHandle = overrides.userHandle === undefined ? credential.userHandle : overrides.userHandle;
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: base64url(clientDataJSON),
        authenticatorData: base64url(authData),
        signature: base64url(derSignature(raw)),
        ...(userHandle === null ? {} : { userHandle }),
      },
      authenticatorAttachment: this.settings.attachment,
      clientExtensionResults: {},
    };
  }

  /**
   * The browser's check (§5.1.3 step 8, §5.1.4 step 8): the RP ID must be the origin's
   * host or a registrable suffix of it (the suffix rule is simplified here: no public
   * suffix list), else a SecurityError before any authenticator is asked.
   */
  #checkScope(rpId: string) {
    const host = new URL(this.settings.origin).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`))
      throw new CeremonyError(
        'SecurityError',
        `RP ID ${rpId} is not within the origin ${this.settings.origin}`,
      );
  }

  /**
   * The UV flag. When the options require UV and this authenticator cannot verify the user,
   * a browser ends the ceremony (§6.3.2 step 3, §6.3.3 step 3); an explicit `userVerified`
   * override still gets a response, to test that the relying party checks the flag.
   */
  #userVerified(requirement: string | undefined, overrides: CommonOverrides): boolean {
    if (overrides.userVerified !== undefined) return overrides.userVerified;
    if (requirement === 'required' && !this.settings.userVerification)
      throw new CeremonyError(
        'NotAllowedError',
        'User verification is required and this authenticator has none',
      );
    return this.settings.userVerification;
  }

  /**
   * Authenticator data, W3C WebAuthn L3 §6.1:
   * - bytes 0-31: rpIdHash, SHA-256 of the RP ID (UTF-8);
   * - byte 32: flags, bit 0 UP (user present), bit 1 reserved, bit 2 UV (user verified),
   *   bit 3 BE (backup eligible), bit 4 BS (backup state), bit 5 reserved, bit 6 AT (attested
   *   credential data follows), bit 7 ED (extension data follows; never set here);
   * - bytes 33-36: signCount, unsigned 32-bit big-endian;
   * - then, when AT: the attested credential data (registration only).
   */
  async #authenticatorData(input: {
    rpId: string;
    userPresent: boolean;
    userVerified: boolean;
    signCount: number;
    attestedCredentialData?: Uint8Array<ArrayBuffer>;
  }): Promise<Uint8Array<ArrayBuffer>> {
    const rpIdHash = new Uint8Array(
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode(input.rpId)),
    );
    const flags =
      (input.userPresent ? 0x01 : 0) |
      (input.userVerified ? 0x04 : 0) |
      (this.settings.backupEligible ? 0x08 : 0) |
      (this.settings.backedUp ? 0x10 : 0) |
      (input.attestedCredentialData ? 0x40 : 0);
    const signCount = new Uint8Array(4);
    new DataView(signCount.buffer).setUint32(0, input.signCount >>> 0, false);
    return concat(
      rpIdHash,
      Uint8Array.of(flags),
      signCount,
      input.attestedCredentialData ?? new Uint8Array(),
    );
  }

  /**
   * clientDataJSON as browsers serialize it (§5.8.1.1): type, challenge, origin, crossOrigin,
   * in that order (a top-level, same-origin ceremony).
   */
  #clientData(type: string, challenge: string, overrides: CommonOverrides): Uint8Array<ArrayBuffer> {
    return new TextEncoder().encode(
      JSON.stringify({
        type,
        challenge: overrides.challenge ?? challenge,
        origin: overrides.origin ?? this.settings.origin,
        crossOrigin: false,
      }),
    );
  }
}

/**
 * WebCrypto's ECDSA signature is IEEE P1363 (r || s, 32 bytes each for P-256); WebAuthn
 * wants ES256 signatures ASN.1 DER encoded (§6.5.5): SEQUENCE { INTEGER r, INTEGER s }, each
 * INTEGER minimal (no leading zero bytes) and positive (a 0x00 before a high bit).
 */
export function derSignature(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const value = bytes.slice(start);
    const body = value[0]! & 0x80 ? concat(Uint8Array.of(0), value) : value;
    return concat(Uint8Array.of(0x02, body.length), body);
  };
  const half = raw.length / 2;
  const body = concat(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
  // At most 2 × 35 bytes: the short form of the length always fits.
  return concat(Uint8Array.of(0x30, body.length), body);
}

// --- CBOR (RFC 8949), the subset WebAuthn needs here --------------------------------------

type CborValue = number | string | Uint8Array | Map<number | string, CborValue>;

/** A major type and its argument (RFC 8949 §3): shortest form, as CTAP2 canonical CBOR asks. */
function head(major: number, argument: number): Uint8Array<ArrayBuffer> {
  const type = major << 5;
  if (argument < 24) return Uint8Array.of(type | argument);
  if (argument < 0x100) return Uint8Array.of(type | 24, argument);
  if (argument < 0x10000) return Uint8Array.of(type | 25, argument >> 8, argument & 0xff);
  const bytes = new Uint8Array(5);
  bytes[0] = type | 26;
  new DataView(bytes.buffer).setUint32(1, argument, false);
  return bytes;
}

/**
 * Encodes integers (major types 0 and 1), byte strings (2), text strings (3) and maps (5).
 * Map entries are written in the order given: callers list them in CTAP2 canonical order
 * (keys sorted by their encoding: 1, 3, -1, -2, -3; shorter text keys first).
 */
export function cbor(value: CborValue): Uint8Array<ArrayBuffer> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) > 0xffffffff)
      throw new Error(`CBOR: unsupported ${value}`);
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const utf8 = new TextEncoder().encode(value);
    return concat(head(3, utf8.length), utf8);
  }
  if (value instanceof Uint8Array) return concat(head(2, value.length), value);
  const parts: Uint8Array[] = [head(5, value.size)];
  for (const [key, item] of value) parts.push(cbor(key), cbor(item));
  return concat(...parts);
}

// --- bytes --------------------------------------------------------------------------------

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const uint16 = (value: number) => Uint8Array.of(value >> 8, value & 0xff);

const randomBytes = (length: number) => crypto.getRandomValues(new Uint8Array(length));

/** A UUID's 16 bytes, in the order it is written (the AAGUID's encoding, §6.5.2). */
function uuidBytes(uuid: string): Uint8Array<ArrayBuffer> {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

/** RFC 4648 §5 base64url without padding, WebAuthn's encoding of bytes in JSON. */
export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
