import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transporter } from 'nodemailer';
import type { Logger } from '../../ports/logger.js';
import type { Mailer, OutgoingMail } from '../../ports/mail.js';
import { messageFields, nodemailer } from './smtp.js';

/** The links of a plain-text body, for the log line (the reset link a newcomer follows). */
const LINKS = /https?:\/\/[^\s<>"]+/g;
const MAX_LINKS = 5;

/**
 * Development only (issue #17): with no SMTP_URL, each message is written as an `.eml` file
 * under `dir` (any mail client opens one) and ONE log line names the file and the links in the
 * text, so a newcomer can follow a password reset with nothing installed. The files and that
 * line hold single-use links in clear: production refuses this transport (src/config/mail.ts).
 */
export function createEmlFileMailer(dir: string, deps: { logger: Logger; now?: () => Date }): Mailer {
  const now = deps.now ?? (() => new Date());
  // nodemailer renders the message exactly as SMTP would send it, into a buffer.
  let transport: Transporter | undefined;
  return {
    async send(mail: OutgoingMail) {
      transport ??= (await nodemailer()).createTransport({
        streamTransport: true,
        buffer: true,
        newline: 'unix',
      });
      const rendered = await transport.sendMail(messageFields(mail));
      // The time first, so the files list in order; ':' is not allowed in Windows file names.
      const stamp = now().toISOString().replace(/[:.]/g, '-');
      const file = join(dir, `${stamp}-${mail.idempotencyKey}.eml`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // 'wx': a message delivered twice (at least once) keeps its first file.
      await writeFile(file, rendered.message as Uint8Array, { mode: 0o600, flag: 'wx' }).catch(
        (error: { code?: string }) => {
          if (error.code !== 'EEXIST') throw error;
        },
      );
      const links = [...new Set(mail.text.match(LINKS) ?? [])].slice(0, MAX_LINKS);
      deps.logger.info('mail written to a file (development only: no SMTP_URL)', {
        file,
        subject: mail.subject,
        links,
      });
    },
  };
}
