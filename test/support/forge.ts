/** Building blocks for forged tokens: the hostile-token suites of the server and of the kit share them. */

export const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/**
 * Signs `header.payload` (already encoded, so anything goes) with a key, as a JWS signature
 * of its algorithm.
 */
export async function signRaw(
  headerPart: string,
  payloadPart: string,
  key: CryptoKey,
  alg: string,
): Promise<string> {
  const algorithm = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  const input = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  const signature = new Uint8Array(await crypto.subtle.sign(algorithm, key, input));
  return `${headerPart}.${payloadPart}.${Buffer.from(signature).toString('base64url')}`;
}
