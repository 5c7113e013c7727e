import { z } from 'zod';

/**
 * Response bodies of the HTTP contract (docs/API.md), for the OpenAPI document. The
 * tests parse real responses with them (test/http/openapi.test.ts), so they cannot drift
 * from what the routes send.
 */

const isoTime = z.iso.datetime({ offset: true }).meta({ description: 'ISO 8601, UTC' });

export const ErrorResponse = z.object({
  error: z.string().meta({ description: 'A stable snake_case code' }),
  error_description: z.string().meta({ description: 'For humans; never carries a token or secret' }),
});

export const TokenPair = z.object({
  access_token: z.string().meta({ description: 'RFC 9068 JWT, 15 minutes by default' }),
  token_type: z.enum(['Bearer', 'DPoP']),
  expires_in: z.number().int(),
  refresh_token: z.string().optional().meta({ description: 'Absent when delivered as a cookie' }),
  refresh_token_expires_in: z.number().int(),
  session_id: z.uuid(),
});

export const MfaRequired = z.object({
  mfa_required: z.literal(true),
  mfa_token: z.string().meta({ description: 'Opaque, 5 minutes, single use' }),
  methods: z.array(z.enum(['totp', 'recovery_code', 'passkey'])),
});

export const RegisteredUser = z.object({
  user: z.object({ id: z.uuid(), email: z.string(), name: z.string().nullable(), created_at: isoTime }),
});

export const Me = z.object({
  user: z.object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    email_verified: z.boolean(),
    mfa_enabled: z.boolean(),
    created_at: isoTime,
  }),
});

/** A verified address (a verification or a confirmed email change): what the account has now. */
export const EmailVerified = z.object({
  email: z.string().meta({ description: 'The address of the account now' }),
  email_verified: z.literal(true),
});

export const EmailChangeReverted = EmailVerified.extend({
  revoked_sessions: z.number().int().meta({ description: 'Sessions signed out' }),
});

export const EmailChangePending = z.object({
  status: z.literal('confirmation_sent'),
  pending_email: z.string().meta({ description: 'Where the confirmation link went' }),
});

export const Session = z.object({
  id: z.uuid(),
  device_name: z.string().nullable(),
  ip_address: z.string().nullable(),
  user_agent: z.string().nullable(),
  location: z.string().nullable(),
  created_at: isoTime,
  last_active_at: isoTime,
  expires_at: isoTime,
  current: z.boolean(),
  remembered: z.boolean(),
  acr: z.enum(['aal1', 'aal2']),
  key_bound: z.boolean().meta({
    description:
      "The session's tokens are bound to a key the device holds (DPoP, RFC 9449): a copied token is useless without it",
  }),
});

export const SessionList = z.object({ sessions: z.array(Session) });

export const RevokedCount = z.object({ revoked: z.number().int() });

export const SecurityEvents = z.object({
  events: z.array(
    z.object({
      id: z.uuid(),
      type: z.string(),
      created_at: isoTime,
      session_id: z.uuid().nullable(),
      ip_address: z.string().nullable(),
      user_agent: z.string().nullable(),
      details: z.record(z.string(), z.unknown()),
    }),
  ),
  next_cursor: z.string().nullable(),
});

export const AdminUser = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string().nullable(),
  role: z.enum(['user', 'admin']),
  mfa_enabled: z.boolean(),
  disabled: z.boolean(),
  disabled_at: isoTime.nullable(),
  created_at: isoTime,
  live_sessions: z.number().int(),
});

export const AdminUserList = z.object({ users: z.array(AdminUser), next_cursor: z.string().nullable() });

export const AdminUserOne = z.object({ user: AdminUser });

export const AdminUserDisabled = z.object({ user: AdminUser, revoked: z.number().int() });

export const ResetLinkSent = z.object({ sent: z.literal(true) });

export const MailRetried = z.object({ retried: z.literal(true) });

