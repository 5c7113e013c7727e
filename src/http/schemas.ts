import { z } from 'zod';
import { MAX_ANALYTICS_DAYS } from '../domain/analytics.js';
import { EMAIL_MAX_LENGTH } from '../domain/credentials.js';

/**
 * Request bodies of the HTTP contract (docs/API.md). These schemas validate requests
 * and are the source the OpenAPI document will be generated from.
 *
 * Every string is bounded before anything else looks at it: `text(max)` stops at the length
 * check (`abort: true`), because zod 4 otherwise runs the later checks, regexes included, on
 * a string it already refused (OWASP, Regular expression Denial of Service). Every regex here
 * is linear (no two repeats can match the same text); test/regex-audit.test.ts checks them.
 */

/** A string of at most `max` UTF-16 units; nothing after this runs on a longer one. */
const text = (max: number, error = `must be at most ${max} characters`) =>
  z.string().max(max, { abort: true, error });

// Generous outer bounds: the password policy (8–128 after NFKC) is applied by the service.
const password = text(1024).min(1);
const clientId = text(64).regex(
  /^[A-Za-z0-9._:-]{1,64}$/,
  'must be 1-64 letters, digits, ".", "_", ":" or "-"',
);

/**
 * An email's shape: a local part, "@", and a domain of at least two dot-separated labels.
 * Unambiguous, hence linear: "@" and "." end the repeats they follow and neither repeat can
 * take them. (The former `^[^\s@]+@[^\s@]+\.[^\s@]+$` let both domain repeats take ".",
 * and backtracked quadratically.)
 */
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/;

export const RegisterBody = z.object({
  email: text(1024)
    .transform((value) => value.trim())
    .pipe(text(EMAIL_MAX_LENGTH).regex(EMAIL_SHAPE, 'must be an email address')),
  password,
  name: text(200).nullish(),
});

export const LoginBody = z.object({
  email: text(1024),
  password,
  device_name: text(1024).trim().min(1).max(100).nullish(),
  remember: z.boolean().optional(),
  delivery: z.enum(['body', 'cookie']).optional(),
  client_id: clientId.optional(),
});

export const SessionLimitBody = z.object({
  limit_token: text(512),
  revoke_session_id: z.uuid(),
});

export const RefreshBody = z.object({
  refresh_token: text(512).optional(),
  client_id: clientId.optional(),
});

export const LogoutBody = z.object({
  refresh_token: text(512).optional(),
});

export const RevokeAllBody = z.object({
  include_current: z.boolean().optional(),
});

export const ChangePasswordBody = z.object({
  current_password: password,
  new_password: password,
});

export const SessionIdParam = z.uuid();

/** A display name: trimmed; empty or null clears it. */
export const RenameBody = z.object({
  name: text(200)
    .transform((value) => value.trim())
    .nullable()
    .transform((value) => (value ? value : null)),
});

export const EventsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: text(200).optional(),
});

/**
 * The admin list's cursor: the base64url (RFC 4648 §5, unpadded) of the last email of a page.
 * Checked here, before the service decodes it and PostgreSQL compares with it: UTF-8 that
 * decodes strictly, no NUL (PostgreSQL text refuses it: SQLSTATE 22021), and no longer than
 * an email. Anything else is a forged cursor: 400, never a failed query.
 */
// Base64 of up to 3 UTF-8 bytes per UTF-16 unit of an email: 4 characters per unit.
const adminCursor = text(EMAIL_MAX_LENGTH * 4)
  .regex(/^[A-Za-z0-9_-]+$/, 'cursor is not valid')
  .refine((cursor) => decodesToText(cursor, EMAIL_MAX_LENGTH), 'cursor is not valid');

function decodesToText(cursor: string, maxLength: number): boolean {
  // Unpadded base64url never has a length of 1 modulo 4 (RFC 4648 §5).
  if (cursor.length % 4 === 1) return false;
  try {
    const binary = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    const decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return decoded.length > 0 && decoded.length <= maxLength && !decoded.includes('\u0000');
  } catch {
    return false;
  }
}

