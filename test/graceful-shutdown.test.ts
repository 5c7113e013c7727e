import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { DataDirLockedError, openDatabase } from '../src/entry/node-runtime.js';
import { freePort } from './support/ports.js';

/**
 * `npm start`'s process on SIGTERM: stops accepting, lets the requests in flight finish,
 * closes the database and exits 0.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function startServer(): Promise<{
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
  it('finishes a login in flight after SIGTERM, then refuses new connections and exits 0', async () => {
    const { child, base, output } = await startServer();
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify(body),
      });
    const account = { email: 'shutdown@example.com', password: 'correct horse battery staple' };
    expect((await post('/v1/auth/register', account)).status).toBe(201);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const inFlight = post('/v1/auth/login', account); // an argon2id hash: tens of milliseconds
    await new Promise((resolve) => setTimeout(resolve, 5)); // let the request reach the server
    child.kill('SIGTERM');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect((await response.json()).access_token).toBeTruthy();

    expect(await exited).toBe(0);
    expect(output()).toContain('shutting down');
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  }, 180_000);

  it('a second process cannot open the embedded database a server holds, and can once it has stopped', async () => {
    const { child, dir } = await startServer();
    const config = parseConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    await expect(openDatabase(config, { migrate: true })).rejects.toBeInstanceOf(DataDirLockedError);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
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
