import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules of src/ (docs/architecture.md), checked on every import of every file.
 * A layer is a top-level folder of src/ (src/config.ts is the layer `config`); a file may always
 * import its own layer and packages. Change a rule here and in docs/architecture.md's table together:
 * the last test compares them.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

type Layer =
  | 'lib'
  | 'domain'
  | 'ports'
  | 'config'
  | 'services'
  | 'compose'
  | 'adapters'
  | 'http'
  | 'verify'
  | 'client'
  | 'entry';
const ALL: Layer[] = [
  'lib',
  'domain',
  'ports',
  'config',
  'services',
  'compose',
  'adapters',
  'http',
  'verify',
  'client',
  'entry',
];

interface Rule {
  may: Layer[];
  /** Layers whose types (`import type`) only may be used: shapes, never behaviour. */
  typesOnly?: Layer[];
}

const RULES: Record<Layer, Rule> = {
  lib: { may: [] },
  domain: { may: ['lib'] },
  ports: { may: ['domain', 'lib'] },
  config: { may: ['domain', 'lib'] },
  services: { may: ['domain', 'ports', 'lib'], typesOnly: ['config'] },
  compose: { may: ['services', 'ports', 'domain', 'lib', 'config'] },
  adapters: { may: ['ports', 'domain', 'lib'] },
  http: { may: ['services', 'domain', 'lib', 'config'], typesOnly: ['ports'] },
  verify: { may: ['domain', 'lib'] },
  client: { may: [] },
  entry: { may: ALL },
};

/** Imports allowed against the rules, each with its reason; a path ending in / is a folder. */
const EXCEPTIONS: { from: string; to: string; why: string }[] = [];

/** Node and Workers APIs: `node:*` and `cloudflare:*` modules, Node's globals, Node-only packages. */
const NODE_GLOBALS = new Set(['process', 'Buffer', '__dirname', '__filename', 'require', 'global', 'NodeJS']);
const NODE_ONLY_PACKAGES = new Set(['argon2', 'pino', 'prom-client', '@hono/node-server', 'nodemailer']);
const BUILTINS = new Set(builtinModules);

/** Where a runtime API may appear ('*': any), and why; everything else runs anywhere. */
const RUNTIME_ALLOWED: { path: string; apis: string[] | '*'; why: string }[] = [
  { path: 'src/entry/', apis: '*', why: 'the runtime entries: they read the environment and wire adapters' },
  {
    path: 'src/lib/crypto.ts',
    apis: ['process', 'node:crypto', 'node:buffer'],
    why: "the one runtime-detecting module: node:crypto (and node:buffer's base64url) through process.getBuiltinModule when present (BENCHMARKS.md), WebCrypto elsewhere; the published kit uses it and has no entry to inject it",
  },
  {
    path: 'src/adapters/pino-logger.ts',
    apis: ['pino', 'pino-pretty', 'process', 'node:module'],
    why: "Node's logger (pid in each line; readable lines on a terminal in development, pino-pretty required only then)",
  },
  { path: 'src/adapters/password/argon2-native.ts', apis: ['argon2'], why: 'the native argon2 binding' },
  {
    path: 'src/adapters/db/pglite.ts',
    apis: ['node:fs', 'node:fs/promises', 'node:module', 'node:path', 'node:v8', 'node:zlib'],
    why: "the embedded database's data directory: the build's migrated snapshot extracted into an empty one (issue #21, synchronous writes before the server listens), the installed PGlite's version read to check the snapshot, and V8's baseline WebAssembly compiler only (node:v8)",
  },
  { path: 'src/adapters/prom-metrics.ts', apis: ['prom-client'], why: 'Prometheus on Node' },
  { path: 'src/adapters/mail/smtp.ts', apis: ['nodemailer'], why: 'SMTP delivery on Node (issue 17)' },
  {
    path: 'src/adapters/mail/eml-files.ts',
    apis: ['nodemailer', 'node:fs/promises', 'node:path'],
    why: 'development mail as .eml files under DATA_DIR/mail',
  },
  {
    path: 'src/adapters/webhooks/node-sender.ts',
    apis: ['node:dns/promises', 'node:http', 'node:https'],
    why: 'webhook delivery on Node (issue 18): the connection goes only to the resolved addresses it checked',
  },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

const rel = (path: string) => relative(ROOT, path).split('\\').join('/');
const layerOf = (path: string): Layer => {
  const top = rel(path).split('/')[1]!;
  return (top === 'config.ts' ? 'config' : top) as Layer;
};

/** The file a relative specifier names (`./x.js` is ./x.ts or ./x.tsx). */
function resolveImport(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  const candidates = [
    base,
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.js$/, '.tsx'),
    join(base, 'index.ts'),
  ];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile()) ?? base;
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}
interface RuntimeUse {
  api: string;
  line: number;
}

