import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * packages/client/README.md's `ts` blocks compile against the package as installed
 * (node_modules/@latchkey/client, built by the global setup) under strict tsc: a renamed
 * method or option breaks this test, not a reader's app. The names the snippets leave to the
 * app (`showLogin`, `askForCode`, …) are declared; `expo-secure-store` is a stub of its API.
 */
const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'packages/client/README.md'), 'utf8');
const APP = `declare function showLogin(): void;
declare function showBanner(text: string): void;
declare function askForCode(): Promise<string>;
declare function askForPassword(): Promise<string>;
declare function askUser(what: 'code' | 'password'): Promise<string | undefined>;
declare function navigateToLogin(): void;
declare const email: string;
declare const password: string;
declare const codeFromTheApp: string;
// @simplewebauthn/browser's two calls, as an app imports them (the browser makes the credential).
declare function startRegistration(input: { optionsJSON: import('@latchkey/client').PasskeyCreationOptions }): Promise<import('@latchkey/client').PasskeyRegistration>;
declare function startAuthentication(input: { optionsJSON: import('@latchkey/client').PasskeyRequestOptions }): Promise<import('@latchkey/client').PasskeyAssertion>;
`;
/** A snippet that uses `auth` without making one continues the quick start. */
const CONTINUED = `import { type LatchkeyClient, LatchkeyError } from '@latchkey/client';
declare const auth: LatchkeyClient;
`;
const dir = mkdtempSync(join(tmpdir(), 'latchkey-client-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('packages/client/README.md', () => {
  it('every ts block type-checks against the installed package (strict, exactOptionalPropertyTypes)', () => {
    const blocks = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    mkdirSync(join(dir, 'node_modules/@latchkey'), { recursive: true });
    symlinkSync(join(ROOT, 'packages/client'), join(dir, 'node_modules/@latchkey/client'), 'dir');
    mkdirSync(join(dir, 'node_modules/expo-secure-store'));
    writeFileSync(
      join(dir, 'node_modules/expo-secure-store/package.json'),
      '{"name":"expo-secure-store","type":"module","types":"index.d.ts"}',
    );
    writeFileSync(
      join(dir, 'node_modules/expo-secure-store/index.d.ts'),
      `export function getItemAsync(key: string): Promise<string | null>;
export function setItemAsync(key: string, value: string): Promise<void>;
export function deleteItemAsync(key: string): Promise<void>;
`,
    );
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const files = blocks.map((block, index) => {
      const file = join(dir, `block${index}.ts`);
      writeFileSync(file, `${block.includes('const auth') ? '' : CONTINUED}${APP}${block}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
    });
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file
        ? `${diagnostic.file.fileName.slice(dir.length + 1)}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}: `
        : '';
      return where + ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    });
    expect(problems).toEqual([]);
  });
});
