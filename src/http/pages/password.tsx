import { AuthError } from '../../domain/errors.js';
import { type PageApp, type PageDeps, SECURITY, text } from './env.js';
import { securityPage } from './security.js';

/** Changing the password, from the security page: every other device is signed out. */
export function passwordPages(app: PageApp, deps: PageDeps): void {
  const { sessions, device } = deps;
  const security = securityPage(deps);

  app.post('/security/password', deps.session.signedIn, async (c) => {
    const body = await c.req.parseBody();
    const currentPassword = text(body.current_password);
    const newPassword = text(body.new_password);
    if (!currentPassword || !newPassword)
      return security.render(c, 400, {
        ...(currentPassword ? {} : { currentPassword: 'Enter your current password.' }),
        ...(newPassword ? {} : { newPassword: 'Enter a new password.' }),
      });
    try {
      const revoked = await sessions.changePassword(c.get('caller'), {
        currentPassword,
        newPassword,
        device: device(c),
      });
      return c.redirect(`${SECURITY}?notice=password&n=${revoked}`, 303);
    } catch (error) {
      const field =
        error instanceof AuthError && error.code === 'wrong_password' ? 'currentPassword' : 'newPassword';
      return security.failure(c, error, field);
    }
  });
}
