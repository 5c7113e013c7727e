import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';

/**
 * The README's curl walk-through pastes into bash as it is (issue #19, item 6): its shell
 * blocks, in order, run under `set -euo pipefail` against the built server (`node
 * dist/entry/node.js`, what `npm run serve` starts) on a fresh PGlite data directory. Every
 * request must answer 2xx, except the one the walk shows refused (the access token of a
 * logged-out session). Skipped where `bash`, `curl` or `jq` is missing (CI installs jq).
 */
const ROOT = join(import.meta.dirname, '..');
const SERVER = join(ROOT, 'dist', 'entry', 'node.js');
const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const tools = ['bash', 'curl', 'jq'].filter((tool) => !has(tool));
if (tools.length > 0 && process.env.CI)
  throw new Error(`CI needs ${tools.join(', ')} for the README walk-through`);

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const HEADING = '## A walk through it with curl';
const BASE_LINE = 'B=http://localhost:3000';

/** The ```sh blocks of the walk-through section (its ### subsections included), in order. */
function walkthroughBlocks(): string[] {
  const start = README.indexOf(`\n${HEADING}\n`);
  if (start === -1) return [];
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

/** Each request's status, method and URL, written to stderr by curl itself (`-w %{stderr}`). */
const CURL_LOG = /^(\d{3}) ([A-Z]+) (http\S+)$/gm;

describe.skipIf(tools.length > 0)('the README walk-through, pasted into bash', () => {
  let child: ChildProcess | undefined;
  let dir: string;
  let base: string;
  let output = '';

  beforeAll(async () => {
    expect(existsSync(SERVER), 'the build (the global setup runs tsc)').toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'latchkey-walkthrough-'));
    const port = await freePort();
    child = spawn(process.execPath, [SERVER], {
      cwd: dir,
      // A clean environment: what a reader's shell has, not the test run's database settings.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        NODE_ENV: 'development',
        DATA_DIR: join(dir, 'data'),
        PORT: String(port),
        LOG_LEVEL: 'info',
        CLEANUP_INTERVAL: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start in 90 s:\n${output}`)), 90_000);
      const onData = (chunk: Buffer) => {
        output += chunk;
        if (output.includes('latchkey listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child!.stdout!.on('data', onData);
      child!.stderr!.on('data', onData);
      child!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (${code}):\n${output}`));
      });
    });
    await started;
    base = `http://127.0.0.1:${port}`;
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds the walk-through: its blocks, the base URL line, the MFA part', () => {
    const blocks = walkthroughBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const script = blocks.join('\n');
    expect(script.split('\n').filter((line) => line === BASE_LINE)).toHaveLength(1);
    expect(script).toContain('/v1/mfa/totp/enroll');
    // Nothing for the reader to fill in by hand: no `<session id>`, no `eyJ…` outside comments.
    const code = script.split('\n').filter((line) => !line.trimStart().startsWith('#'));
    expect(code.filter((line) => /<[a-z][a-z ]*>|…/.test(line))).toEqual([]);
  });

  it('runs from start to end: every request 2xx but the logged-out token, MFA reaching aal2', () => {
    const script = [
      'set -euo pipefail',
      // curl writes each request's status to stderr; the README's own curl lines stay as they are.
      `curl() { command curl -w '%{stderr}%{http_code} %{method} %{url_effective}\\n' "$@"; }`,
      walkthroughBlocks().join('\n').replace(BASE_LINE, `B=${base}`),
    ].join('\n');
    const run = spawnSync('bash', ['-c', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LC_ALL: 'C.UTF-8' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const trace = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    expect(run.status, trace).toBe(0);

    const requests = [...run.stderr.matchAll(CURL_LOG)].map(([, status, method, url]) => ({
      status: Number(status),
      request: `${method} ${new URL(url!).pathname}`,
    }));
    expect(requests.length, trace).toBeGreaterThanOrEqual(18);
    const refused = requests.filter(({ status }) => status < 200 || status > 299);
    expect(refused, trace).toEqual([{ status: 401, request: 'GET /v1/users/me' }]);
    for (const path of [
      'POST /v1/auth/register',
      'POST /v1/auth/refresh',
      'POST /v1/sessions/revoke-all',
      'POST /v1/auth/logout',
      'POST /v1/mfa/totp/activate',
      'POST /v1/auth/login/mfa',
      'POST /v1/auth/step-up',
    ])
      expect(
        requests.some(({ request }) => request === path),
        path,
      ).toBe(true);
    // The DELETE of the phone's session named a real id, not a placeholder.
    expect(requests.some(({ request }) => /^DELETE \/v1\/sessions\/[0-9a-f-]{36}$/.test(request))).toBe(true);
    // The last thing printed: the step-up token's claims, at aal2 with a code.
    const claims = JSON.parse(run.stdout.slice(run.stdout.lastIndexOf('{\n')));
    expect(claims).toMatchObject({ acr: 'aal2', amr: ['pwd', 'otp'] });
  }, 150_000);
});
