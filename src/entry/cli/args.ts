import { isWorkersValue } from '../../config.js';
import {
  AdminMailQuery,
  SessionIdParam,
  WebhookCreateBody,
  WebhookDeliveriesQuery,
} from '../../http/schemas.js';
import type { OutboxStatus } from '../../ports/mail.js';
import type { UserRole } from '../../ports/store.js';
import type { DeliveryStatus } from '../../ports/webhooks.js';
import { isMessageId } from '../../services/outbox-review.js';
import { isWebhookId } from '../../services/webhook-review.js';
import { UsageError } from './output.js';

/** The command line of `npm run cli`: its usage text, and argv read into a `Command`. */

export const PASSWORD_ENV = 'LATCHKEY_PASSWORD';

export const USAGE = `usage: latchkey <command> [options]       (in a clone: npm run cli -- <command>)

commands:
  serve [--workers N|auto]              run the server (PGlite in DATA_DIR without DATABASE_URL);
                                        --workers: N processes on one port (auto: one per
                                        core; more than one needs DATABASE_URL); sets WORKERS
  migrate                               apply the database migrations
  keys:rotate [--now]                   add a new signing key; --now (a compromised key): it
                                        signs at once and every other key is withdrawn at
                                        once (tokens it signed refused, clients refresh)
  users:create <email> [--name NAME]    create a user and print its id; the password is read
                                        from ${PASSWORD_ENV} if set, else from the first line
                                        of stdin (never from the command line)
  users:role <email> <user|admin>       set the user's role; admin opens /v1/admin/* (with
                                        an aal2 session, so the admin needs MFA)
  users:disable <email>                 disable the user: no more logins, every session
                                        revoked at once
  users:enable <email>                  allow the user's logins again
  users:reset-link <email>              mail the user a password reset link (queued in the
                                        outbox; the link is never shown)
  sessions:list <email> [--json]        the user's live sessions
  sessions:revoke <email> [--session ID]
                                        revoke every live session of the user, or just one
  mail:list [--status pending|sent|failed] [--limit N] [--cursor C] [--json]
                                        the mail outbox, newest first, without bodies
  mail:retry <id>                       put a failed message back in the queue
  mail:dispatch                         deliver what is due now with the configured
                                        transport, and print the counts
  webhooks:add <url> [--events TYPE,TYPE] [--description TEXT]
                                        register a webhook endpoint (every event type
                                        without --events); prints its id and its signing
                                        secret: the only time the secret is ever printed
  webhooks:list [--json]                the endpoints, never their secrets
  webhooks:remove <id>                  remove an endpoint and its deliveries
  webhooks:enable <id>                  enable an endpoint (its failure count from zero)
  webhooks:disable <id>                 no new events for the endpoint; queued deliveries
                                        wait until it is enabled
  webhooks:rotate <id>                  a new signing secret, printed once; the previous
                                        one still signs for WEBHOOK_SECRET_OVERLAP
  webhooks:test <id>                    queue a webhook.test event to the endpoint
  webhooks:deliveries <id> [--status pending|sent|failed] [--limit N] [--cursor C] [--json]
                                        the endpoint's delivery log, newest first
  webhooks:replay <delivery-id>         send a failed delivery again (same webhook-id)
  config:show [--json]                  every variable: its value and where it came from
                                        (environment, default, development fallback);
                                        secrets masked
  help                                  this text`;

export type Command =
  | { name: 'help' }
  | { name: 'serve'; workers: string | undefined }
  | { name: 'version' }
  | { name: 'migrate' }
  | { name: 'keys:rotate'; now: boolean }
  | { name: 'users:create'; email: string; displayName: string | null }
  | { name: 'users:role'; email: string; role: UserRole }
  | { name: 'users:disable'; email: string }
  | { name: 'users:enable'; email: string }
  | { name: 'users:reset-link'; email: string }
  | {
      name: 'mail:list';
      status: OutboxStatus | undefined;
      limit: number;
      cursor: string | undefined;
      json: boolean;
    }
  | { name: 'mail:retry'; id: string }
  | { name: 'mail:dispatch' }
  | { name: 'sessions:list'; email: string; json: boolean }
  | { name: 'sessions:revoke'; email: string; sessionId: string | undefined }
  | { name: 'webhooks:add'; url: string; eventTypes: string[] | null; description: string | null }
  | { name: 'webhooks:list'; json: boolean }
  | {
      name: 'webhooks:remove' | 'webhooks:enable' | 'webhooks:disable' | 'webhooks:rotate' | 'webhooks:test';
      id: string;
    }
  | {
      name: 'webhooks:deliveries';
      id: string;
      status: DeliveryStatus | undefined;
      limit: number;
      cursor: string | undefined;
      json: boolean;
    }
  | { name: 'webhooks:replay'; id: string }
  | { name: 'config:show'; json: boolean };