function unwrap(node: ts.Expression): ts.Expression {
  let current = node;
  while (
    ts.isParenthesizedExpression(current) ||
    ts.isAsExpression(current) ||
    ts.isNonNullExpression(current)
  )
    current = current.expression;
  return current;
}

function isDeclarationName(id: ts.Identifier): boolean {
  const parent = id.parent;
  if (ts.isPropertyAccessExpression(parent) || ts.isQualifiedName(parent))
    return (ts.isPropertyAccessExpression(parent) ? parent.name : parent.right) === id;
  return (
    (ts.isPropertyAssignment(parent) ||
      ts.isPropertySignature(parent) ||
      ts.isPropertyDeclaration(parent) ||
      ts.isMethodDeclaration(parent) ||
      ts.isMethodSignature(parent) ||
      ts.isVariableDeclaration(parent) ||
      ts.isParameter(parent) ||
      ts.isFunctionDeclaration(parent) ||
      ts.isBindingElement(parent) ||
      ts.isImportSpecifier(parent) ||
      ts.isExportSpecifier(parent) ||
      ts.isEnumMember(parent)) &&
    (parent as { name?: ts.Node }).name === id
  );
}

const runtimeApiOfModule = (specifier: string): string | undefined => {
  if (specifier.startsWith('node:') || specifier.startsWith('cloudflare:')) return specifier;
  if (BUILTINS.has(specifier)) return `node:${specifier}`;
  const pkg = specifier.startsWith('@')
    ? specifier.split('/').slice(0, 2).join('/')
    : specifier.split('/')[0]!;
  return NODE_ONLY_PACKAGES.has(pkg) ? pkg : undefined;
};

