/**
 * A statement's answer must be the answer to that statement. PostgreSQL ends every answer
 * with a command tag (`INSERT 0 1`, `UPDATE 1`, `COMMIT`, …); we compare it with the command
 * of the SQL text sent and refuse an answer that cannot belong to it, as an error that the
 * HTTP layer maps to 503 (08P01 is a connection exception, see failure-kind.ts) and that nothing
 * retries.
 *
 * Why: behind a transaction pooler, postgres.js retried a named `commit` that the pooler's
 * next server connection did not know; the failed Bind had already aborted the transaction,
 * so the retried COMMIT answered ROLLBACK, and postgres.js resolved it as a success: a write
 * that did not happen became a 204 (issue 15 §7). DATABASE_PREPARE=false removes the names;
 * this guard is what keeps any other answer that is not ours (a statement run in place of
 * another, a COMMIT of a transaction that failed) from ever becoming a success.
 *
 * Cost: one scan of each distinct SQL text (cached), then a map lookup and a string
 * comparison per statement; no round trip.
 */

/** postgres.js (3.4.9) Query internals we rely on; `guardAnswers` fails fast if they change. */
interface QueryInternals {
  strings: readonly string[];
  canceller: unknown;
  executed: boolean;
  onlyDescribe?: boolean;
  cursorRows?: number;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/** The answer PostgreSQL gave is not an answer to the statement sent: nothing may trust it. */
export class UntrustedAnswerError extends Error {
  /** protocol_violation, a connection exception (class 08): the request fails with 503. */
  readonly code = '08P01';
  constructor(
    readonly expected: string,
    readonly received: string | null,
  ) {
    super(
      expected === 'COMMIT' && received === 'ROLLBACK'
        ? 'PostgreSQL rolled the transaction back instead of committing it'
        : `PostgreSQL answered ${received ?? 'nothing'} to a ${expected} statement`,
    );
    this.name = 'UntrustedAnswerError';
  }
}

/** The cancel function postgres.js gives each client's queries: it tells our clients' queries apart. */
const guardedClients = new WeakSet<object>();
const hookedPrototypes = new WeakSet<object>();

/**
 * Checks the command tag of every statement `client` sends, including those postgres.js
 * writes itself (`begin`, `commit`, `rollback`, `savepoint`), which no wrapper around the
 * client can see: the check is hooked into postgres.js's Query class, for this client's
 * queries only.
 */
export function guardAnswers(client: { unsafe: (query: string) => unknown }): void {
  // A query that is never awaited is never sent: this one only shows us the client's
  // canceller (one per client, shared by its transactions) and the Query class in use.
  const probe = client.unsafe('') as QueryInternals;
  const prototype = Object.getPrototypeOf(probe) as { handle?: (this: QueryInternals) => unknown };
  const handle = prototype.handle;
  if (typeof handle !== 'function' || typeof probe.canceller !== 'function' || !('resolve' in probe)) {
    // A postgres.js upgrade moved what we hook into: refuse to run unguarded.
    throw new Error('postgres.js internals changed: the answer guard (postgres-answers.ts) needs updating');
  }
  guardedClients.add(probe.canceller);
  if (hookedPrototypes.has(prototype)) return;
  hookedPrototypes.add(prototype);
  prototype.handle = function guardedHandle(this: QueryInternals) {
    // handle() runs before a query is sent (then/catch/execute); the first call marks it executed.
    if (!this.executed && guardedClients.has(this.canceller as object)) expectAnswer(this);
    return handle.call(this);
  };
}

function expectAnswer(query: QueryInternals): void {
  // describe() answers with a statement description, a cursor with batches: no command tag.
  if (query.onlyDescribe || query.cursorRows !== undefined) return;
  const expected = expectedCommandOf(query.strings);
  if (!expected) return;
  const resolve = query.resolve;
  query.resolve = (result) => {
    const received = (result as { command?: string | null } | null)?.command ?? null;
    if (received === expected) resolve(result);
    else query.reject(new UntrustedAnswerError(expected, received));
  };
}

const cache = new Map<string, string | null>();
/** Our statements have fixed texts; a bound keeps a stream of one-off texts from growing it. */
const CACHE_LIMIT = 2_000;

function expectedCommandOf(strings: readonly string[]): string | null {
  // A tagged template's parts around its parameters; `$1` stands in for each one.
  const text = strings.length === 1 ? strings[0]! : strings.join('$1');
  let expected = cache.get(text);
  if (expected === undefined) {
    expected = expectedCommand(text);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, expected);
  }
  return expected;
}

