// A fresh account on a running Latchkey, through the HTTP API (docs/API.md), for the runners
// of .ci/packages.sh. Returns the credentials and a token pair (body delivery).
import { randomBytes } from 'node:crypto';

async function post(base, path, body, expected) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

export async function newAccount(base, label) {
  const email = `${label}-${randomBytes(6).toString('hex')}@packed.example`;
  const password = `Packed proof ${randomBytes(12).toString('base64url')}`;
  const { user } = await post(base, '/v1/auth/register', { email, password }, 201);
  const tokens = await post(base, '/v1/auth/login', { email, password, delivery: 'body' }, 200);
  return { email, password, user, tokens };
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}
