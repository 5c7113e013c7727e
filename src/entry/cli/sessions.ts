import { sessionJson } from '../../http/views.js';
import type { SessionView } from '../../ports/store.js';
import { CliError, formatTable, printable, terminalSafeJson, truncate } from './output.js';
import { type CommandDeps, userByEmail } from './users.js';

/** `sessions:list`: the user's live sessions, newest activity first, as a table or JSON. */
export async function listSessionsCommand(
  deps: CommandDeps,
  input: { email: string; json: boolean },
): Promise<SessionView[]> {
  const user = await userByEmail(deps, input.email);
  const sessions = await deps.operator.listSessions(user.id);
  if (input.json) {
    deps.out(
      terminalSafeJson({
        user_id: user.id,
        email: user.email,
        sessions: sessions.map((session) => sessionJson(session)),
      }),
    );
    return sessions;
  }
  if (sessions.length === 0) {
    deps.out(`${user.email} has no live sessions`);
    return sessions;
  }
  const text = (value: string | null, max = 40) => (value ? truncate(printable(value), max) : '-');
  deps.out(
    formatTable(
      ['ID', 'DEVICE', 'IP', 'USER AGENT', 'LOCATION', 'CREATED', 'LAST ACTIVE', 'EXPIRES', 'ACR'],
      sessions.map((session) => [
        session.id,
        text(session.deviceName, 30),
        text(session.ipAddress),
        text(session.userAgent, 50),
        text(session.location, 30),
        session.createdAt.toISOString(),
        session.lastActiveAt.toISOString(),
        session.expiresAt.toISOString(),
        session.acr,
      ]),
    ),
  );
  return sessions;
}

/**
 * `sessions:revoke`: every live session of the user (a `sessions_revoked` event, as POST
 * /v1/sessions/revoke-all records), or with `sessionId` just that one (a `session_revoked`
 * event, as DELETE /v1/sessions/:id records); reason `revoked_by_operator`, events with
 * `via: 'cli'` (the operator service). Returns how many were revoked.
 */
export async function revokeSessionsCommand(
  deps: CommandDeps,
  input: { email: string; sessionId?: string | undefined },
): Promise<number> {
  const user = await userByEmail(deps, input.email);
  if (input.sessionId !== undefined) {
    if (!(await deps.operator.revokeSession(user.id, input.sessionId))) {
      throw new CliError(`${user.email} has no live session ${input.sessionId}`);
    }
    deps.out(`revoked 1 session of ${user.email} (${input.sessionId})`);
    return 1;
  }
  const revoked = await deps.operator.revokeAllSessions(user.id);
  deps.out(`revoked ${revoked} session${revoked === 1 ? '' : 's'} of ${user.email}`);
  return revoked;
}
