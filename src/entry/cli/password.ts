import { PASSWORD_ENV } from './args.js';
import { CliError } from './output.js';

/**
 * The password of `users:create`: from LATCHKEY_PASSWORD or stdin, never the command line
 * (it would show in ps and the shell history); on a terminal, a prompt that echoes nothing.
 */

/** Longer than any password the API accepts (1024), so a line past it is a mistake. */
const MAX_PASSWORD_LINE = 4096;

/**
 * The first line of a stream, without its line ending (`\n` or `\r\n`); nothing else is
 * trimmed, since spaces may be part of a password. Stops reading at the first newline.
 * Undefined when the stream ends with no data at all.
 */
export async function readFirstLine(input: AsyncIterable<string | Uint8Array>): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = '';
  let sawData = false;
  for await (const chunk of input) {
    sawData = true;
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const newline = text.indexOf('\n');
    if (newline >= 0) return text.slice(0, newline).replace(/\r$/, '');
    if (text.length > MAX_PASSWORD_LINE) throw new CliError('The password line on stdin is too long');
  }
  text += decoder.decode();
  return sawData ? text.replace(/\r$/, '') : undefined;
}

/**
 * The password for `users:create`: LATCHKEY_PASSWORD when set (an empty value counts as
 * unset, as for every other variable), else what `fromStdin` reads.
 */
export async function resolvePassword(
  env: Record<string, string | undefined>,
  fromStdin: () => Promise<string | undefined>,
): Promise<string> {
  const fromEnv = env[PASSWORD_ENV];
  const password = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await fromStdin();
  if (password === undefined || password === '') {
    throw new CliError(`No password given: set ${PASSWORD_ENV} or write the password on stdin`);
  }
  return password;
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(new CliError('cancelled', 130));
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else if (char >= ' ') value += char;
      }
    };
    // Raw mode first: nothing typed after the prompt shows is echoed.
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
    process.stderr.write(prompt);
  });
}

/** The first line of stdin; on a terminal, a hidden prompt asked twice. */
export async function passwordFromStdin(): Promise<string | undefined> {
  if (!process.stdin.isTTY) return readFirstLine(process.stdin);
  const password = await promptHidden('Password: ');
  if (password === '') return password;
  if ((await promptHidden('Password again: ')) !== password) {
    throw new CliError('The two passwords differ');
  }
  return password;
}
