import pino from 'pino';
import { createPinoLogger } from '../adapters/pino-logger.js';
import type { Services } from '../compose/services.js';
import type { Config } from '../config.js';
import type { Command } from './cli/args.js';
import { showConfigCommand } from './cli/config-show.js';
import { rotateKeysCommand } from './cli/keys.js';
import { dispatchMailCommand, listMailCommand, retryMailCommand } from './cli/mail.js';
import { CliError, type Writer } from './cli/output.js';
import { passwordFromStdin, resolvePassword } from './cli/password.js';
import { listSessionsCommand, revokeSessionsCommand } from './cli/sessions.js';
import {
  type CommandDeps,
  createUserCommand,
  disableUserCommand,
  enableUserCommand,
  sendResetLinkCommand,
  setRoleCommand,
} from './cli/users.js';
import {
  addWebhookCommand,
  listDeliveriesCommand,
  listWebhooksCommand,
  removeWebhookCommand,
  replayDeliveryCommand,
  rotateWebhookCommand,
  setWebhookEnabledCommand,
  testWebhookCommand,
  type WebhookCommandDeps,
} from './cli/webhooks.js';
import { loadConfigOrExit } from './node-config.js';
import { openDatabase, openNodeRuntime } from './node-runtime.js';

/**
 * The commands of `latchkey` other than `serve`, `help` and `--version` (src/entry/cli.ts
 * imports this module only for them, so that `latchkey serve` and `--version` do not load the
 * runtime first): each opens the runtime over the database, acts, and closes it.
 */

const out: Writer = (text) => process.stdout.write(`${text}\n`);

let loaded: Config | undefined;
/** Loaded on first use: `serve` leaves it to the server entry, which loads and checks it itself. */
const config = (): Config => {
  loaded ??= loadConfigOrExit(process.env);
  return loaded;
};

/**
 * The services over the database, composed as the server composes them
 * (src/compose/services.ts). The log goes to stderr: stdout is the command's output (an id to
 * capture, a table, JSON to parse), and the security events the commands record are logged.
 */
async function withServices<T>(
  run: (services: Services) => Promise<T>,
  options: { deliverMail?: boolean } = {},
): Promise<T> {
  const logger = createPinoLogger(config().logLevel, { destination: pino.destination(2) });
  // Only `mail:dispatch` builds the transport: no other command sends anything.
  const runtime = await openNodeRuntime(config(), { logger, deliverMail: options.deliverMail ?? false });
  try {
    return await run(runtime.services);
  } finally {
    await runtime.database.close();
  }
}

/** The commands on users and sessions act through the operator service. */
const withOperator = <T>(run: (deps: CommandDeps) => Promise<T>): Promise<T> =>
  withServices(({ operator }) => run({ operator, out }));

/** The webhook commands act through the webhooks service (queued deliveries go out from the server). */
const withWebhooks = <T>(run: (deps: WebhookCommandDeps) => Promise<T>): Promise<T> =>
  withServices(({ webhooks }) => run({ webhooks, out }));

export type RuntimeCommand = Exclude<Command, { name: 'help' | 'version' | 'serve' }>;

export async function runCommand(command: RuntimeCommand): Promise<void> {
  switch (command.name) {
    case 'migrate': {
      const database = await openDatabase(config(), { migrate: true });
      await database.close();
      out('migrations applied');
      return;
    }
    case 'keys:rotate': {
      // `npm run keys:rotate -- --now`: a compromised key stops signing and verifying at once.
      await withServices(({ keyRing }) =>
        rotateKeysCommand({ keyRing, config: config(), out }, { now: command.now }),
      );
      return;
    }
    case 'config:show':
      showConfigCommand({ config: config(), env: process.env, out, json: command.json });
      return;
    case 'users:create': {
      // Read before the database opens: nothing waits on a prompt with a connection open.
      const password = await resolvePassword(process.env, passwordFromStdin);
      await withOperator((deps) =>
        createUserCommand(deps, { email: command.email, password, displayName: command.displayName }),
      );
      return;
    }
    case 'users:role':
      await withOperator((deps) => setRoleCommand(deps, command));
      return;
    case 'users:disable':
      await withOperator((deps) => disableUserCommand(deps, command));
      return;
    case 'users:enable':
      await withOperator((deps) => enableUserCommand(deps, command));
      return;
    case 'users:reset-link':
      await withOperator((deps) => sendResetLinkCommand(deps, command));
      return;
    case 'mail:list':
      await withOperator((deps) => listMailCommand(deps, command));
      return;
    case 'mail:retry':
      await withOperator((deps) => retryMailCommand(deps, command));
      return;
    case 'mail:dispatch':
      await withServices(
        async ({ mailDispatcher, health }) => {
          if (!mailDispatcher) throw new CliError('No mail transport is configured');
          await dispatchMailCommand({ dispatcher: mailDispatcher, stats: () => health.outboxStats(), out });
        },
        { deliverMail: true },
      );
      return;
    case 'webhooks:add':
      await withWebhooks((deps) => addWebhookCommand(deps, command));
      return;
    case 'webhooks:list':
      await withWebhooks((deps) => listWebhooksCommand(deps, command));
      return;
    case 'webhooks:remove':
      await withWebhooks((deps) => removeWebhookCommand(deps, command));
      return;
    case 'webhooks:enable':
    case 'webhooks:disable':
      await withWebhooks((deps) =>
        setWebhookEnabledCommand(deps, { id: command.id, enabled: command.name === 'webhooks:enable' }),
      );
      return;
    case 'webhooks:rotate':
      await withWebhooks((deps) => rotateWebhookCommand(deps, command));
      return;
    case 'webhooks:test':
      await withWebhooks((deps) => testWebhookCommand(deps, command));
      return;
    case 'webhooks:deliveries':
      await withWebhooks((deps) => listDeliveriesCommand(deps, command));
      return;
    case 'webhooks:replay':
      await withWebhooks((deps) => replayDeliveryCommand(deps, command));
      return;
    case 'sessions:list':
      await withOperator((deps) => listSessionsCommand(deps, command));
      return;
    case 'sessions:revoke':
      await withOperator((deps) => revokeSessionsCommand(deps, command));
      return;
  }
}
