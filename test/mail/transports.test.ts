import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmlFileMailer } from '../../src/adapters/mail/eml-files.js';
import { createHttpMailer } from '../../src/adapters/mail/http.js';
import { createSmtpMailer, mailboxDomain, smtpOptions } from '../../src/adapters/mail/smtp.js';
import type { OutgoingMail } from '../../src/ports/mail.js';
import { FROM, REPLY_TO, resetMail } from './fixtures.js';
import { startSmtpServer } from './smtp-server.js';

const outgoing = (n: number): OutgoingMail => ({
  ...resetMail(n),
  from: FROM,
  replyTo: REPLY_TO,
  idempotencyKey: `key${n}-abcdefghijklmnop`,
});

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the .eml transport (development)', () => {
  it('writes a parseable message file and logs one line with the file and the link', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'latchkey-mail-')), 'mail');
    dirs.push(dirname(dir));
    const lines: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const log = (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields });
    const mailer = createEmlFileMailer(dir, {
      logger: { info: log, warn: log, error: log },
      now: () => new Date('2026-12-03T12:00:00.123Z'),
    });
    await mailer.send(outgoing(1));
    // At least once: the same message again keeps its one file.
    await mailer.send(outgoing(1));

    const files = await readdir(dir);
    expect(files).toEqual(['2026-12-03T12-00-00-123Z-key1-abcdefghijklmnop.eml']);
    const file = join(dir, files[0]!);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const parsed = await simpleParser(await readFile(file));
    expect(parsed.subject).toBe(resetMail(1).subject);
    expect(parsed.text).toBe(resetMail(1).text);
    expect(parsed.html).toBe(resetMail(1).html);
    expect(parsed.messageId).toBe('<key1-abcdefghijklmnop@auth.example.com>');
    expect(parsed.replyTo?.text).toBe(REPLY_TO);

    expect(lines[0]).toEqual({
      message: 'mail written to a file (development only: no SMTP_URL)',
      fields: {
        file,
        subject: resetMail(1).subject,
        links: ['https://auth.example.com/account/password/reset?token=tok1secret'],
      },
    });
  });
});

describe('the HTTPS mail API transport (Workers)', () => {
  const received: { headers: IncomingHttpHeaders; body: string; method: string | undefined }[] = [];
  let status = 202;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
        method: request.method,
      });
      response.statusCode = status;
      response.end(status === 202 ? '{"queued":true}' : `rejected: ${Buffer.concat(chunks).toString()}`);
    });
  });
  const listening = new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/send`),
    ),
  );
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('POSTs the message as JSON with the bearer token and the Idempotency-Key', async () => {
    const mailer = createHttpMailer({ url: await listening, token: 'relay-token' });
    await mailer.send(outgoing(2));
    const [request] = received;
    expect(request?.method).toBe('POST');
    expect(request?.headers.authorization).toBe('Bearer relay-token');
    expect(request?.headers['idempotency-key']).toBe('key2-abcdefghijklmnop');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      from: FROM,
      reply_to: REPLY_TO,
      ...resetMail(2),
      idempotency_key: 'key2-abcdefghijklmnop',
    });
  });

  it('rejects on a non-2xx answer with the status only (the answer may echo the link)', async () => {
    status = 503;
    const mailer = createHttpMailer({ url: await listening });
    const failure = mailer.send(outgoing(3));
    await expect(failure).rejects.toThrow('mail API answered 503');
    await expect(failure).rejects.not.toThrow(/tok3secret/);
    expect(received.at(-1)?.headers.authorization).toBeUndefined();
  });
});

describe('mailboxDomain (the Message-ID right part)', () => {
  it('takes the domain of a named or bare mailbox', () => {
    expect(mailboxDomain('Latchkey <no-reply@Auth.Example.com>')).toBe('auth.example.com');
    expect(mailboxDomain('no-reply@example.org')).toBe('example.org');
    expect(mailboxDomain('nobody')).toBe('localhost');
  });
});

describe('SMTP over the network requires TLS', () => {
  it('requires STARTTLS on smtp:// except on loopback, unless the URL says otherwise', () => {
    expect(smtpOptions('smtp://u:p@mail.example.com:587', 5_000)).toMatchObject({
      requireTLS: true,
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 5_000,
    });
    expect(smtpOptions('smtps://mail.example.com:465', 5_000).requireTLS).toBe(false);
    expect(smtpOptions('smtp://127.0.0.1:2525', 5_000).requireTLS).toBe(false);
    expect(smtpOptions('smtp://localhost:25', 5_000).requireTLS).toBe(false);
    expect(smtpOptions('smtp://[::1]:25', 5_000).requireTLS).toBe(false);
  });

  it('refuses to send in clear to a server that offers no STARTTLS when TLS is required', async () => {
    const server = await startSmtpServer();
    try {
      const mailer = createSmtpMailer(`${server.url}?requireTLS=true`, { timeoutMs: 5_000 });
      await expect(mailer.send(outgoing(4))).rejects.toThrow(/STARTTLS/i);
      expect(server.received).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