/** An outbox message as an admin sees it: never its body (it may hold a live link). */
export const AdminMail = z.object({
  id: z.uuid(),
  kind: z.string(),
  user_id: z.uuid().nullable(),
  status: z.enum(['pending', 'sent', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: isoTime,
  last_error: z.string().max(500).nullable(),
  created_at: isoTime,
  sent_at: isoTime.nullable(),
});

export const AdminMailList = z.object({ messages: z.array(AdminMail), next_cursor: z.string().nullable() });

/** A webhook endpoint as an admin sees it (issue #18): never its secret. */
export const WebhookEndpoint = z.object({
  id: z.uuid(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z
    .array(z.string())
    .nullable()
    .meta({ description: 'The event types it gets; null: every type' }),
  enabled: z.boolean(),
  consecutive_failures: z.number().int().meta({ description: 'Deliveries failed for good in a row' }),
  last_success_at: isoTime.nullable(),
  disabled_at: isoTime.nullable(),
  disabled_reason: z.string().nullable(),
  previous_secret_expires_at: isoTime
    .nullable()
    .meta({ description: 'After a rotation: until when the previous secret also signs' }),
  created_at: isoTime,
  updated_at: isoTime,
});

export const WebhookEndpointOne = z.object({ endpoint: WebhookEndpoint });

export const WebhookEndpointList = z.object({ endpoints: z.array(WebhookEndpoint) });

export const WebhookEndpointWithSecret = z.object({
  endpoint: WebhookEndpoint,
  secret: z.string().meta({
    description: 'The signing secret (`whsec_…`, Standard Webhooks): shown here once, never again',
  }),
});

export const WebhookTestQueued = z.object({ delivery_id: z.uuid() });

export const WebhookReplayed = z.object({ replayed: z.literal(true) });

/** A delivery in an endpoint's log: never its body. */
export const WebhookDelivery = z.object({
  id: z.uuid(),
  webhook_id: z.string().meta({ description: 'The `webhook-id` header: the same on every attempt' }),
  type: z.string(),
  status: z.enum(['pending', 'sent', 'failed']),
  attempts: z.number().int(),
  last_status: z.number().int().nullable().meta({ description: "The receiver's last HTTP status" }),
  last_error: z.string().max(500).nullable(),
  next_attempt_at: isoTime,
  created_at: isoTime,
  sent_at: isoTime.nullable(),
});

export const WebhookDeliveryList = z.object({
  deliveries: z.array(WebhookDelivery),
  next_cursor: z.string().nullable(),
});

const dayCounts = z.array(
  z.object({ day: z.string().meta({ description: 'YYYY-MM-DD (UTC)' }), count: z.number().int() }),
);
const durationBuckets = z.array(
  z.object({
    up_to_seconds: z.number().int().nullable().meta({ description: 'Upper bound; null for the last bucket' }),
    count: z.number().int(),
  }),
);

export const Analytics = z.object({
  generated_at: isoTime,
  since: isoTime,
  days: z.number().int(),
  active_sessions: z.object({
    total: z.number().int(),
    users: z.number().int().meta({ description: 'Users with at least one live session' }),
    per_user: z.object({ p50: z.number(), p90: z.number(), p99: z.number(), max: z.number() }),
  }),
  sessions_created_per_day: dayCounts,
  session_durations: z.object({
    ended: durationBuckets.meta({
      description: 'Sessions revoked in the window (kept REVOKED_SESSION_RETENTION)',
    }),
    live: durationBuckets.meta({ description: 'Ages of the live sessions' }),
  }),
  logins_by_country: z.array(z.object({ country: z.string(), count: z.number().int() })),
  logins_by_device_family: z.array(z.object({ family: z.string(), count: z.number().int() })),
  reuse_detections_per_day: dayCounts,
  throttled_per_day: dayCounts,
});

export const TotpEnrollment = z.object({ secret: z.string(), otpauth_uri: z.string(), qr_svg: z.string() });

export const Passkey = z.object({
  id: z.uuid(),
  name: z.string(),
  device_type: z.enum(['singleDevice', 'multiDevice']).meta({
    description:
      '`multiDevice`: synced between devices (backup eligible); `singleDevice`: bound to one authenticator',
  }),
  backed_up: z.boolean(),
  transports: z.array(z.string()),
  aaguid: z.string().meta({ description: "The authenticator model's AAGUID (zeros when it hides it)" }),
  created_at: isoTime,
  last_used_at: isoTime.nullable(),
});

export const Passkeys = z.object({ passkeys: z.array(Passkey) });

/** W3C WebAuthn `PublicKeyCredentialCreationOptionsJSON`: pass it to navigator.credentials.create(). */
export const PasskeyCreationOptions = z
  .looseObject({
    challenge: z.string(),
    rp: z.looseObject({ id: z.string().optional(), name: z.string() }),
    user: z.looseObject({ id: z.string(), name: z.string(), displayName: z.string() }),
    pubKeyCredParams: z.array(z.looseObject({ type: z.string(), alg: z.number() })),
    timeout: z.number().optional(),
    excludeCredentials: z.array(z.looseObject({ id: z.string(), type: z.string() })).optional(),
  })
  .meta({ description: 'PublicKeyCredentialCreationOptionsJSON (W3C WebAuthn L3 §5.4)' });

/** W3C WebAuthn `PublicKeyCredentialRequestOptionsJSON`: pass it to navigator.credentials.get(). */
export const PasskeyRequestOptions = z
  .looseObject({
    challenge: z.string(),
    rpId: z.string().optional(),
    timeout: z.number().optional(),
    userVerification: z.string().optional(),
    allowCredentials: z.array(z.looseObject({ id: z.string(), type: z.string() })).optional(),
  })
  .meta({ description: 'PublicKeyCredentialRequestOptionsJSON (W3C WebAuthn L3 §5.5)' });

export const RecoveryCodes = z.object({ recovery_codes: z.array(z.string()).length(10) });

export const Jwks = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string(), alg: z.string() })),
});

export const AuthorizationServerMetadata = z.looseObject({
  issuer: z.string(),
  jwks_uri: z.string(),
  token_endpoint: z.string(),
  revocation_endpoint: z.string(),
  introspection_endpoint: z.string(),
  revoked_sessions_endpoint: z.string(),
  grant_types_supported: z.array(z.string()),
});

export const OAuthTokenResponse = TokenPair.extend({ refresh_token: z.string() });

export const Introspection = z.looseObject({
  active: z.boolean(),
  token_type: z.enum(['Bearer', 'DPoP', 'refresh_token']).optional(),
  sub: z.string().optional(),
  sid: z.string().optional(),
  client_id: z.string().optional(),
  exp: z.number().optional(),
});

export const RevokedSessionsFeed = z.object({
  window_seconds: z.number(),
  revoked_sessions: z.array(z.object({ sid: z.uuid(), revoked_at: isoTime })),
});

export const Health = z.object({ status: z.enum(['ok', 'unavailable']) });
