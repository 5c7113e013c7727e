/**
 * Who counts as an administrator: a user holding the `admin` role who is not disabled
 * (OWASP ASVS V4.1.3, least privilege: a disabled admin keeps no power). Read from the
 * user's record as it is now, never from a token, so a revoked role stops at once. The one
 * home of the rule: the admin service's `authorize` and the `/account` pages' menu ask it.
 */
export function isActiveAdmin(user: { role: string; disabledAt: Date | null }): boolean {
  return user.role === 'admin' && user.disabledAt === null;
}
