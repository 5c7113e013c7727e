import { z } from 'zod';
import { EMAIL_MAX_LENGTH } from '../domain/credentials.js';

/**
 * Request bodies of the HTTP contract (../shared/API.md). These schemas validate requests
 * and are the source the OpenAPI document will be generated from.
 */

// Generous outer bounds: the password policy (8–128 after NFKC) is applied by the service.
const password = z.string().min(1).max(1024);
const clientId = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_", ":" or "-"');

export const RegisterBody = z.object({
  email: z
    .string()
    .transform((value) => value.trim())
    .pipe(
      z
        .string()
        .max(EMAIL_MAX_LENGTH, `must be at most ${EMAIL_MAX_LENGTH} characters`)
        .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address'),
    ),
  password,
  name: z.string().max(200).nullish(),
});

export const LoginBody = z.object({
  email: z.string().max(1024),
  password,
  device_name: z.string().trim().min(1).max(100).nullish(),
  remember: z.boolean().optional(),
  delivery: z.enum(['body', 'cookie']).optional(),
  client_id: clientId.optional(),
});

export const SessionLimitBody = z.object({
  limit_token: z.string().max(512),
  revoke_session_id: z.uuid(),
});

export const RefreshBody = z.object({
  refresh_token: z.string().max(512).optional(),
  client_id: clientId.optional(),
});

export const LogoutBody = z.object({
  refresh_token: z.string().max(512).optional(),
});

export const RevokeAllBody = z.object({
  include_current: z.boolean().optional(),
});

export const ChangePasswordBody = z.object({
  current_password: password,
  new_password: password,
});

export const SessionIdParam = z.uuid();

export const EventsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const AdminUsersQuery = z.object({
  q: z.string().max(320).optional().meta({ description: 'An email prefix, or a user id' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});

export const AnalyticsQuery = z.object({
  days: z.coerce.number().int().min(1).max(90).default(30).meta({ description: 'UTC days, today included' }),
});

const totpCode = z.string().max(32);
// Bounded by the body limit; long enough that an access token sent here gets invalid_mfa_token.
const mfaToken = z.string().max(8192);
const delivery = z.enum(['body', 'cookie']).optional();

export const MfaLoginBody = z.union(
  [
    z.object({ mfa_token: mfaToken, code: totpCode }),
    z.object({ mfa_token: mfaToken, recovery_code: z.string().max(64) }),
  ],
  { error: 'send mfa_token with either code or recovery_code' },
);

export const StepUpBody = z.union(
  [z.object({ code: totpCode, delivery }), z.object({ password: z.string().min(1).max(1024), delivery })],
  { error: 'send either code or password' },
);

export const ActivateTotpBody = z.object({ code: totpCode });

// The /oauth endpoints: unknown parameters are ignored, as RFC 6749 §3.2 requires.
const opaqueToken = z.string().min(1, 'must not be empty').max(4096);

export const TokenParams = z.object({
  grant_type: z.string().max(100).optional(),
  refresh_token: z.string().max(512).optional(),
  client_id: clientId.optional(),
});

export const RevokeParams = z.object({
  token: opaqueToken,
  token_type_hint: z.string().max(100).optional(),
  client_id: clientId.optional(),
});

export const IntrospectParams = z.object({
  token: opaqueToken,
  token_type_hint: z.string().max(100).optional(),
  client_id: z.string().max(200).optional(),
  client_secret: z.string().max(1024).optional(),
});
