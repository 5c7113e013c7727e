import { createServer } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * The SMTP server of the mail fault tests (the `smtp-server` package; `mailparser` reads what
 * arrived), on one fixed port for the whole test, so that the Latchkey processes keep one
 * SMTP_URL while the server goes down and comes back:
 *
 * - down: nothing listens on the port (connection refused);
 * - `hang`: the TCP connection is accepted and never greeted, so a send stays in flight (and its
 *   claim held) until the sender's greeting timeout: the case that leaves claims in a process
 *   we kill;
 * - `accept`: every message is taken (250);
 * - `accept-then-crash`: a message that arrived in full is recorded, then `crash()` runs (the
 *   test kills the sender) and only then is the 250 written, into a dead connection: the
 *   reply to the final dot lost: the duplicate that RFC 1047 ("Duplicate messages and SMTP")
 *   describes, which at-least-once delivery cannot rule out.
 */

export type SmtpMode =
  | { kind: 'accept' }
  | { kind: 'hang' }
  | { kind: 'accept-then-crash'; crash: () => Promise<unknown> };

/** One message as it arrived. */
export interface Arrival {
  /** The X-Idempotency-Key header (src/adapters/mail/smtp.ts). */
  key: string | undefined;
  /** The Message-ID, angle brackets included. */
  messageId: string | undefined;
  to: string;
  subject: string;
  text: string;
  /** Taken in `accept-then-crash` mode: the sender died before it read the 250. */
  unacknowledged: boolean;
}

const arrivalOf = (mail: ParsedMail, unacknowledged: boolean): Arrival => {
  const key = mail.headers.get('x-idempotency-key');
  const to = mail.to === undefined ? [] : Array.isArray(mail.to) ? mail.to : [mail.to];
  return {
    key: typeof key === 'string' ? key : undefined,
    messageId: mail.messageId,
    to: to.map((address) => address.text).join(', '),
    subject: mail.subject ?? '',
    text: mail.text ?? '',
    unacknowledged,
  };
};

/**
 * A port below Linux's ephemeral range (32768–60999 by default), free now: while our server is
 * down the system does not hand it to anything else (a `freePort()`, an outgoing connection),
 * so "connection refused" there means our server is down, not that someone else answers.
 */
export async function reservedPort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 20000 and 32000');
}

export class FaultSmtp {
  /** Every message that arrived, in order, whatever the mode. */
  readonly arrivals: Arrival[] = [];
  private server: SMTPServer | undefined;
  private mode: SmtpMode = { kind: 'accept' };
  /** Connections held in `hang` mode that the client has not closed. */
  private readonly held = new Set<string>();

  private constructor(readonly port: number) {}

  /** A server on a port of its own, down (nothing listens) until `up`. */
  static async reserve(): Promise<FaultSmtp> {
    return new FaultSmtp(await reservedPort());
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Connections accepted in `hang` mode and still open: sends in flight. */
  get heldConnections(): number {
    return this.held.size;
  }

  /** Applies to connections and messages from now on. */
  setMode(mode: SmtpMode): void {
    this.mode = mode;
  }

  async up(mode: SmtpMode): Promise<void> {
    if (this.server) throw new Error('the SMTP server is already up');
    this.mode = mode;
    const server = new SMTPServer({
      authOptional: true,
      // Plain SMTP on loopback (nodemailer requires STARTTLS only off loopback).
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      disableReverseLookup: true,
      // A closed server ends what is left at once: the peers are processes we killed.
      closeTimeout: 500,
      onConnect: (session, callback) => {
        // No greeting: the client waits until its greetingTimeout.
        if (this.mode.kind === 'hang') {
          this.held.add(session.id);
          return;
        }
        callback();
      },
      onClose: (session) => {
        this.held.delete(session.id);
      },
      onData: (stream, _session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        // The sender died in the middle of the message: nothing arrived.
        stream.on('error', () => {});
        stream.on('end', () => {
          const mode = this.mode;
          simpleParser(Buffer.concat(chunks)).then(
            async (mail) => {
              const crashing = mode.kind === 'accept-then-crash';
              this.arrivals.push(arrivalOf(mail, crashing));
              if (crashing) await mode.crash();
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening (connection refused from now on) and ends every open connection. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.held.clear();
  }
}
