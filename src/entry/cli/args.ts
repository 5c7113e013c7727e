import { SessionIdParam } from '../../http/schemas.js';
import type { UserRole } from '../../ports/store.js';
import { UsageError } from './output.js';

/** The command line of `npm run cli`: its usage text, and argv read into a `Command`. */

export const PASSWORD_ENV = 'LATCHKEY_PASSWORD';

export const USAGE = `usage: npm run cli -- <command> [options]

commands:
  migrate                               apply the database migrations
  keys:rotate [--now]                   add a new signing key; --now (a compromised key): it
                                        signs at once and every other key is withdrawn at
                                        once (tokens it signed refused, clients refresh)
  users:create <email> [--name NAME]    create a user and print its id; the password is read
                                        from ${PASSWORD_ENV} if set, else from the first line
                                        of stdin (never from the command line)
  users:role <email> <user|admin>       set the user's role; admin opens /v1/admin/* (with
                                        an aal2 session, so the admin needs MFA)
  sessions:list <email> [--json]        the user's live sessions
  sessions:revoke <email> [--session ID]
                                        revoke every live session of the user, or just one
  config:show                           the effective configuration, secrets masked
  help                                  this text`;

export type Command =
  | { name: 'help' }
  | { name: 'migrate' }
  | { name: 'keys:rotate'; now: boolean }
  | { name: 'users:create'; email: string; displayName: string | null }
  | { name: 'users:role'; email: string; role: UserRole }
  | { name: 'sessions:list'; email: string; json: boolean }
  | { name: 'sessions:revoke'; email: string; sessionId: string | undefined }
  | { name: 'config:show' };

interface ArgSpec {
  positionals: string[];
  flags: string[];
  /** Options that take a value: `--name value` or `--name=value`. */
  options: string[];
}

const SPECS: Record<Exclude<Command['name'], 'help'>, ArgSpec> = {
  migrate: { positionals: [], flags: [], options: [] },
  'keys:rotate': { positionals: [], flags: ['--now'], options: [] },
  'users:create': { positionals: ['email'], flags: [], options: ['--name'] },
  'users:role': { positionals: ['email', 'role'], flags: [], options: [] },
  'sessions:list': { positionals: ['email'], flags: ['--json'], options: [] },
  'sessions:revoke': { positionals: ['email'], flags: [], options: ['--session'] },
  'config:show': { positionals: [], flags: [], options: [] },
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
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);
  const { positionals, flags, options } = parseArgs(name, SPECS[name], args);
  const email = positionals[0] ?? '';
  switch (name) {
    case 'migrate':
    case 'config:show':
      return { name };
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
