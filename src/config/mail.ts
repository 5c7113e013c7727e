import { z } from 'zod';
import { integer, seconds } from './fields.js';

/**
 * Email (issue #17): how messages leave (SMTP through nodemailer on Node, an HTTPS mail API on
 * Workers, `.eml` files in development), what they say about the product, where their links
 * point, and the lifetimes of the single-use tokens they carry.
 */

const flag = (fallback: boolean) =>
  z.enum(['true', 'false'], { error: 'must be true or false' }).default(fallback ? 'true' : 'false');

/** A link template: an absolute URL with `{token}` where the token goes. */
const linkTemplate = z
  .url('must be an absolute URL')
  .max(2000)
  .refine((value) => value.includes('{token}'), 'must contain {token}')
  .optional();

/** "Name <address>" or a bare address; bounded before any parser reads it. */
const mailbox = z.string().min(3).max(320).optional();

export const MailEnvSchema = {
  /** smtp://user:pass@host:587 (STARTTLS) or smtps://…:465; nodemailer reads it. */
  SMTP_URL: z
    .string()
    .max(2000)
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional(),
  /** Workers: an HTTPS endpoint that takes a JSON message (see docs/email.md). */
  MAIL_HTTP_URL: z.url('must be an absolute URL').max(2000).optional(),
  MAIL_HTTP_TOKEN: z.string().min(1).max(4000).optional(),
  MAIL_FROM: mailbox,
  MAIL_REPLY_TO: mailbox,
  /** The older name of BRAND_NAME (src/config/brand.ts), still read when BRAND_NAME is not set. */
  PRODUCT_NAME: z.string().min(1).max(100).optional(),
  PASSWORD_RESET_URL: linkTemplate,
  EMAIL_VERIFY_URL: linkTemplate,
  EMAIL_CHANGE_URL: linkTemplate,
  EMAIL_REVERT_URL: linkTemplate,
  PASSWORD_RESET_TTL: seconds(1800, 60),
  EMAIL_VERIFICATION_TTL: seconds(2 * 24 * 3600, 300),
  EMAIL_CHANGE_TTL: seconds(24 * 3600, 300),
  /** The "this wasn't me" link of an email change stays usable this long. */
  EMAIL_REVERT_TTL: seconds(7 * 24 * 3600, 3600),
  REQUIRE_EMAIL_VERIFICATION: flag(false),
  SECURITY_NOTIFICATIONS: flag(true),
  /** Reset mails per address per hour, and reset requests per network per hour (before the work). */
  PASSWORD_RESETS_PER_ADDRESS: integer(3, 1, 1000),
  PASSWORD_RESETS_PER_IP: integer(20, 1, 100_000),
  /** The dispatcher: every interval, up to a batch; a claim lasts a lease; then retries up to max. */
  MAIL_DISPATCH_INTERVAL: seconds(5, 0),
  MAIL_BATCH_SIZE: integer(20, 1, 1000),
  MAIL_LEASE: seconds(60, 5),
  MAIL_MAX_ATTEMPTS: integer(8, 1, 100),
};

export type MailTransport =
  | { kind: 'smtp'; url: string }
  | { kind: 'http'; url: string; token: string | undefined }
  /** Development only: each message as an .eml file under `dir`, and a log line. */
  | { kind: 'files'; dir: string };

export interface MailConfig {
  transport: MailTransport;
  from: string;
  replyTo: string | undefined;
  productName: string;
  /** Where each link points, `{token}` to be replaced (the account pages by default). */
  links: { passwordReset: string; verifyEmail: string; changeEmail: string; revertEmailChange: string };
  passwordResetTtlSeconds: number;
  emailVerificationTtlSeconds: number;
  emailChangeTtlSeconds: number;
  emailRevertTtlSeconds: number;
  requireEmailVerification: boolean;
  securityNotifications: boolean;
  passwordResetsPerAddress: number;
  passwordResetsPerIp: number;
  dispatch: {
    intervalSeconds: number;
    batchSize: number;
    leaseSeconds: number;
    maxAttempts: number;
    /** A transport's timeout: a send must end well within its lease (half), and at most 20 s. */
    sendTimeoutMs: number;
  };
}

type MailEnv = z.output<z.ZodObject<typeof MailEnvSchema>>;

/** Rules across the mail variables, on the raw strings (reported with every other problem). */
export function mailCrossChecks(raw: Record<string, string>): string[] {
  const problems: string[] = [];
  if (raw.SMTP_URL && raw.MAIL_HTTP_URL)
    problems.push('MAIL_HTTP_URL: set SMTP_URL or MAIL_HTTP_URL, not both');
  // A reset link or a notice must never be dropped, nor written to a disk in clear (the .eml
  // files of development hold live links): production names a transport (OWASP ASVS V14.1).
  if (raw.NODE_ENV === 'production' && !raw.SMTP_URL && !raw.MAIL_HTTP_URL)
    problems.push(
      'SMTP_URL: required in production (password resets and security notices are sent by mail), or MAIL_HTTP_URL',
    );
  return problems;
}

export function mailConfig(
  e: MailEnv,
  context: { issuer: string; dataDir: string; productName: string },
): MailConfig {
  const page = (path: string) => `${context.issuer}/account/${path}?token={token}`;
  const transport: MailTransport = e.SMTP_URL
    ? { kind: 'smtp', url: e.SMTP_URL }
    : e.MAIL_HTTP_URL
      ? { kind: 'http', url: e.MAIL_HTTP_URL, token: e.MAIL_HTTP_TOKEN }
      : { kind: 'files', dir: `${context.dataDir}/mail` };
  return {
    transport,
    from: e.MAIL_FROM ?? `${context.productName} <no-reply@${new URL(context.issuer).hostname}>`,
    replyTo: e.MAIL_REPLY_TO,
    productName: context.productName,
    links: {
      passwordReset: e.PASSWORD_RESET_URL ?? page('password/reset'),
      verifyEmail: e.EMAIL_VERIFY_URL ?? page('email/verify'),
      changeEmail: e.EMAIL_CHANGE_URL ?? page('email/confirm'),
      revertEmailChange: e.EMAIL_REVERT_URL ?? page('email/revert'),
    },
    passwordResetTtlSeconds: e.PASSWORD_RESET_TTL,
    emailVerificationTtlSeconds: e.EMAIL_VERIFICATION_TTL,
    emailChangeTtlSeconds: e.EMAIL_CHANGE_TTL,
    emailRevertTtlSeconds: e.EMAIL_REVERT_TTL,
    requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION === 'true',
    securityNotifications: e.SECURITY_NOTIFICATIONS === 'true',
    passwordResetsPerAddress: e.PASSWORD_RESETS_PER_ADDRESS,
    passwordResetsPerIp: e.PASSWORD_RESETS_PER_IP,
    dispatch: {
      intervalSeconds: e.MAIL_DISPATCH_INTERVAL,
      batchSize: e.MAIL_BATCH_SIZE,
      leaseSeconds: e.MAIL_LEASE,
      maxAttempts: e.MAIL_MAX_ATTEMPTS,
      sendTimeoutMs: Math.min(20_000, (e.MAIL_LEASE * 1000) / 2),
    },
  };
}
