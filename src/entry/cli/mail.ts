import { adminMailJson } from '../../http/routes/admin.js';
import type { OutboxMessageView, OutboxStats, OutboxStatus } from '../../ports/mail.js';
import type { DispatchCounts, OutboxDispatcher } from '../../services/outbox-dispatcher.js';
import { RETRY_REFUSED } from '../../services/outbox-review.js';
import { CliError, formatTable, printable, terminalSafeJson, truncate, type Writer } from './output.js';
import type { CommandDeps } from './users.js';

/**
 * The mail outbox for operators (issue #17, Delivery): what is pending, sent or failed, a
 * failed message put back in the queue, and one delivery run. Never a message's body: it may
 * hold a live single-use link.
 */

/** `mail:list`: newest first, as a table or (`--json`) as GET /v1/admin/mail answers. */
export async function listMailCommand(
  deps: CommandDeps,
  input: { status?: OutboxStatus | undefined; limit: number; cursor?: string | undefined; json: boolean },
): Promise<OutboxMessageView[]> {
  const page = await deps.operator.listMail(input);
  if (input.json) {
    deps.out(terminalSafeJson({ messages: page.messages.map(adminMailJson), next_cursor: page.nextCursor }));
    return page.messages;
  }
  if (page.messages.length === 0) {
    deps.out(input.status ? `no ${input.status} messages` : 'the outbox is empty');
    return page.messages;
  }
  const time = (at: Date | null) => at?.toISOString() ?? '-';
  deps.out(
    formatTable(
      ['ID', 'KIND', 'STATUS', 'ATTEMPTS', 'CREATED', 'NEXT ATTEMPT', 'SENT', 'USER', 'LAST ERROR'],
      page.messages.map((message) => [
        message.id,
        message.kind,
        message.status,
        String(message.attempts),
        time(message.createdAt),
        message.status === 'pending' ? time(message.nextAttemptAt) : '-',
        time(message.sentAt),
        message.userId ?? '-',
        // A transport's words: shown, but never allowed to drive the terminal.
        message.lastError ? truncate(printable(message.lastError), 60) : '-',
      ]),
    ),
  );
  if (page.nextCursor) deps.out(`more: mail:list --cursor ${page.nextCursor}`);
  return page.messages;
}

/** `mail:retry`: a failed message back to pending, due now, its attempts counted from zero. */
export async function retryMailCommand(deps: CommandDeps, input: { id: string }): Promise<void> {
  const outcome = await deps.operator.retryMail(input.id);
  if (outcome !== 'retried') throw new CliError(`${RETRY_REFUSED[outcome]}: ${input.id}`);
  deps.out(`message ${input.id.toLowerCase()} is pending again; the mail dispatcher sends it next`);
}

/**
 * `mail:dispatch`: the dispatcher's drain, once, with the configured transport (run after run
 * while a run fills its batch), then the counts and what is left. Safe beside a running server:
 * claims never overlap (FOR UPDATE SKIP LOCKED and a lease).
 */
export async function dispatchMailCommand(deps: {
  dispatcher: Pick<OutboxDispatcher, 'drain'>;
  stats: () => Promise<OutboxStats>;
  out: Writer;
}): Promise<DispatchCounts & { pending: number }> {
  const total: DispatchCounts = { sent: 0, retried: 0, failed: 0 };
  await deps.dispatcher.drain({
    onRun: (counts) => {
      total.sent += counts.sent;
      total.retried += counts.retried;
      total.failed += counts.failed;
    },
  });
  const { pending, oldestPendingAgeSeconds } = await deps.stats();
  deps.out(
    `sent ${total.sent}, failed for good ${total.failed}, to retry later ${total.retried}; ` +
      `pending now ${pending}${pending > 0 ? ` (oldest ${Math.round(oldestPendingAgeSeconds)} s)` : ''}`,
  );
  return { ...total, pending };
}
