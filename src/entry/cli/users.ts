import { normalizeEmail } from '../../domain/credentials.js';
import { AuthError } from '../../domain/errors.js';
import { RegisterBody } from '../../http/schemas.js';
import type { UserRecord, UserRole } from '../../ports/store.js';
import type { OperatorService } from '../../services/operator-service.js';
import { CliError, type Writer } from './output.js';

/** What the commands on users and sessions need: the operator service and an output. */
export interface CommandDeps {
  operator: OperatorService;
  out: Writer;
}

/** The user an operator named by email; a `CliError` (status 1) when there is none. */
export async function userByEmail(deps: Pick<CommandDeps, 'operator'>, email: string): Promise<UserRecord> {
  const user = await deps.operator.findUser(email);
  if (!user) throw new CliError(`No user has the email ${normalizeEmail(email)}`);
  return user;
}

/**
 * `users:create`: the request schema of POST /v1/auth/register, then the operator service
 * (the rules of registration and its `user_registered` event). Prints the user id.
 */
export async function createUserCommand(
  deps: CommandDeps,
  input: { email: string; password: string; displayName: string | null },
): Promise<UserRecord> {
  const body = RegisterBody.safeParse({
    email: input.email,
    password: input.password,
    name: input.displayName,
  });
  if (!body.success) {
    const problems = body.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new CliError(problems.join('\n'));
  }
  let created: UserRecord;
  try {
    created = await deps.operator.createUser({
      email: body.data.email,
      password: body.data.password,
      name: body.data.name ?? null,
    });
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    throw new CliError(
      error.code === 'email_taken'
        ? `An account with the email ${normalizeEmail(body.data.email)} already exists`
        : error.description,
    );
  }
  deps.out(created.id);
  return created;
}

/**
 * `users:role`: grants or takes the admin role, with a `role_changed` event (`via: 'cli'`).
 * Only an operator with the database can make the first admin; the API never grants it.
 */
export async function setRoleCommand(
  deps: CommandDeps,
  input: { email: string; role: UserRole },
): Promise<void> {
  const user = await userByEmail(deps, input.email);
  const change = await deps.operator.setRole(user, input.role);
  if (change === 'no_such_user') throw new CliError(`${user.email} no longer exists`);
  deps.out(
    change === 'unchanged' ? `${user.email} is already ${input.role}` : `${user.email} is now ${input.role}`,
  );
}

/**
 * `users:disable`: the user can no longer log in, and every session is revoked in the same
 * transaction (as POST /v1/admin/users/:id/disable; event `admin_user_disabled`, `via: 'cli'`).
 */
export async function disableUserCommand(deps: CommandDeps, input: { email: string }): Promise<void> {
  const user = await userByEmail(deps, input.email);
  const outcome = await deps.operator.disableUser(user);
  if (outcome === 'no_such_user') throw new CliError(`${user.email} no longer exists`);
  if (outcome === 'unchanged') {
    deps.out(`${user.email} is already disabled`);
    return;
  }
  deps.out(
    `${user.email} is disabled; revoked ${outcome.revoked} session${outcome.revoked === 1 ? '' : 's'}`,
  );
}

/** `users:enable`: logins are allowed again (event `admin_user_enabled`, `via: 'cli'`). */
export async function enableUserCommand(deps: CommandDeps, input: { email: string }): Promise<void> {
  const user = await userByEmail(deps, input.email);
  const outcome = await deps.operator.enableUser(user);
  if (outcome === 'no_such_user') throw new CliError(`${user.email} no longer exists`);
  deps.out(outcome === 'unchanged' ? `${user.email} is not disabled` : `${user.email} is enabled`);
}

/**
 * `users:reset-link`: a reset link to the user's own address, through the outbox (event
 * `password_reset_requested`, `by: 'operator'`). Prints nothing secret: the link exists only
 * in the sealed outbox row and the mail, so the operator never holds the account's key.
 */
export async function sendResetLinkCommand(deps: CommandDeps, input: { email: string }): Promise<void> {
  const user = await userByEmail(deps, input.email);
  const outcome = await deps.operator.sendResetLink(user);
  if (outcome === 'not_found') throw new CliError(`${user.email} no longer exists`);
  if (outcome === 'disabled')
    throw new CliError(`${user.email} is disabled: enable it first (users:enable), then send the link`);
  deps.out(`a password reset link for ${user.email} is queued; the mail dispatcher delivers it`);
}
