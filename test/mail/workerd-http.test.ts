import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_startWorker } from 'wrangler';
import type { OutgoingMail } from '../../src/ports/mail.js';
import { FROM, resetMail } from './fixtures.js';

/**
 * The Workers mail transport in workerd itself (issue #17): wrangler bundles
 * test/mail/workerd/http-mailer.worker.ts (which only wraps src/adapters/mail/http.ts) and runs
 * it locally; the worker POSTs to a Node HTTP server standing in for the mail API. This caught
 * what Node's fetch accepts and workerd refuses (`redirect: 'error'`).
 */
type Worker = Awaited<ReturnType<typeof unstable_startWorker>>;
let worker: Worker | undefined;
let configDir: string;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let status = 202;
const api = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => {
    body += chunk.toString();
  });
  request.on('end', () => {
    received.push({ headers: request.headers, body });
    response.statusCode = status;
    if (status === 302) response.setHeader('location', 'https://elsewhere.example.com/');
    response.end();
  });
});
let apiUrl: string;

beforeAll(async () => {
  await new Promise<void>((done) => api.listen(0, '127.0.0.1', () => done()));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/send`;
  // A configuration of its own: the project's wrangler.toml binds Hyperdrive and a Cron trigger.
  configDir = await mkdtemp(join(tmpdir(), 'latchkey-workerd-mail-'));
  const config = join(configDir, 'wrangler.json');
  await writeFile(config, JSON.stringify({ name: 'latchkey-mail-test', compatibility_date: '2025-09-01' }));
  worker = await unstable_startWorker({
    config,
    entrypoint: resolve('test/mail/workerd/http-mailer.worker.ts'),
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, logLevel: 'none' },
  });
  await worker.ready;
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
  await new Promise<void>((done) => api.close(() => done()));
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

const mail: OutgoingMail = {
  ...resetMail(9),
  from: FROM,
  replyTo: undefined,
  idempotencyKey: 'workerd-key-0123456789',
};

async function sendFromWorker(token?: string): Promise<{ ok: boolean; error?: string }> {
  if (!worker) throw new Error('the worker starts in beforeAll');
  const response = await worker.fetch('http://worker.test/', {
    method: 'POST',
    body: JSON.stringify({ url: apiUrl, token, mail }),
  });
  return (await response.json()) as { ok: boolean; error?: string };
}

describe('the HTTPS mail transport in workerd', () => {
  it('POSTs the message with the bearer token and the Idempotency-Key', async () => {
    expect(await sendFromWorker('relay-token')).toEqual({ ok: true });
    const request = received.at(-1);
    expect(request?.headers.authorization).toBe('Bearer relay-token');
    expect(request?.headers['idempotency-key']).toBe('workerd-key-0123456789');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      from: FROM,
      reply_to: null,
      ...resetMail(9),
      idempotency_key: 'workerd-key-0123456789',
    });
  });

  it('fails on an error status or a redirect (never follows one with the token)', async () => {
    status = 503;
    expect(await sendFromWorker('relay-token')).toEqual({ ok: false, error: 'mail API answered 503' });
    status = 302;
    const before = received.length;
    expect(await sendFromWorker('relay-token')).toEqual({ ok: false, error: 'mail API answered 302' });
    expect(received.length).toBe(before + 1);
  });
});
