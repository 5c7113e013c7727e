import type { ChildProcess } from 'node:child_process';

/**
 * The output (stdout and stderr) of a server started as a child process, and the moment it
 * logs `latchkey listening`; `listening` rejects, with the output, if it exits before.
 */
export function serverOutput(child: ChildProcess): { text(): string; listening: Promise<void> } {
  let text = '';
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('latchkey listening')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${text}`)));
  });
  return { text: () => text, listening };
}