function scan(path: string): { imports: Import[]; runtime: RuntimeUse[] } {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const imports: Import[] = [];
  const runtime: RuntimeUse[] = [];
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const addModule = (node: ts.Node, specifier: string, typeOnly: boolean) => {
    imports.push({ specifier, typeOnly, line: lineOf(node) });
    const api = runtimeApiOfModule(specifier);
    if (api) runtime.push({ api, line: lineOf(node) });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!named &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((element) => element.isTypeOnly)));
      addModule(node, node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = node.exportClause;
      const typeOnly =
        node.isTypeOnly ||
        (!!clause &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((element) => element.isTypeOnly));
      addModule(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal))
        addModule(node, argument.literal.text, true);
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      const callee = unwrap(node.expression);
      const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
      if (first && ts.isStringLiteral(first)) {
        if (node.expression.kind === ts.SyntaxKind.ImportKeyword) addModule(node, first.text, false);
        // process.getBuiltinModule('node:crypto') is an import by another name.
        if (name === 'getBuiltinModule') runtime.push({ api: first.text, line: lineOf(node) });
      }
    } else if (ts.isPropertyAccessExpression(node)) {
      const target = unwrap(node.expression);
      if (
        ts.isIdentifier(target) &&
        ['globalThis', 'self'].includes(target.text) &&
        NODE_GLOBALS.has(node.name.text)
      )
        runtime.push({ api: node.name.text, line: lineOf(node) });
    } else if (ts.isIdentifier(node) && NODE_GLOBALS.has(node.text) && !isDeclarationName(node)) {
      runtime.push({ api: node.text, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, runtime };
}

const FILES = sourceFiles(SRC).map((path) => ({
  path,
  name: rel(path),
  layer: layerOf(path),
  ...scan(path),
}));
const covers = (prefix: string, name: string) =>
  prefix.endsWith('/') ? name.startsWith(prefix) : name === prefix;

function layeringViolations(): string[] {
  const found: string[] = [];
  for (const file of FILES) {
    const rule = RULES[file.layer];
    for (const { specifier, typeOnly, line } of file.imports) {
      if (!specifier.startsWith('.')) continue; // a package
      const target = resolveImport(file.path, specifier);
      const targetName = rel(target);
      const where = `${file.name}:${line} imports ${targetName}`;
      if (!targetName.startsWith('src/')) {
        found.push(`${where}: src/ imports nothing outside src/`);
        continue;
      }
      const layer = layerOf(target);
      if (layer === file.layer || rule.may.includes(layer)) continue;
      if (rule.typesOnly?.includes(layer) && typeOnly) continue;
      if (EXCEPTIONS.some((e) => covers(e.from, file.name) && covers(e.to, targetName))) continue;
      const allowed = [...rule.may, ...(rule.typesOnly ?? []).map((l) => `${l} (types only)`)];
      found.push(
        `${where}: ${file.layer} may import ${allowed.join(', ') || 'nothing of ours'} (docs/architecture.md), not ${layer}${rule.typesOnly?.includes(layer) ? ' values' : ''}`,
      );
    }
  }
  return found;
}

function runtimeViolations(): string[] {
  const found: string[] = [];
  for (const file of FILES) {
    const allowance = RUNTIME_ALLOWED.filter((a) => covers(a.path, file.name));
    for (const { api, line } of file.runtime) {
      if (allowance.some((a) => a.apis === '*' || a.apis.includes(api))) continue;
      found.push(
        `${file.name}:${line} uses ${api}: runtime APIs (node:*, cloudflare:*, process, Buffer, Node-only packages) belong in src/entry/ or a named adapter (docs/architecture.md)`,
      );
    }
  }
  return found;
}

function architectureSection(): string {
  const text = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  expect(text.startsWith('# Architecture\n'), 'docs/architecture.md starts with "# Architecture"').toBe(true);
  return text;
}

describe('layers: each folder of src/ imports only the folders its rule names', () => {
  it('no import crosses a layer against the rules', () => {
    expect(layeringViolations()).toEqual([]);
  });

  it('no Node or Workers API outside src/entry/ and the adapters named for it', () => {
    expect(runtimeViolations()).toEqual([]);
  });

  it('what we publish (latchkey/verify, latchkey/client) reaches no server code', () => {
    const published = new Set<string>();
    const byName = new Map(FILES.map((file) => [file.name, file]));
    const visit = (name: string) => {
      if (published.has(name)) return;
      published.add(name);
      const file = byName.get(name)!;
      for (const { specifier } of file.imports)
        if (specifier.startsWith('.')) visit(rel(resolveImport(file.path, specifier)));
    };
    visit('src/verify/index.ts');
    visit('src/client/index.ts');
    const server = [...published].filter(
      (name) => !['verify', 'client', 'domain', 'lib'].includes(layerOf(join(ROOT, name))),
    );
    expect(server).toEqual([]);
  });

  it('the check sees the imports it must refuse (a guard against a check that reads nothing)', () => {
    expect(FILES.length).toBeGreaterThan(50);
    const http = FILES.find((file) => file.name === 'src/http/app.ts')!;
    expect(http.imports.some((i) => i.specifier === 'hono')).toBe(true);
    const entry = FILES.find((file) => file.name === 'src/entry/node-runtime.ts')!;
    expect(entry.runtime.map((use) => use.api)).toEqual(
      expect.arrayContaining(['node:fs/promises', 'process']),
    );
    const crypto = FILES.find((file) => file.name === 'src/lib/crypto.ts')!;
    expect(crypto.runtime.map((use) => use.api)).toEqual(expect.arrayContaining(['process', 'node:crypto']));
  });
});

describe('docs/architecture.md stays true', () => {
  it('names every top-level folder and file of src/, and names only paths that exist', () => {
    const section = architectureSection();
    const missing = readdirSync(SRC)
      .map((name) => (statSync(join(SRC, name)).isDirectory() ? `src/${name}/` : `src/${name}`))
      .filter((path) => !section.includes(path));
    expect(missing, 'top-level entries of src/ docs/architecture.md does not describe').toEqual([]);
    const named = [...section.matchAll(/\bsrc\/[\w./*-]*[\w/]/g)].map((match) =>
      match[0].replace(/\/?\*$/, ''),
    );
    expect(
      named.filter((path) => !existsSync(join(ROOT, path))),
      'paths docs/architecture.md names that do not exist',
    ).toEqual([]);
  });

  it("its table of layers is the check's", () => {
    const rows = new Map<string, { may: string[]; typesOnly: string[] }>();
    for (const [, folder, cell] of architectureSection().matchAll(
      /^\|\s*`src\/([\w.]+?)\/?`\s*\|([^|]*)\|/gm,
    )) {
      const layer = folder === 'config.ts' ? 'config' : folder!;
      const names = [...cell!.matchAll(/`(\w+)`( \(types only\))?/g)];
      rows.set(layer, {
        may: /\banything\b/.test(cell!)
          ? [...ALL].sort()
          : names
              .filter((m) => !m[2])
              .map((m) => m[1]!)
              .sort(),
        typesOnly: names
          .filter((m) => m[2])
          .map((m) => m[1]!)
          .sort(),
      });
    }
    const expected = Object.fromEntries(
      ALL.map((layer) => [
        layer,
        { may: [...RULES[layer].may].sort(), typesOnly: [...(RULES[layer].typesOnly ?? [])].sort() },
      ]),
    );
    expect(Object.fromEntries(rows)).toEqual(expected);
  });

  it('names every exception to the rules', () => {
    const section = architectureSection();
    const unnamed = [...EXCEPTIONS.map((e) => e.from), ...RUNTIME_ALLOWED.map((a) => a.path)].filter(
      (path) => !section.includes(path),
    );
    expect(unnamed).toEqual([]);
  });
});
