/**
 * What every operator command shares: exit statuses, the error that carries one, the output
 * function, and text made safe for a terminal. The commands never exit or touch the console
 * themselves (src/entry/cli.ts does that), so the tests run them as functions.
 */

/** sysexits.h: 64 is EX_USAGE (bad command line), 78 EX_CONFIG (see loadConfigOrExit). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;

/** Writes one line (or block) of output; the caller adds the newline. */
export type Writer = (text: string) => void;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: printed with the usage text, exit status 64. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/**
 * Client-supplied text (device name, user agent, location) goes to a terminal: control and
 * bidirectional-formatting characters are shown as U+FFFD rather than interpreted.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
export const printable = (value: string) => value.replace(UNSAFE_CHARACTERS, '\ufffd');

export const truncate = (value: string, max: number) =>
  [...value].length > max ? `${[...value].slice(0, max - 1).join('')}…` : value;

/** JSON.stringify leaves C1 controls and bidi overrides raw; escape them too (still the same JSON). */
export const terminalSafeJson = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max([...header].length, ...rows.map((row) => [...(row[column] ?? '')].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell + ' '.repeat(widths[column]! - [...cell].length))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
