import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import {
  type LaunchFacts,
  launchFlags,
  RELAUNCH_FROM_MAJOR,
  relaunchWithFlags,
} from '../src/entry/node-flags.js';
import { nodeMajor } from '../src/entry/node-version.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODULE = fileURLToPath(new URL('../src/entry/node-flags.ts', import.meta.url));

const facts = (overrides: Partial<LaunchFacts> = {}): LaunchFacts => ({
  version: 'v26.12.1',
  execArgv: [],
  nodeOptions: undefined,
  pgliteBaseline: false,
  ...overrides,
});

const SEMI = '--max-semi-space-size=8';

// Issue #21: V8's young generation and PGlite's baseline compiler, set when Node starts.
describe('the V8 flags given at launch (src/entry/node-flags.ts)', () => {
  it('from Node 22 (execve from 22.15); Node 20 has no execve', () => {
    for (const version of ['v20.20.2', 'v21.7.3', '', 'x'])
      expect(launchFlags(facts({ version, pgliteBaseline: true }))).toEqual([]);
    for (const version of ['v22.15.0', 'v22.23.5', 'v24.22.3', 'v26.12.1', 'v28.0.0'])
      expect(launchFlags(facts({ version }))).toEqual([SEMI]);
    expect(RELAUNCH_FROM_MAJOR).toBe(22);
  });

  it('--liftoff-only only for PGlite without PGLITE_OPTIMIZE', () => {
    expect(launchFlags(facts({ pgliteBaseline: true }))).toEqual([SEMI, '--liftoff-only']);
    expect(launchFlags(facts({ pgliteBaseline: false }))).toEqual([SEMI]);
  });

  it('leaves a flag the operator gave, in any spelling, on the command line or in NODE_OPTIONS', () => {
    const cases: [Partial<LaunchFacts>, string[]][] = [
      [{ execArgv: ['--max-semi-space-size=4'] }, ['--liftoff-only']],
      [{ execArgv: ['--max_semi_space_size=8'] }, ['--liftoff-only']],
      [{ nodeOptions: '--enable-source-maps --max-semi-space-size=32' }, ['--liftoff-only']],
      [{ nodeOptions: '--max-heap-size=512' }, ['--liftoff-only']],
      [{ execArgv: ['--no-liftoff-only'] }, [SEMI]],
      [{ execArgv: ['--liftoff-only', SEMI] }, []],
      [{ execArgv: ['--require', 'x.cjs'], nodeOptions: '' }, [SEMI, '--liftoff-only']],
    ];
    for (const [overrides, expected] of cases)
      expect(launchFlags(facts({ pgliteBaseline: true, ...overrides })), JSON.stringify(overrides)).toEqual(
        expected,
      );
  });

  const proc = (overrides: Record<string, unknown> = {}) => ({
    version: 'v26.12.1',
    platform: 'linux',
    execPath: '/usr/bin/node',
    execArgv: ['--enable-source-maps'],
    argv: ['/usr/bin/node', '/app/dist/entry/latchkey.cjs', 'serve', '--workers', '2'],
    env: { PATH: '/usr/bin', NODE_OPTIONS: '--trace-warnings' },
    execve: vi.fn(),
    ...overrides,
  });
  const pglite = { databaseUrl: undefined, pgliteOptimize: false };

  it('starts the same command again with the flags first and the same environment', () => {
    const p = proc();
    relaunchWithFlags(pglite, p);
    expect(p.execve).toHaveBeenCalledWith(
      '/usr/bin/node',
      [
        '/usr/bin/node',
        SEMI,
        '--liftoff-only',
        '--enable-source-maps',
        '/app/dist/entry/latchkey.cjs',
        'serve',
        '--workers',
        '2',
      ],
      p.env,
    );
  });

  it('never with an IPC channel (a cluster worker), on Windows, without execve, or with nothing to add', () => {
    for (const overrides of [
      { channel: {} },
      { platform: 'win32' },
      { execve: undefined },
      { version: 'v20.20.2' },
      { execArgv: [SEMI, '--liftoff-only'] },
    ]) {
      const execve = vi.fn();
      relaunchWithFlags(pglite, proc({ execve, ...overrides }));
      expect(execve, JSON.stringify(overrides)).not.toHaveBeenCalled();
    }
    const p = proc();
    relaunchWithFlags({ databaseUrl: 'postgres://db/latchkey', pgliteOptimize: false }, p);
    expect(p.execve.mock.calls[0]![1]).toEqual([
      '/usr/bin/node',
      SEMI,
      '--enable-source-maps',
      '/app/dist/entry/latchkey.cjs',
      'serve',
      '--workers',
      '2',
    ]);
  });

  it('runs on without the flags, with a warning, when execve fails', () => {
    const warnings: string[] = [];
    const p = proc({
      execve: () => {
        throw Object.assign(new Error('execve failed: EACCES'), { code: 'EACCES' });
      },
    });
    expect(() => relaunchWithFlags(pglite, p, (message) => warnings.push(message))).not.toThrow();
    expect(warnings).toEqual([
      `warning: could not restart with ${SEMI} --liftoff-only (Error: execve failed: EACCES); running without`,
    ]);
  });

  const relaunches =
    nodeMajor(process.version) >= RELAUNCH_FROM_MAJOR &&
    typeof (process as unknown as { execve?: unknown }).execve === 'function';

  it.skipIf(relaunches)('does nothing on this Node (20, or 22 before 22.15)', () => {
    const execArgv = [...process.execArgv];
    relaunchWithFlags(pglite);
    expect(process.execArgv).toEqual(execArgv);
  });

  // A real process image replaced: the same PID, the flags in V8, the script run once to its end.
  it.skipIf(!relaunches)('where Node has execve (22.15+), the same process runs again with them', () => {
    const script = [
      `const { relaunchWithFlags } = await import(${JSON.stringify(MODULE)});`,
      "console.log('before ' + process.pid);",
      'relaunchWithFlags({ databaseUrl: undefined, pgliteOptimize: false });',
      'const flags = process.execArgv.filter((arg) => /^--(max-semi|liftoff)/.test(arg));',
      'console.log(JSON.stringify({ pid: process.pid, flags }));',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    // The first image prints its PID and is replaced; the second prints it again, then its flags.
    const [first, second, last] = child.stdout.trim().split('\n');
    expect(second).toBe(first);
    const after = JSON.parse(last!) as { pid: number; flags: string[] };
    expect(`before ${after.pid}`).toBe(first);
    expect(after.flags).toEqual([SEMI, '--liftoff-only']);
  });
});
