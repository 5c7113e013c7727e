/**
 * Persistence for passkeys (WebAuthn credentials) and their ceremonies' challenges (issue
 * #20). Every method is atomic on its own; none reads then writes across two statements.
 */

/** `singleDevice`: bound to one authenticator; `multiDevice`: synced (backup eligible). */
export type PasskeyDeviceType = 'singleDevice' | 'multiDevice';

export interface PasskeyRecord {
  id: string;
  userId: string;
  /** The credential ID, base64url, as the authenticator gave it (at most 1,023 bytes). */
  credentialId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The signature counter last seen (W3C WebAuthn §6.1.1); 0 for authenticators without one. */
  signCount: number;
  /** Hints for the browser (`internal`, `hybrid`, `usb`, `nfc`, `ble`, …). */
  transports: string[];
  deviceType: PasskeyDeviceType;
  /** Backup state (BS flag) as last seen: the credential is synced now. */
  backedUp: boolean;
  /** The authenticator model's AAGUID (all zeros when attestation is `none` and it hides it). */
  aaguid: string;
  /** The user's name for it ("iPhone", "YubiKey 5"). */
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/**
 * What a ceremony is for. Each challenge is good for one ceremony of its purpose only:
 * - `registration`: adding a passkey to the session's account;
 * - `sign_in`: a discoverable (usernameless) sign-in, no user known yet;
 * - `second_factor`: the second step of a password login (bound to its `mfa_token`);
 * - `step_up`: re-authentication of a session (RFC 9470).
 */
export type WebAuthnPurpose = 'registration' | 'sign_in' | 'second_factor' | 'step_up';

export interface WebAuthnChallenge {
  /** SHA-256 of the challenge (base64url): the challenge itself is not stored. */
  challengeHash: string;
  purpose: WebAuthnPurpose;
  /** The account it belongs to; null for `sign_in`. */
  userId: string | null;
  /** The session it belongs to (`registration`, `step_up`); null otherwise. */
  sessionId: string | null;
  /** The `mfa_token` challenge it belongs to (`second_factor`); null otherwise. */
  mfaChallengeId: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export type AddPasskeyResult = 'added' | 'duplicate' | 'limit_reached' | 'user_gone';

export interface PasskeyStore {
  saveWebAuthnChallenge(challenge: WebAuthnChallenge): Promise<void>;
  /**
   * Takes (deletes and returns) the challenge of this hash and purpose, whether expired or
   * not: single use, one DELETE … RETURNING, so two parallel ceremonies cannot both have it.
   */
  takeWebAuthnChallenge(
    challengeHash: string,
    purpose: WebAuthnPurpose,
  ): Promise<WebAuthnChallenge | undefined>;
  listPasskeys(userId: string): Promise<PasskeyRecord[]>;
  findPasskeyByCredentialId(credentialId: string): Promise<PasskeyRecord | undefined>;
  /**
   * Adds a passkey under the user's row lock: `limit_reached` when the user has
   * `maxPerUser` already, `duplicate` when the credential ID is registered (to anyone),
   * `user_gone` when the account is deleted or disabled.
   */
  addPasskey(passkey: PasskeyRecord, maxPerUser: number): Promise<AddPasskeyResult>;
  renamePasskey(userId: string, id: string, name: string): Promise<PasskeyRecord | undefined>;
  /** Deletes one of the user's passkeys and returns it; undefined when it is not theirs or gone. */
  deletePasskey(userId: string, id: string): Promise<PasskeyRecord | undefined>;
  /**
   * Records a use: the new counter and backup state and `lastUsedAt`, only while the stored
   * counter is still `expectedCount` (compare-and-set): false when a parallel use moved it,
   * which the caller treats as a replayed or cloned assertion.
   */
  recordPasskeyUse(input: {
    id: string;
    expectedCount: number;
    signCount: number;
    backedUp: boolean;
    now: Date;
  }): Promise<boolean>;
}
