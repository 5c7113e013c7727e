#!/usr/bin/env node
// `node test/packed/run-worker.mjs <consumer dir> <latchkey url>`: the kit in workerd. wrangler
// (the repo's) bundles <consumer dir>/worker.ts, resolving @latchkey/verify, jose and hono from
// the consumer's node_modules (the installed tarballs), and runs it in workerd; the worker
// verifies a real access token of the running Latchkey (JWKS and revocation feed fetched from
// it), through the plain helpers and the Hono middleware, and refuses a missing or bad one.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { unstable_startWorker } from 'wrangler';
import { check, newAccount } from './account.mjs';

const [consumer, base] = process.argv.slice(2);
if (!consumer || !base) throw new Error('usage: run-worker.mjs <consumer dir> <latchkey url>');

const configDir = await mkdtemp(join(resolve(consumer), '.wrangler-config-'));
const config = join(configDir, 'wrangler.json');
await writeFile(
  config,
  JSON.stringify({
    name: 'latchkey-packed-kit',
    compatibility_date: '2025-09-01',
    vars: { ISSUER: base },
  }),
);
let worker;
try {
  worker = await unstable_startWorker({
    config,
    entrypoint: resolve(consumer, 'worker.ts'),
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, logLevel: 'none' },
  });
  await worker.ready;

  const { user, tokens } = await newAccount(base, 'workerd');
  const bearer = { authorization: `Bearer ${tokens.access_token}` };
  for (const path of ['/me', '/hono/me']) {
    const ok = await worker.fetch(`http://worker.test${path}`, { headers: bearer });
    const body = await ok.json();
    check(ok.status === 200, `${path}: ${ok.status} ${JSON.stringify(body)}`);
    check(body.sub === user.id, `${path}: sub ${body.sub}, expected ${user.id}`);
    check(body.runtime === 'Cloudflare-Workers', `${path}: ran in ${body.runtime}, not workerd`);
    const anonymous = await worker.fetch(`http://worker.test${path}`);
    check(anonymous.status === 401, `${path} without a token: ${anonymous.status}`);
    check(/^Bearer/.test(anonymous.headers.get('www-authenticate') ?? ''), `${path}: no Bearer challenge`);
    const forged = await worker.fetch(`http://worker.test${path}`, {
      headers: { authorization: `Bearer ${tokens.access_token.slice(0, -4)}AAAA` },
    });
    check(forged.status === 401, `${path} with a forged signature: ${forged.status}`);
    check(/invalid_token/.test(forged.headers.get('www-authenticate') ?? ''), `${path}: not invalid_token`);
  }
  console.log(
    `workerd: the kit verified a token of ${base} (user ${user.id}), refused missing and forged ones`,
  );
} finally {
  await worker?.dispose();
  await rm(configDir, { recursive: true, force: true });
}
