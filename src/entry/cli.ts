import { createDrizzleStore } from '../adapters/db/drizzle-store.js';
import { createArgon2Hasher } from '../adapters/password/argon2-native.js';
import { createOperatorService } from '../services/operator-service.js';
import { type Command, parseCommandLine, USAGE } from './cli/args.js';
import { showConfigCommand } from './cli/config-show.js';
import { rotateKeysCommand } from './cli/keys.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Writer } from './cli/output.js';
import { passwordFromStdin, resolvePassword } from './cli/password.js';
import { listSessionsCommand, revokeSessionsCommand } from './cli/sessions.js';
import { type CommandDeps, createUserCommand, setRoleCommand } from './cli/users.js';
import { loadConfigOrExit, openDatabase, openNodeRuntime, systemClock } from './node-runtime.js';

/**
 * `npm run cli -- <command>` (and `npm run db:migrate`, `npm run keys:rotate`): the process
 * side of the commands in src/entry/cli/ (one module per flow). Exit status 0, 1 on a
 * failure, 64 on a bad command line, 78 on a bad configuration.
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

/** The commands on users and sessions need the database, not the signing keys. */
async function withDatabase<T>(run: (deps: CommandDeps) => Promise<T>): Promise<T> {
  const database = await openDatabase(config, { migrate: config.migrateOnStart });
  try {
    const operator = createOperatorService({
      store: createDrizzleStore(database.db),
      hasher: createArgon2Hasher(config.argon2),
      clock: systemClock,
      passwordMinScore: config.passwordMinScore,
    });
    return await run({ operator, out });
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
        await rotateKeysCommand({ keyRing: runtime.services.keyRing, config, out }, { now: command.now });
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