export const AdminUsersQuery = z.object({
  q: text(320).optional().meta({ description: 'An email prefix, or a user id' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: adminCursor.optional().meta({ description: 'next_cursor of the previous page' }),
});

export const AdminMailQuery = z.object({
  status: z
    .enum(['pending', 'sent', 'failed'])
    .optional()
    .meta({ description: 'Only messages in this state (all of them without it)' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  // `created_at|id`, base64url: an ISO time and a UUID make at most 84 characters.
  cursor: text(128)
    .regex(/^[A-Za-z0-9_-]+$/, 'cursor is not valid')
    .optional()
    .meta({ description: 'next_cursor of the previous page' }),
});

/** Webhooks (issue #18): an endpoint's fields; the URL policy and the event catalogue are the service's. */
const webhookUrl = text(2000).meta({
  description:
    'https: in production; private, loopback and link-local targets refused (WEBHOOK_ALLOW_PRIVATE)',
});
const webhookEventTypes = z
  .array(text(100), { error: 'must be an array of event types' })
  .max(50, { error: 'at most 50 event types' })
  .nullable()
  .meta({ description: 'The event types it wants; null or absent: every type' });
const webhookDescription = text(200).nullable();

export const WebhookCreateBody = z.object({
  url: webhookUrl,
  event_types: webhookEventTypes.optional(),
  description: webhookDescription.optional(),
});

export const WebhookPatchBody = z
  .object({
    url: webhookUrl.optional(),
    event_types: webhookEventTypes.optional(),
    description: webhookDescription.optional(),
    enabled: z.boolean().optional().meta({ description: 'true: enabled again, its failure count from zero' }),
  })
  .refine((patch) => Object.values(patch).some((value) => value !== undefined), {
    error: 'nothing to change: send url, event_types, description or enabled',
  });

export const WebhookDeliveriesQuery = z.object({
  status: z
    .enum(['pending', 'sent', 'failed'])
    .optional()
    .meta({ description: 'Only deliveries in this state (all of them without it)' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  // `created_at|id`, base64url, as the mail outbox's cursor.
  cursor: text(128)
    .regex(/^[A-Za-z0-9_-]+$/, 'cursor is not valid')
    .optional()
    .meta({ description: 'next_cursor of the previous page' }),
});

export const AnalyticsQuery = z.object({
  days: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_ANALYTICS_DAYS)
    .default(30)
    .meta({ description: 'UTC days, today included' }),
});

const totpCode = text(32);
// Bounded by the body limit; long enough that an access token sent here gets invalid_mfa_token.
const mfaToken = text(8192);
const delivery = z.enum(['body', 'cookie']).optional();

/**
 * WebAuthn responses as the browser's `PublicKeyCredential.toJSON()` and
 * @simplewebauthn/browser give them (W3C WebAuthn L3 §5.1.10): every field bounded in
 * length before the library decodes or parses it. Unknown fields (client extension
 * results included) are dropped: nothing here reads them (`withoutExtensions` gives the
 * library the empty results it expects).
 */
const base64url = (max: number) =>
  text(max).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url (RFC 4648 §5) without padding');
const credentialId = base64url(1400).min(1, 'must not be empty');
const authenticatorAttachment = z.enum(['platform', 'cross-platform']).optional();

export const AuthenticationResponse = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(4096),
      signature: base64url(1024),
      userHandle: base64url(128).optional(),
    }),
    authenticatorAttachment,
  })
  .meta({
    description: 'A passkey assertion: `PublicKeyCredential.toJSON()` of navigator.credentials.get()',
  });

export const RegistrationResponse = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(16384),
      authenticatorData: base64url(4096).optional(),
      transports: z
        .array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']))
        .max(8)
        .optional(),
      publicKeyAlgorithm: z.number().int().optional(),
      publicKey: base64url(2048).optional(),
    }),
    authenticatorAttachment,
  })
  .meta({ description: 'A new passkey: `PublicKeyCredential.toJSON()` of navigator.credentials.create()' });

/** A parsed response as @simplewebauthn/server takes it: no client extension results. */
export const withoutExtensions = <T extends object>(response: T) => ({
  ...response,
  clientExtensionResults: {},
});

const passkeyName = text(200).trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters');

export const PasskeyRegistrationBody = z.object({
  response: RegistrationResponse,
  name: passkeyName.optional(),
});
export const PasskeyRenameBody = z.object({ name: passkeyName });

export const PasskeySignInBody = z.object({
  response: AuthenticationResponse,
  device_name: text(1024).trim().min(1).max(100).nullish(),
  remember: z.boolean().optional(),
  delivery,
  client_id: clientId.optional(),
});

export const MfaTokenBody = z.object({ mfa_token: mfaToken });

export const MfaLoginBody = z.union(
  [
    z.object({ mfa_token: mfaToken, code: totpCode }),
    z.object({ mfa_token: mfaToken, recovery_code: text(64) }),
    z.object({ mfa_token: mfaToken, passkey: AuthenticationResponse }),
  ],
  { error: 'send mfa_token with either code, recovery_code or passkey' },
);

export const StepUpBody = z.union(
  [
    z.object({ code: totpCode, delivery }),
    z.object({ password: text(1024).min(1), delivery }),
    z.object({ passkey: AuthenticationResponse, delivery }),
  ],
  { error: 'send either code, password or passkey' },
);

export const ActivateTotpBody = z.object({ code: totpCode });

// The /oauth endpoints: unknown parameters are ignored, as RFC 6749 §3.2 requires.
const opaqueToken = text(4096).min(1, 'must not be empty');

export const TokenParams = z.object({
  grant_type: text(100).optional(),
  refresh_token: text(512).optional(),
  client_id: clientId.optional(),
});

export const RevokeParams = z.object({
  token: opaqueToken,
  token_type_hint: text(100).optional(),
  client_id: clientId.optional(),
});

export const IntrospectParams = z.object({
  token: opaqueToken,
  token_type_hint: text(100).optional(),
  client_id: text(200).optional(),
  client_secret: text(1024).optional(),
});