interface ArgSpec {
  positionals: string[];
  flags: string[];
  /** Options that take a value: `--name value` or `--name=value`. */
  options: string[];
}

const SPECS: Record<Exclude<Command['name'], 'help'>, ArgSpec> = {
  serve: { positionals: [], flags: [], options: ['--workers'] },
  version: { positionals: [], flags: [], options: [] },
  migrate: { positionals: [], flags: [], options: [] },
  'keys:rotate': { positionals: [], flags: ['--now'], options: [] },
  'users:create': { positionals: ['email'], flags: [], options: ['--name'] },
  'users:role': { positionals: ['email', 'role'], flags: [], options: [] },
  'users:disable': { positionals: ['email'], flags: [], options: [] },
  'users:enable': { positionals: ['email'], flags: [], options: [] },
  'users:reset-link': { positionals: ['email'], flags: [], options: [] },
  'mail:list': { positionals: [], flags: ['--json'], options: ['--status', '--limit', '--cursor'] },
  'mail:retry': { positionals: ['id'], flags: [], options: [] },
  'mail:dispatch': { positionals: [], flags: [], options: [] },
  'sessions:list': { positionals: ['email'], flags: ['--json'], options: [] },
  'sessions:revoke': { positionals: ['email'], flags: [], options: ['--session'] },
  'webhooks:add': { positionals: ['url'], flags: [], options: ['--events', '--description'] },
  'webhooks:list': { positionals: [], flags: ['--json'], options: [] },
  'webhooks:remove': { positionals: ['id'], flags: [], options: [] },
  'webhooks:enable': { positionals: ['id'], flags: [], options: [] },
  'webhooks:disable': { positionals: ['id'], flags: [], options: [] },
  'webhooks:rotate': { positionals: ['id'], flags: [], options: [] },
  'webhooks:test': { positionals: ['id'], flags: [], options: [] },
  'webhooks:deliveries': {
    positionals: ['id'],
    flags: ['--json'],
    options: ['--status', '--limit', '--cursor'],
  },
  'webhooks:replay': { positionals: ['delivery-id'], flags: [], options: [] },
  'config:show': { positionals: [], flags: ['--json'], options: [] },
};

const isCommandName = (name: string): name is keyof typeof SPECS => Object.hasOwn(SPECS, name);

function parseArgs(command: string, spec: ArgSpec, args: readonly string[]) {
  const positionals: string[] = [];
  const flags = new Set<string>();
  const options = new Map<string, string>();
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (command === 'users:create' && /^--?(password|pass|pw|p)$/i.test(name)) {
      throw new UsageError(
        `users:create never takes the password on the command line (it would show in ps and the shell history): set ${PASSWORD_ENV} or write it on stdin`,
      );
    }
    if (spec.flags.includes(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else if (spec.options.includes(name)) {
      if (options.has(name)) throw new UsageError(`${name} is given twice`);
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      options.set(name, value);
    } else {
      throw new UsageError(`${command}: unknown option ${name}`);
    }
  }
  if (positionals.length < spec.positionals.length) {
    throw new UsageError(`${command}: missing <${spec.positionals[positionals.length]}>`);
  }
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(`${command}: unexpected argument "${positionals[spec.positionals.length]}"`);
  }
  return { positionals, flags, options };
}

