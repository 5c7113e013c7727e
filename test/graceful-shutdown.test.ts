import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { DataDirLockedError, openDatabase } from '../src/entry/node-runtime.js';
import { freePort } from './support/ports.js';

/**
 * `npm start`'s process on SIGTERM: serves on for SHUTDOWN_DELAY seconds (Connection: close,
 * /health 503), stops accepting, lets the requests in flight finish, closes the database and
 * exits 0.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function startServer(env: Record<string, string> = {}): Promise<{
  child: ChildProcess;
  base: string;
  dir: string;
  output: () => string;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-shutdown-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'development',
      DATA_DIR: dir,
      PORT: String(await freePort()),
      LOG_LEVEL: 'info',
      CLEANUP_INTERVAL: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start in 90 s:\n${output}`)), 90_000);
    child.stdout!.on('data', () => {
      if (output.includes('latchkey listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${output}`)));
  });
  // The start line names the address it listens on.
  const url = output.match(/"url":"(http:\/\/[^"]+)"/)?.[1];
  if (!url) throw new Error(`no url in the start line:\n${output}`);
  return { child, base: url, dir, output: () => output };
}

describe('graceful shutdown', () => {
  it('serves on through SHUTDOWN_DELAY, finishes a login in flight, then refuses new connections and exits 0', async () => {
    const { child, base, output } = await startServer({ SHUTDOWN_DELAY: '8' });
    // One kept-alive connection, accepted by the server before the signal: node:http, so the
    // test sees the connection header (fetch hides it).
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, body?: unknown, via?: Agent) =>
      new Promise<{ status: number; connection: string | undefined; json: Record<string, unknown> }>(
        (resolve, reject) => {
          const req = request(
            `${base}${path}`,
            { method, agent: via, headers: { 'content-type': 'application/json' } },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (chunk) => {
                text += chunk;
              });
              res.on('end', () =>
                resolve({
                  status: res.statusCode!,
                  connection: res.headers.connection,
                  json: JSON.parse(text),
                }),
              );
            },
          );
          req.on('error', reject);
          req.end(body === undefined ? undefined : JSON.stringify(body));
        },
      );
    const account = { email: 'shutdown@example.com', password: 'correct horse battery staple' };
    const registered = await send('POST', '/v1/auth/register', account, agent);
    expect(registered.status).toBe(201);
    expect(registered.connection).toBe('keep-alive');

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // On the same connection, then the signal at once: its bytes may not be read yet when the
    // signal is handled, which closing at once used to drop (the connection looked idle).
    const inFlight = send('POST', '/v1/auth/login', account, agent);
    child.kill('SIGTERM');
    const login = await inFlight;
    expect(login.status).toBe(200);
    expect(login.json.access_token).toBeTruthy();
    // During the delay: a new connection is still served, and so is the next request on the
    // kept-alive one; readiness fails, and each answer closes its connection, so that clients go
    // elsewhere. (The login's own answer may keep its connection: it may have begun before the
    // signal was handled.)
    const unavailable = { status: 503, connection: 'close', json: { status: 'unavailable' } };
    expect(await send('GET', '/health')).toMatchObject(unavailable);
    expect(await send('GET', '/health', undefined, agent)).toMatchObject(unavailable);

    expect(await exited).toBe(0);
    expect(output()).toContain('shutting down');
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    agent.destroy();
  }, 180_000);

  it('a second process cannot open the embedded database a server holds, and can once it has stopped', async () => {
    const { child, dir } = await startServer({ SHUTDOWN_DELAY: '300' });
    const config = parseConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    await expect(openDatabase(config, { migrate: true })).rejects.toBeInstanceOf(DataDirLockedError);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // A second signal (Ctrl-C twice) skips the rest of the delay: the test's 180 s limit is below it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const database = await openDatabase(config, { migrate: true });
    await database.close();
  }, 180_000);

  it('takes over a lock left by a killed process that nobody has reaped (a zombie)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-zombie-'));
    dirs.push(dir);
    // The forked child exits at once; its parent never calls wait, so it stays a zombie.
    const parent = spawn(
      'perl',
      ['-e', '$| = 1; my $pid = fork(); exit 0 unless $pid; print "$pid\n"; sleep 30'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    try {
      const zombie = Number(
        await new Promise<string>((resolve) => parent.stdout?.once('data', (d) => resolve(String(d)))),
      );
      // It is a zombie once it has exited; wait for that (it takes a few milliseconds).
      const state = async () => {
        const stat = await readFile(`/proc/${zombie}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      };
      for (let i = 0; i < 500 && (await state()) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await state()).toBe('Z');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'latchkey.lock'), String(zombie));
      const stillListed = () => {
        try {
          process.kill(zombie, 0);
          return true;
        } catch {
          return false;
        }
      };
      expect(stillListed()).toBe(true); // kill(pid, 0) alone would call it alive
      const config = parseConfig({ NODE_ENV: 'development', DATA_DIR: dir });
      const database = await openDatabase(config, { migrate: true });
      await database.close();
    } finally {
      parent.kill('SIGKILL');
    }
  }, 180_000);
});

describe('SHUTDOWN_DELAY', () => {
  it('is whole seconds from 0 to 300, 1 by default', () => {
    expect(parseConfig({}).shutdownDelaySeconds).toBe(1);
    expect(parseConfig({ SHUTDOWN_DELAY: '0' }).shutdownDelaySeconds).toBe(0);
    expect(parseConfig({ SHUTDOWN_DELAY: '30' }).shutdownDelaySeconds).toBe(30);
    for (const bad of ['-1', '301', '1.5', 'soon'])
      expect(() => parseConfig({ SHUTDOWN_DELAY: bad }), bad).toThrow(/SHUTDOWN_DELAY/);
  });
});
