import { type AddressInfo, createServer } from 'node:net';

/** A port the system just handed out (and took back): free, unlike a random guess. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Polls GET `base`/health every `pollMs` until it answers 200. Fails at once when `exited()`
 * says the process is gone (its text goes into the error), or after `timeoutMs`.
 */
export async function waitUntilHealthy(options: {
  base: string;
  timeoutMs: number;
  pollMs: number;
  exited: () => Promise<string | undefined> | string | undefined;
  output: () => Promise<string> | string;
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = await options.exited();
    if (exit !== undefined)
      throw new Error(`the server exited (${exit}) before it was healthy:\n${await options.output()}`);
    try {
      const response = await fetch(`${options.base}/health`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
  throw new Error(
    `GET /health did not answer 200 within ${options.timeoutMs} ms (last: ${last}):\n${await options.output()}`,
  );
}
