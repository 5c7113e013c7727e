import { generateSecret, generateURI, verify } from 'otplib';
import { renderSVG } from 'uqr';

/** RFC 6238 with the parameters every authenticator app supports: SHA-1, 6 digits, 30 s. */
export const TOTP_PERIOD_SECONDS = 30;

/** 160-bit secret (RFC 4226 §4 recommends 160), base32 as authenticator apps expect. */
export const newTotpSecret = (): string => generateSecret({ length: 20 });

/** Key Uri Format: `otpauth://totp/Issuer:account?secret=…&issuer=Issuer`. */
export const totpUri = (issuer: string, account: string, secret: string): string =>
  generateURI({ issuer, label: account, secret, period: TOTP_PERIOD_SECONDS, digits: 6, algorithm: 'sha1' });

export const qrCodeSvg = (uri: string): string => renderSVG(uri, { ecc: 'M' });

const CODE = /^\d{6}$/;

/** What a submitted code is: valid in a time step not used yet, already used, or not valid at all. */
export type TotpMatch = { step: number } | { refused: 'used' | 'invalid' };

/**
 * The time step a code belongs to, if it is valid within ±1 step of `now` (RFC 6238 §5.2)
 * and later than `afterStep`; a valid code of `afterStep` or earlier was already used (one
 * code, one use). The caller must then record the step atomically.
 */
export async function matchTotp(
  secret: string,
  code: string,
  now: Date,
  afterStep: number | null,
): Promise<TotpMatch> {
  const token = code.replace(/\s+/g, '');
  if (!CODE.test(token)) return { refused: 'invalid' };
  // No `afterTimeStep` for otplib: it throws when that step is ahead of the window (another
  // instance's clock a second ahead, an NTP step back), which must be a wrong code, not a 500.
  let result: Awaited<ReturnType<typeof verify>>;
  try {
    result = await verify({
      secret,
      token,
      epoch: Math.floor(now.getTime() / 1000),
      period: TOTP_PERIOD_SECONDS,
      epochTolerance: TOTP_PERIOD_SECONDS,
    });
  } catch {
    return { refused: 'invalid' };
  }
  if (!result.valid || !('timeStep' in result)) return { refused: 'invalid' };
  return afterStep === null || result.timeStep > afterStep ? { step: result.timeStep } : { refused: 'used' };
}
