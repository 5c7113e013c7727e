import { tokenRefused } from '../domain/bearer.js';
import { normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import { refreshTokenDeadline } from '../domain/session-policy.js';
import { decryptString, encryptString, type MasterKeys } from '../lib/crypto.js';
import type { Clock } from '../ports/clock.js';
import type { SessionAssurance, TotpFactor } from '../ports/mfa-store.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import {
  type MfaStore,
  originOf,
  type RequestOrigin,
  type SecurityEventLog,
  type UserRecord,
  type UserStore,
} from '../ports/store.js';
import type { SecretGuessLimit } from './attempt-limits.js';
import { type AuthService, MFA_TOKEN_MAX_ATTEMPTS } from './auth-service.js';
import { hashMfaToken, isWellFormedMfaToken } from './mfa-tokens.js';
import type { AuthenticationResponseJSON, Passkeys } from './passkeys.js';
import {
  hashRecoveryCode,
  newRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from './recovery-codes.js';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens.js';
import { type Caller, callerFacts, userOfCaller } from './session-service.js';
import { withProofKey } from './session-tokens.js';
import { matchTotp, newTotpSecret, qrCodeSvg, totpUri } from './totp.js';
import type { Delivery, IssuedTokens, RequestDevice, SessionLimitReached } from './types.js';

/** RFC 8176 method values: `otp` for a TOTP code; recovery codes are documented as `rc`. */
export const AMR_TOTP = 'otp';
export const AMR_RECOVERY_CODE = 'rc';

export interface MfaServiceDeps {
  store: MfaStore & Pick<UserStore, 'findUserById'> & SecurityEventLog;
  hasher: PasswordHasher;
  clock: Clock;
  auth: AuthService;
  masterKeys: MasterKeys;
  /** Wrong codes and step-up passwords per user (shared with the password change). */
  guesses: SecretGuessLimit;
  totpIssuer: string;
  refreshTokenTtlMs: number;
  /** Passkeys as a second factor and for step-up (issue #20). */
  passkeys: Passkeys;
}

export type CodeFactor = { code: string } | { recoveryCode: string };
export type SecondFactor = CodeFactor | { passkey: AuthenticationResponseJSON };

/** An accepted second factor's RFC 8176 methods, or why it was refused. */
type SecondFactorCheck = { methods: string[] } | { refused: 'used' | 'invalid' };

/** What a passkey's ceremony is bound to: the login's `mfa_token` or the session stepping up. */
type PasskeyBinding =
  | { purpose: 'second_factor'; mfaChallengeId: string }
  | { purpose: 'step_up'; sessionId: string };

/**
 * What a person is told about a refused code (the error code stays the API's): a code used a
 * moment ago is not called wrong; the app shows the next one within 30 seconds.
 */
const refusal = (check: { refused: 'used' | 'invalid' }, factor: SecondFactor, again = true) =>
  'passkey' in factor
    ? 'The passkey was not accepted'
    : check.refused === 'invalid'
      ? 'The code is not valid'
      : `This code was already used${again ? '; wait for the next one' : ''}`;

/**
 * RFC 8176 `amr` of a session that shows a second factor now: the session's first factor
 * (`pwd` for a password sign-in, a passkey's own values for a passkey sign-in) and the new
 * methods. Never a method the session did not use (a passkey session that steps up with a
 * code has no `pwd`), and not the second factors of earlier steps (a login with a recovery
 * code, stepped up with a code, is `pwd` and `otp`).
 */
const adding = (session: { amr: string[] }, methods: string[]) => {
  const first = session.amr.includes('pwd')
    ? ['pwd']
    : session.amr.filter((m) => m !== AMR_TOTP && m !== AMR_RECOVERY_CODE);
  return [...new Set([...first, ...methods])];
};

const invalidMfaToken = () =>
  new AuthError('invalid_mfa_token', 'The mfa_token is invalid, expired or used up; log in again');

export function createMfaService(deps: MfaServiceDeps) {
  const { store, clock, masterKeys, guesses } = deps;
  const sealContext = (factorId: string) => `totp-secret:${factorId}`;

  async function recordFailure(
    user: { id: string },
    origin: RequestOrigin,
    details: Record<string, unknown>,
  ) {
    await store.recordSecurityEvent({
      userId: user.id,
      type: 'mfa_failed',
      ...originOf(origin),
      details,
      at: clock.now(),
    });
  }

  async function openSecret(factor: TotpFactor): Promise<string> {
    if (factor.encryptionKeyId !== masterKeys.encryptionKeyId) {
      throw new Error('TOTP secret was sealed under another MASTER_SECRET');
    }
    return decryptString(masterKeys.encryptionKey, factor.secretSealed, sealContext(factor.id));
  }

  async function newRecoveryCodes(): Promise<{ codes: string[]; hashes: string[] }> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const hashes = await Promise.all(
      codes.map((code) => hashRecoveryCode(masterKeys.recoveryCodeKey, normalizeRecoveryCode(code)!)),
    );
    return { codes, hashes };
  }

  /**
   * Checks a TOTP code (at most once per time step) or a recovery code (at most once), and
   * says why one was refused: a TOTP code valid now whose step was already used (the one just
   * typed for the last sign-in) is `used`, so that the person is told to wait for the next
   * one rather than that the code is wrong. The caller has charged the attempt before this.
   */
  async function checkSecondFactor(
    user: UserRecord,
    factor: SecondFactor,
    origin: RequestOrigin,
    binding?: PasskeyBinding,
  ): Promise<SecondFactorCheck> {
    const now = clock.now();
    if ('passkey' in factor) {
      if (!binding) return { refused: 'invalid' };
      const check = await deps.passkeys.checkAssertion({
        response: factor.passkey,
        userId: user.id,
        ...binding,
        origin,
      });
      return 'amr' in check ? { methods: check.amr } : { refused: 'invalid' };
    }
    if ('code' in factor) {
      const totp = await store.findTotpFactor(user.id);
      if (totp?.status !== 'active') return { refused: 'invalid' };
      const match = await matchTotp(await openSecret(totp), factor.code, now, totp.lastUsedStep);
      if ('refused' in match) return match;
      // Atomic: a parallel request that took this step (or a later one) first wins.
      return (await store.acceptTotpStep(totp.id, match.step))
        ? { methods: [AMR_TOTP] }
        : { refused: 'used' };
    }
    const normalized = normalizeRecoveryCode(factor.recoveryCode);
    if (!normalized) return { refused: 'invalid' };
    const used = await store.useRecoveryCode(
      user.id,
      await hashRecoveryCode(masterKeys.recoveryCodeKey, normalized),
      now,
    );
    if (!used) return { refused: 'invalid' };
    await store.recordSecurityEvent({
      userId: user.id,
      type: 'recovery_code_used',
      ...originOf(origin),
      details: { remaining: await store.countUnusedRecoveryCodes(user.id) },
      at: now,
    });
    return { methods: [AMR_RECOVERY_CODE] };
  }

  /** The method (`otp`, `rc`) of an accepted second factor, undefined for any refusal. */
  async function verifySecondFactor(
    user: UserRecord,
    factor: CodeFactor,
    origin: RequestOrigin,
  ): Promise<string | undefined> {
    const check = await checkSecondFactor(user, factor, origin);
    return 'methods' in check ? check.methods[0] : undefined;
  }

  const userOf = (caller: Caller) => userOfCaller(store, caller);

  async function enroll(caller: Caller) {
    const user = await userOf(caller);
    const secret = newTotpSecret();
    const id = crypto.randomUUID();
    const saved = await store.savePendingTotpFactor({
      id,
      userId: user.id,
      secretSealed: await encryptString(masterKeys.encryptionKey, secret, sealContext(id)),
      encryptionKeyId: masterKeys.encryptionKeyId,
      now: clock.now(),
    });
    if (!saved) throw new AuthError('mfa_already_enabled', 'TOTP is already enabled; disable it first');
    const otpauthUri = totpUri(deps.totpIssuer, user.email, secret);
    return { secret, otpauthUri, qrSvg: qrCodeSvg(otpauthUri) };
  }

  async function activate(caller: Caller, code: string): Promise<string[]> {
    const user = await userOf(caller);
    const factor = await store.findTotpFactor(user.id);
    if (factor?.status === 'active') throw new AuthError('mfa_already_enabled', 'TOTP is already enabled');
    if (!factor) throw new AuthError('mfa_not_enabled', 'Start with POST /v1/mfa/totp/enroll');
    await guesses.charge(user.id, 'activation', caller.origin);
    const now = clock.now();
    const match = await matchTotp(await openSecret(factor), code, now, factor.lastUsedStep);
    const { codes, hashes } = await newRecoveryCodes();
    const assurance: SessionAssurance = { acr: 'aal2', amr: adding(caller, [AMR_TOTP]), authTime: now };
    const activated =
      'step' in match &&
      (await store.activateTotpFactor({
        factorId: factor.id,
        userId: user.id,
        step: match.step,
        recoveryCodeHashes: hashes,
        sessionId: caller.sid,
        assurance,
        now,
      }));
    if (!activated) {
      await recordFailure(user, caller.origin, { during: 'activation' });
      throw new AuthError('wrong_code', 'The code is not valid; check the time on your device');
    }
    await guesses.refund(user.id);
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'mfa_enabled',
      at: now,
    });
    return codes;
  }

  async function disable(caller: Caller): Promise<number> {
    const now = clock.now();
    const { revoked } = await store.disableTotp({ userId: caller.sub, now, keepSessionId: caller.sid });
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'mfa_disabled',
      details: { revoked_sessions: revoked },
      at: now,
    });
    return revoked;
  }

  async function regenerateRecoveryCodes(caller: Caller): Promise<string[]> {
    const factor = await store.findTotpFactor(caller.sub);
    if (factor?.status !== 'active') throw new AuthError('mfa_not_enabled', 'TOTP is not enabled');
    const now = clock.now();
    const { codes, hashes } = await newRecoveryCodes();
    if (!(await store.replaceRecoveryCodes(caller.sub, hashes, now)))
      throw new AuthError('mfa_not_enabled', 'TOTP is not enabled');
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'recovery_codes_regenerated',
      at: now,
    });
    return codes;
  }

  /** The live login an `mfa_token` stands for, and its user; `invalid_mfa_token` otherwise. */
  async function liveMfaChallenge(mfaToken: string) {
    if (!isWellFormedMfaToken(mfaToken)) throw invalidMfaToken();
    const challenge = await store.findMfaChallenge(await hashMfaToken(mfaToken));
    if (
      !challenge ||
      challenge.consumedAt ||
      challenge.expiresAt <= clock.now() ||
      challenge.failedAttempts >= MFA_TOKEN_MAX_ATTEMPTS
    ) {
      throw invalidMfaToken();
    }
    const user = await store.findUserById(challenge.userId);
    // A password change after the first step voids the challenge it opened (the change
    // also deletes it).
    if (!user || (user.passwordChangedAt && user.passwordChangedAt > challenge.createdAt))
      throw invalidMfaToken();
    return { challenge, user };
  }

  /** Options for a passkey as the second step of this login: the user's passkeys, bound to it. */
  async function secondFactorPasskeyOptions(mfaToken: string, ipAddress: string | null) {
    const { challenge, user } = await liveMfaChallenge(mfaToken);
    return deps.passkeys.assertionOptions(
      'second_factor',
      { userId: user.id, mfaChallengeId: challenge.id },
      ipAddress,
    );
  }

  /** Options for a passkey step-up of this session. */
  async function stepUpPasskeyOptions(caller: Caller, ipAddress: string | null) {
    const user = await userOf(caller);
    return deps.passkeys.assertionOptions('step_up', { userId: user.id, sessionId: caller.sid }, ipAddress);
  }

  /** Second step of a login of a user with MFA: opens the session at `aal2`. */
  async function loginWithSecondFactor(input: {
    mfaToken: string;
    factor: SecondFactor;
    device: RequestDevice;
  }): Promise<{ tokens: IssuedTokens; delivery: Delivery } | SessionLimitReached> {
    const { challenge, user } = await liveMfaChallenge(input.mfaToken);
    const now = clock.now();
    // Both counters are charged before the code is checked: the user's (across all their
    // mfa_tokens), then this mfa_token's own attempt, by one conditional UPDATE.
    await guesses.charge(user.id, 'login', input.device);
    const attempts = await store.spendMfaAttempt(challenge.id, now, MFA_TOKEN_MAX_ATTEMPTS);
    if (attempts === undefined) throw invalidMfaToken();

    const check = await checkSecondFactor(user, input.factor, input.device, {
      purpose: 'second_factor',
      mfaChallengeId: challenge.id,
    });
    if (!('methods' in check)) {
      await recordFailure(user, input.device, {
        during: 'login',
        attempts,
        ...('passkey' in input.factor ? { method: 'passkey' } : {}),
      });
      const left = Math.max(0, MFA_TOKEN_MAX_ATTEMPTS - attempts);
      const told = refusal(check, input.factor, left > 0);
      throw new AuthError(
        'passkey' in input.factor ? 'invalid_passkey' : 'invalid_code',
        left > 0 ? `${told} (${left} attempts left)` : `${told}; log in again`,
        // A client can tell "try again" from "start over" without reading the words.
        { attemptsLeft: left },
      );
    }
    await guesses.refund(user.id);
    // Single use: two requests with one mfa_token cannot both open a session.
    if (!(await store.consumeMfaChallenge(challenge.id, now))) throw invalidMfaToken();
    const tokens = await deps.auth.openSession(user, {
      deviceName: challenge.deviceName,
      remembered: challenge.remembered,
      clientId: challenge.clientId,
      device: input.device,
      acr: 'aal2',
      amr: ['pwd', ...check.methods],
      delivery: challenge.delivery,
    });
    if ('sessionLimitReached' in tokens) return tokens;
    return { tokens, delivery: challenge.delivery };
  }

  /**
   * RFC 9470 step-up: a TOTP code or a passkey raises the session to `aal2`; the password
   * alone renews `auth_time` at `aal1`. Either way the session keeps this level (and
   * `auth_time`) on later refreshes, because they copy it from the live refresh token. A
   * passkey that verified its user (`mfa` in its amr) is the whole authentication; one that
   * did not counts as the second factor beside the session's password.
   */
  async function stepUp(
    caller: Caller,
    input: { code: string } | { password: string } | { passkey: AuthenticationResponseJSON },
    device: RequestDevice,
  ): Promise<IssuedTokens> {
    const user = await userOf(caller);
    await guesses.charge(user.id, 'step_up', device);
    const now = clock.now();
    let assurance: SessionAssurance;
    if ('passkey' in input) {
      const check = await checkSecondFactor(user, input, device, {
        purpose: 'step_up',
        sessionId: caller.sid,
      });
      if (!('methods' in check)) {
        await recordFailure(user, device, { during: 'step_up', method: 'passkey' });
        throw new AuthError('wrong_passkey', refusal(check, input));
      }
      // With UV the passkey is a whole authentication on its own; without, a second factor.
      const amr = check.methods.includes('mfa') ? check.methods : adding(caller, check.methods);
      assurance = { acr: 'aal2', amr, authTime: now };
    } else if ('code' in input) {
      const check = await checkSecondFactor(user, { code: input.code }, device);
      if (!('methods' in check)) {
        await recordFailure(user, device, { during: 'step_up' });
        throw new AuthError('wrong_code', refusal(check, input));
      }
      assurance = { acr: 'aal2', amr: adding(caller, [AMR_TOTP]), authTime: now };
    } else {
      if (!(await deps.hasher.verify(user.passwordHash, normalizePassword(input.password)))) {
        await recordFailure(user, device, { during: 'step_up', method: 'pwd' });
        throw new AuthError('wrong_password', 'The password is incorrect');
      }
      assurance = { acr: 'aal1', amr: ['pwd'], authTime: now };
    }
    await guesses.refund(user.id);
    const refreshToken = newRefreshToken();
    const grant = await store.reauthenticateSession({
      sessionId: caller.sid,
      userId: user.id,
      tokenHash: await hashRefreshToken(refreshToken),
      assurance,
      now,
      notAfter: refreshTokenDeadline(now, deps),
    });
    if (!grant) throw tokenRefused('session_ended', 'The session of this access token has ended');
    // Step-up hands out a token pair of the session: it is bound like a refresh (issue #15 §5).
    await deps.auth.enforceBinding(grant, grant.previousDevice, device, now);
    await store.recordSecurityEvent({
      userId: user.id,
      sessionId: caller.sid,
      type: 'step_up',
      ...originOf(device),
      details: { acr: assurance.acr, amr: assurance.amr },
      at: now,
    });
    // RFC 9449: the new access token stays bound to the session's key, or to the key this
    // request proved with its bound access token (a bearer session refreshed with a proof).
    return deps.auth.tokensFor(withProofKey(grant, device.dpopJkt), refreshToken);
  }

  return {
    enroll,
    activate,
    disable,
    regenerateRecoveryCodes,
    loginWithSecondFactor,
    secondFactorPasskeyOptions,
    stepUp,
    stepUpPasskeyOptions,
    verifySecondFactor,
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
