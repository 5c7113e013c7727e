import { createDrizzleStore } from '../adapters/db/drizzle-store.js';
import { createArgon2Hasher } from '../adapters/password/argon2-native.js';
import {
  CliError,
  type Command,
  type CommandDeps,
  createUserCommand,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  listSessionsCommand,
  parseCommandLine,
  readFirstLine,
  resolvePassword,
  revokeSessionsCommand,
  rotateKeysCommand,
  setRoleCommand,
  showConfigCommand,
  USAGE,
  UsageError,
  type Writer,
} from './cli-commands.js';
import { loadConfigOrExit, openDatabase, openNodeRuntime, systemClock } from './node-runtime.js';

/**
 * `npm run cli -- <command>` (and `npm run db:migrate`, `npm run keys:rotate`): the process
 * side of the commands in cli-commands.ts. Exit status 0, 1 on a failure, 64 on a bad
 * command line, 78 on a bad configuration.
 */

const out: Writer = (text) => process.stdout.write(`${text}\n`);
const err: Writer = (text) => process.stderr.write(`${text}\n`);

let command: Command;
try {
  command = parseCommandLine(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  err(`${error.message}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}
if (command.name === 'help') {
  out(USAGE);
  process.exit(EXIT_OK);
}

const config = loadConfigOrExit(process.env);

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
async function passwordFromStdin(): Promise<string | undefined> {
  if (!process.stdin.isTTY) return readFirstLine(process.stdin);
  const password = await promptHidden('Password: ');
  if (password === '') return password;
  if ((await promptHidden('Password again: ')) !== password) {
    throw new CliError('The two passwords differ');
  }
  return password;
}

/** The commands on users and sessions need the database, not the signing keys. */
async function withDatabase<T>(run: (deps: CommandDeps) => Promise<T>): Promise<T> {
  const database = await openDatabase(config, { migrate: config.migrateOnStart });
  try {
    return await run({
      store: createDrizzleStore(database.db),
      hasher: createArgon2Hasher(config.argon2),
      config,
      clock: systemClock,
      out,
    });
  } finally {
    await database.close();
  }
}

async function main(command: Exclude<Command, { name: 'help' }>): Promise<void> {
  switch (command.name) {
    case 'migrate': {
      const database = await openDatabase(config, { migrate: true });
      await database.close();
      out('migrations applied');
      return;
    }
    case 'keys:rotate': {
      const runtime = await openNodeRuntime(config);
      try {
        // `npm run keys:rotate -- --now`: a compromised key stops signing and verifying at once.
        await rotateKeysCommand({ keyRing: runtime.keyRing, config, out }, { now: command.now });
      } finally {
        await runtime.database.close();
      }
      return;
    }
    case 'config:show':
      showConfigCommand({ config, out });
      return;
    case 'users:create': {
      // Read before the database opens: nothing waits on a prompt with a connection open.
      const password = await resolvePassword(process.env, passwordFromStdin);
      await withDatabase((deps) =>
        createUserCommand(deps, { email: command.email, password, displayName: command.displayName }),
      );
      return;
    }
    case 'users:role':
      await withDatabase((deps) => setRoleCommand(deps, command));
      return;
    case 'sessions:list':
      await withDatabase((deps) => listSessionsCommand(deps, command));
      return;
    case 'sessions:revoke':
      await withDatabase((deps) => revokeSessionsCommand(deps, command));
      return;
  }
}

try {
  await main(command);
  process.exitCode = EXIT_OK;
} catch (error) {
  if (error instanceof CliError) {
    err(error.message);
    process.exitCode = error.exitCode;
  } else {
    err(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_FAILURE;
  }
}
