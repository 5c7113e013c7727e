import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_startWorker } from 'wrangler';
import { newWebhookSecret } from '../../src/services/webhook-signing.js';
import { startReceiver } from './receiver.js';

/**
 * Webhooks on Workers (issue #18): wrangler bundles test/webhooks/workerd/sender.worker.ts (the
 * signing and the fetch sender, nothing else) and runs it in workerd; a real receiver in this
 * process verifies what arrives with the `standardwebhooks` package.
 */
type Worker = Awaited<ReturnType<typeof unstable_startWorker>>;
let worker: Worker | undefined;
let configDir: string;
let secret = newWebhookSecret();
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver({ secret: () => secret });
  configDir = await mkdtemp(join(tmpdir(), 'latchkey-workerd-webhooks-'));
  const config = join(configDir, 'wrangler.json');
  await writeFile(
    config,
    JSON.stringify({ name: 'latchkey-webhook-test', compatibility_date: '2025-09-01' }),
  );
  worker = await unstable_startWorker({
    config,
    entrypoint: resolve('test/webhooks/workerd/sender.worker.ts'),
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, logLevel: 'none' },
  });
  await worker.ready;
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
  await receiver?.close();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

async function sendFromWorker(input: { secrets: string[]; webhookId: string; body: string }) {
  if (!worker) throw new Error('the worker starts in beforeAll');
  const response = await worker.fetch('http://worker.test/', {
    method: 'POST',
    body: JSON.stringify({ url: receiver.url, ...input }),
  });
  return (await response.json()) as { ok: boolean; status: number | null; error?: string };
}

describe('webhooks in workerd', () => {
  const body = JSON.stringify({
    type: 'user.created',
    timestamp: new Date().toISOString(),
    data: { user_id: 'u' },
  });

  it('signs with WebCrypto and sends with fetch: the receiver verifies it with standardwebhooks', async () => {
    expect(await sendFromWorker({ secrets: [secret], webhookId: 'msg_workerd1', body })).toMatchObject({
      ok: true,
      status: 200,
    });
    const got = receiver.received.at(-1)!;
    expect(got).toMatchObject({ id: 'msg_workerd1', verified: true, body });
  });

  it('both signatures during a rotation; a 500 or a redirect is a failure, never followed', async () => {
    const old = secret;
    secret = newWebhookSecret();
    expect((await sendFromWorker({ secrets: [secret, old], webhookId: 'msg_workerd2', body })).ok).toBe(true);
    expect(receiver.received.at(-1)!.verified).toBe(true);
    receiver.answerWith(() => 500);
    expect(await sendFromWorker({ secrets: [secret], webhookId: 'msg_workerd3', body })).toMatchObject({
      ok: false,
      status: 500,
    });
    receiver.answerWith(() => 302);
    const redirected = await sendFromWorker({ secrets: [secret], webhookId: 'msg_workerd4', body });
    expect(redirected).toMatchObject({ ok: false, status: 302 });
    receiver.answerWith(() => 200);
  });
});
