import type { AuthenticatorAssurance, RefreshTokenGrant } from './store.js';

/** Persistence for TOTP factors, recovery codes and `mfa_token` challenges; each method atomic. */

export interface TotpFactor {
  id: string;
  userId: string;
  secretSealed: string;
  encryptionKeyId: string;
  status: 'pending' | 'active';
  lastUsedStep: number | null;
}

/** A password login waiting for one more step (a second factor, a device to sign out). */
export interface PendingLogin {
  id: string;
  userId: string;
  clientId: string;
  deviceName: string | null;
  remembered: boolean;
  delivery: 'body' | 'cookie';
  createdAt: Date;
  expiresAt: Date;
}

export interface MfaChallenge extends PendingLogin {
  /** Codes checked against this challenge so far (spent before each check). */
  failedAttempts: number;
  consumedAt: Date | null;
}

/** The session's new level after a second factor: written into its live refresh token. */
export interface SessionAssurance {
  acr: AuthenticatorAssurance;
  amr: string[];
  authTime: Date;
}

export interface MfaStore {
  findTotpFactor(userId: string): Promise<TotpFactor | undefined>;
  /** Creates or replaces the user's pending factor; false when an active one exists. */
  savePendingTotpFactor(input: {
    id: string;
    userId: string;
    secretSealed: string;
    encryptionKeyId: string;
    now: Date;
  }): Promise<boolean>;
  /**
   * In one transaction: activates the pending factor (accepting `step`), marks the user
   * `mfa_enabled`, replaces the recovery codes and raises the activating session.
   */
  activateTotpFactor(input: {
    factorId: string;
    userId: string;
    step: number;
    recoveryCodeHashes: string[];
    sessionId: string;
    assurance: SessionAssurance;
    now: Date;
  }): Promise<boolean>;
  /** Records `step` as used only if it is later than the last one: false for a replay. */
  acceptTotpStep(factorId: string, step: number): Promise<boolean>;
  /** Marks an unused recovery code used; false when there is none. */
  useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean>;
  /**
   * Replaces the recovery codes, in one transaction, only while the user's TOTP factor is
   * active: false when a concurrent disable or reset removed it (no codes for a gone factor).
   */
  replaceRecoveryCodes(userId: string, codeHashes: string[], now: Date): Promise<boolean>;
  countUnusedRecoveryCodes(userId: string): Promise<number>;
  /** Removes the factor and its recovery codes and revokes the user's other sessions. */
  disableTotp(input: { userId: string; now: Date; keepSessionId: string }): Promise<{ revoked: number }>;

  createMfaChallenge(challenge: MfaChallenge & { tokenHash: string }): Promise<void>;
  findMfaChallenge(tokenHash: string): Promise<MfaChallenge | undefined>;
  /**
   * Spends one attempt of a live, unconsumed challenge BEFORE its code is checked, only while
   * fewer than `maxAttempts` were spent (one conditional UPDATE): parallel guesses with one
   * `mfa_token` cannot check more than `maxAttempts` codes. Returns the attempts spent
   * including this one; undefined when none was left (or the challenge is dead).
   */
  spendMfaAttempt(id: string, now: Date, maxAttempts: number): Promise<number | undefined>;
  /** Consumes a live challenge after a right code; false when another request consumed it. */
  consumeMfaChallenge(id: string, now: Date): Promise<boolean>;

  /**
   * Step-up: replaces the session's live refresh token by a new one carrying the new
   * assurance, in one statement. Undefined when the session is not live.
   */
  reauthenticateSession(input: {
    sessionId: string;
    userId: string;
    tokenHash: string;
    assurance: SessionAssurance;
    now: Date;
    /** The successor's `refreshTokenDeadline`; the store caps it at the session's end. */
    notAfter: Date;
  }): Promise<RefreshTokenGrant | undefined>;
}