/** The command tag of a statement's first keyword; others (DDL, SET, …) are not checked. */
const TAGS: Record<string, string> = {
  select: 'SELECT',
  values: 'SELECT',
  table: 'SELECT',
  insert: 'INSERT',
  update: 'UPDATE',
  delete: 'DELETE',
  merge: 'MERGE',
  begin: 'BEGIN',
  start: 'START TRANSACTION',
  commit: 'COMMIT',
  end: 'COMMIT',
  rollback: 'ROLLBACK',
  abort: 'ROLLBACK',
  savepoint: 'SAVEPOINT',
  release: 'RELEASE',
};
/** After WITH, the statement the common table expressions belong to. */
const MAIN_AFTER_WITH = new Set(['select', 'insert', 'update', 'delete', 'merge']);

/**
 * The command tag PostgreSQL answers `sql` with (without its row count), or null when we do
 * not check it: several statements, a `COMMIT PREPARED`, anything but DML and transaction
 * control. For `WITH … UPDATE …` it is the first SELECT/INSERT/UPDATE/DELETE/MERGE at the
 * WITH's own parenthesis depth (the CTE bodies are deeper); string literals, quoted
 * identifiers, dollar quotes and comments are skipped.
 */
export function expectedCommand(sql: string): string | null {
  let first: string | null = null;
  let withDepth = -1;
  let main: string | null = null;
  let second: string | null = null;
  let depth = 0;
  let ended = false;
  const n = sql.length;
  for (let i = 0; i < n; ) {
    const c = sql.charCodeAt(i);
    // whitespace
    if (c === 32 || (c >= 9 && c <= 13)) {
      i++;
      continue;
    }
    // -- comment
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    // /* comment */, which nests in PostgreSQL
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let nesting = 1;
      i += 2;
      while (i < n && nesting > 0) {
        const pair = sql.slice(i, i + 2);
        if (pair === '/*' || pair === '*/') {
          nesting += pair === '/*' ? 1 : -1;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (ended) return null; // something after a top-level `;`: several statements
    if (c === 39 /* ' */) {
      i = skipQuoted(sql, i, 39, false);
      continue;
    }
    if (c === 34 /* " */) {
      i = skipQuoted(sql, i, 34, false);
      continue;
    }
    if (c === 36 /* $ */) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
      } else i++; // $1, a parameter
      continue;
    }
    if (c === 40 /* ( */) {
      depth++;
      i++;
      continue;
    }
    if (c === 41 /* ) */) {
      depth--;
      i++;
      continue;
    }
    if (c === 59 /* ; */) {
      if (depth === 0) ended = true;
      i++;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      // E'…' is a string with backslash escapes (U&'…', B'…', X'…' quote like plain ones).
      if (j === i + 1 && (c === 69 || c === 101) && sql.charCodeAt(j) === 39) {
        i = skipQuoted(sql, j, 39, true);
        continue;
      }
      const word = sql.slice(i, j).toLowerCase();
      i = j;
      if (first === null) {
        first = word;
        if (word === 'with') withDepth = depth;
      } else if (second === null) {
        second = word;
      }
      if (withDepth >= 0 && main === null && depth === withDepth && MAIN_AFTER_WITH.has(word)) main = word;
      continue;
    }
    i++; // operators, digits, commas, dots
  }
  if (first === null) return null;
  if (first === 'with') return main ? TAGS[main]! : null;
  // COMMIT PREPARED / ROLLBACK PREPARED answer with their own tags; we never send them.
  if ((first === 'commit' || first === 'rollback') && second === 'prepared') return null;
  return TAGS[first] ?? null;
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
}

/** The index after the quoted text that opens at `start` ('' or "" inside is the quote itself). */
function skipQuoted(sql: string, start: number, quote: number, backslashEscapes: boolean): number {
  for (let i = start + 1; i < sql.length; i++) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === 92) {
      i++;
      continue;
    }
    if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
        i++;
        continue;
      }
      return i + 1;
    }
  }
  return sql.length;
}
