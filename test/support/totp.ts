import { createHmac } from 'node:crypto';

/** The tests' own RFC 6238 (TOTP over RFC 4226 HOTP), independent of the server's otplib; mfa.test.ts checks it against the RFC test vectors. */

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, padding optional. */
export function base32Decode(input: string): Buffer {
  const clean = input.replace(/=+$/, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 §5.3: HMAC-SHA-1 over the 8-byte big-endian counter, dynamic truncation. */
export function hotp(key: Buffer, counter: number, digits = 6): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary =
    ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4: T = floor((unix time - T0) / X), T0 = 0, X = 30 s. */
export const totp = (key: Buffer, unixSeconds: number, digits = 6): string =>
  hotp(key, Math.floor(unixSeconds / 30), digits);

/** The 6-digit code of a base32 `secret` at `unixSeconds`. */
export const totpCode = (secret: string, unixSeconds: number): string =>
  totp(base32Decode(secret), unixSeconds);