/** Reads `argv` (without node and the script); throws `UsageError` for a bad command line. */
export function parseCommandLine(argv: readonly string[]): Command {
  const [name, ...args] = argv;
  if (name === undefined) throw new UsageError('no command given');
  if (name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  if (name === '--version' || name === '-v') return { name: 'version' };
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);
  const { positionals, flags, options } = parseArgs(name, SPECS[name], args);
  const email = positionals[0] ?? '';
  switch (name) {
    case 'serve': {
      const workers = options.get('--workers');
      if (workers !== undefined && !isWorkersValue(workers))
        throw new UsageError('serve: --workers is auto or a number of processes from 1 to 256');
      return { name, workers };
    }
    case 'version':
    case 'migrate':
    case 'mail:dispatch':
      return { name };
    case 'config:show':
      return { name, json: flags.has('--json') };
    case 'users:disable':
    case 'users:enable':
    case 'users:reset-link':
      return { name, email };
    case 'mail:list': {
      // The bounds of GET /v1/admin/mail, from its own schema.
      const query = AdminMailQuery.safeParse({
        status: options.get('--status'),
        limit: options.get('--limit'),
        cursor: options.get('--cursor'),
      });
      if (!query.success) {
        const field = String(query.error.issues[0]?.path[0] ?? 'input');
        throw new UsageError(
          field === 'status'
            ? 'mail:list: --status is pending, sent or failed'
            : field === 'limit'
              ? 'mail:list: --limit is 1-100'
              : 'mail:list: --cursor is not valid: pass next_cursor as printed',
        );
      }
      const { status, limit, cursor } = query.data;
      return { name, status, limit, cursor, json: flags.has('--json') };
    }
    case 'mail:retry': {
      const id = positionals[0] ?? '';
      if (!isMessageId(id)) throw new UsageError(`mail:retry: "${id}" is not a message id (a UUID)`);
      return { name, id };
    }
    case 'webhooks:add':
      return webhookAdd(positionals[0] ?? '', options.get('--events'), options.get('--description'));
    case 'webhooks:list':
      return { name, json: flags.has('--json') };
    case 'webhooks:remove':
    case 'webhooks:enable':
    case 'webhooks:disable':
    case 'webhooks:rotate':
    case 'webhooks:test':
      return { name, id: uuidArgument(name, positionals[0] ?? '', 'a webhook endpoint id') };
    case 'webhooks:replay':
      return { name, id: uuidArgument(name, positionals[0] ?? '', 'a delivery id') };
    case 'webhooks:deliveries': {
      const id = uuidArgument(name, positionals[0] ?? '', 'a webhook endpoint id');
      // The bounds of GET /v1/admin/webhooks/:id/deliveries, from its own schema.
      const query = WebhookDeliveriesQuery.safeParse({
        status: options.get('--status'),
        limit: options.get('--limit'),
        cursor: options.get('--cursor'),
      });
      if (!query.success) {
        const field = String(query.error.issues[0]?.path[0] ?? 'input');
        throw new UsageError(
          field === 'status'
            ? `${name}: --status is pending, sent or failed`
            : field === 'limit'
              ? `${name}: --limit is 1-100`
              : `${name}: --cursor is not valid: pass the cursor as printed`,
        );
      }
      const { status, limit, cursor } = query.data;
      return { name, id, status, limit, cursor, json: flags.has('--json') };
    }
    case 'keys:rotate':
      return { name, now: flags.has('--now') };
    case 'users:create':
      return { name, email, displayName: options.get('--name') ?? null };
    case 'users:role': {
      const role = positionals[1];
      if (role !== 'user' && role !== 'admin')
        throw new UsageError(`users:role: the role is user or admin, not "${role}"`);
      return { name, email, role };
    }
    case 'sessions:list':
      return { name, email, json: flags.has('--json') };
    case 'sessions:revoke': {
      const sessionId = options.get('--session');
      if (sessionId !== undefined && !SessionIdParam.safeParse(sessionId).success) {
        throw new UsageError(`--session: "${sessionId}" is not a session id (a UUID)`);
      }
      return { name, email, sessionId };
    }
  }
}

/** A UUID argument, lower case; anything else is a usage error (exit status 64). */
function uuidArgument(command: string, value: string, what: string): string {
  if (!isWebhookId(value)) throw new UsageError(`${command}: "${value}" is not ${what} (a UUID)`);
  return value.toLowerCase();
}

/**
 * `webhooks:add`: the bounds of POST /v1/admin/webhooks, from its own schema (the URL policy
 * and the event catalogue are the service's). `--events a,b`: comma-separated, spaces allowed.
 */
function webhookAdd(url: string, events: string | undefined, description: string | undefined): Command {
  const eventTypes = events === undefined ? null : events.split(',').map((type) => type.trim());
  if (eventTypes?.some((type) => type === ''))
    throw new UsageError('webhooks:add: --events is a comma-separated list of event types, none empty');
  const body = WebhookCreateBody.safeParse({
    url,
    event_types: eventTypes,
    description: description ?? null,
  });
  if (!body.success) {
    const issue = body.error.issues[0];
    const field = String(issue?.path[0] ?? 'input');
    const option = field === 'event_types' ? '--events' : field === 'description' ? '--description' : '<url>';
    throw new UsageError(`webhooks:add: ${option}: ${issue?.message ?? 'not valid'}`);
  }
  return { name: 'webhooks:add', url, eventTypes, description: description ?? null };
}
