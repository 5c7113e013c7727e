import type { Context } from 'hono';
import type { AuthErrorCode } from '../../domain/errors.js';
import { STATUS } from '../errors.js';
import { AuthenticationResponse, RegistrationResponse, withoutExtensions } from '../schemas.js';
import { expected, problemText } from './failures.js';

/**
 * What the passkey forms of the pages post and fetch (issue #20; the browser side is
 * PASSKEY_SCRIPT, views/passkey-script.ts): the ceremony's result as JSON in the form field
 * `response`, and the ceremony's options as JSON from an options URL.
 */

/**
 * The longest `response` field read: a registration response at the schema's bounds (its
 * attestation object is the largest part) fits, and nothing longer is parsed (issue #15 §2:
 * bounded before parsing). The body as a whole is bounded by the app (64 KiB).
 */
export const MAX_RESPONSE_CHARS = 40_000;

/** The form's `response` as the schema's value, or undefined for anything else (never a throw). */
function parsed<T>(value: unknown, parse: (json: unknown) => { success: boolean; data?: T }): T | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RESPONSE_CHARS) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  const result = parse(json);
  return result.success ? result.data : undefined;
}

/** An assertion (navigator.credentials.get()), checked by the API's schema. */
export function assertionOf(value: unknown) {
  const response = parsed(value, (json) => AuthenticationResponse.safeParse(json));
  return response ? withoutExtensions(response) : undefined;
}

/** A new credential (navigator.credentials.create()), checked by the API's schema. */
export function registrationOf(value: unknown) {
  const response = parsed(value, (json) => RegistrationResponse.safeParse(json));
  return response ? withoutExtensions(response) : undefined;
}

/** The form was posted by a passkey ceremony (its `response` field is filled), well-formed or not. */
export const postedByPasskey = (body: Record<string, unknown>) =>
  typeof body.response === 'string' && body.response !== '';

/**
 * The options endpoint's answer, as PASSKEY_SCRIPT reads it: `{ options }`, or one of the
 * `shown` errors as `{ error, message }` with its status (the message is shown as it is).
 * Anything else goes to the pages' error handler: a page, which the script reports as a
 * failure, or (the session ended) a redirect to the sign-in page, which it follows.
 */
export async function optionsAnswer(
  c: Context,
  make: () => Promise<object>,
  shown: AuthErrorCode[],
  messages: Partial<Record<AuthErrorCode, string>> = {},
): Promise<Response> {
  try {
    return c.json({ options: await make() });
  } catch (error) {
    const failure = expected(error, ...shown);
    return c.json(
      { error: failure.code, message: messages[failure.code] ?? sentence(problemText(c, failure)) },
      STATUS[failure.code],
    );
  }
}

/** A service's description ends without a full stop; a page's sentence has one. */
export const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);
