import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';

/** Debian's headless Chromium (CI installs it; `CHROMIUM_PATH` for another one). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether the browser tests can run here; on CI a missing browser is an error, never a skip. */
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI)
  throw new Error(`CI needs Chromium at ${CHROMIUM} (apt-get install chromium)`);

/** The browser every browser test launches, with the flags a container needs. */
export function launchChromium(extraArgs: readonly string[] = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

export type LocalServer = ReturnType<typeof serve>;

/**
 * `fetch` served on a free port of 127.0.0.1, and its base URL under `host`: `localhost` where the
 * page needs a secure context and a valid WebAuthn RP ID (an IP address is not one).
 */
export async function listenLocally(
  fetch: (request: Request) => Response | Promise<Response>,
  host: 'localhost' | '127.0.0.1' = '127.0.0.1',
): Promise<{ server: LocalServer; base: string }> {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((listening) => server.once('listening', listening));
  return { server, base: `http://${host}:${(server.address() as AddressInfo).port}` };
}
