import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';
import { serverOutput } from './support/spawned.js';

/**
 * The package's bin (`latchkey`, dist/entry/latchkey.cjs, built by the global setup) as an operator
 * runs it after `npm install latchkey`: `latchkey serve` on the embedded database, `--version`,
 * and the usage. .ci/packages.sh does the same from the packed tarball in an empty folder.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/entry/latchkey.cjs');
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

describe('the latchkey bin', () => {
  it('is the package bin, and starts with a shebang so npx can run it', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(manifest.bin).toEqual({ latchkey: 'dist/entry/latchkey.cjs' });
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints its version and a usage that names serve', () => {
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim()).toBe(
      packageVersion,
    );
    const usage = execFileSync(process.execPath, [bin, 'help'], { encoding: 'utf8' });
    expect(usage).toMatch(/^usage: latchkey <command>/);
    expect(usage).toContain('\n  serve ');
  });

  describe('serve', () => {
    let dataDir: string;
    let child: ChildProcess;
    let port: number;
    let output: ReturnType<typeof serverOutput>;
    let exited: Promise<number | null>;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
      port = await freePort();
      // From an empty folder, with no DATABASE_URL: PGlite in DATA_DIR, migrated at start.
      child = spawn(process.execPath, [bin, 'serve'], {
        cwd: dataDir,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          DATA_DIR: join(dataDir, 'data'),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      output = serverOutput(child);
      await output.listening;
    }, 60_000);

    afterAll(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('serves the API on the embedded database', async () => {
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      const jwks = (await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as {
        keys: unknown[];
      };
      expect(jwks.keys.length).toBeGreaterThan(0);
      expect(output.text()).toContain(`pglite (${join(dataDir, 'data')})`);
    });

    it('stops cleanly on SIGTERM', async () => {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
});
