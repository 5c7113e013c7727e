import { z } from 'zod';
import { type PageApp, type PageDeps, SECURITY, text } from './env.js';
import { expected } from './failures.js';
import { assertionOf, optionsAnswer, postedByPasskey, registrationOf } from './passkey-forms.js';
import { PASSKEY_REFUSED, securityPage } from './security.js';
import { PASSKEY_NAME_MAX } from './views/passkeys.js';

/** A passkey's id in a form's URL (the API's check: a UUID, else "no such passkey"). */
const PasskeyId = z.uuid();

/** What a stale session is told when it tries to add or remove a passkey. */
const CONFIRM_FIRST =
  'Confirm it is you first: adding or removing a passkey needs a sign-in from the last 5 minutes.';

/**
 * The security page's passkeys (issue #20): the registration ceremony's options and result,
 * rename, remove, and the page's re-authentication (password, code or passkey) that adding
 * and removing ask for. The same service and the same rules as /v1/passkeys: adding and
 * removing need a fresh sign-in, at aal2 with TOTP on (services/passkeys.ts decides; the
 * page only judges in advance which form to show). Also the step-up options every page that
 * confirms with a passkey fetches (security, admin).
 */
export function passkeyPages(app: PageApp, deps: PageDeps): void {
  const { passkeys, mfa, device } = deps;
  const { signedIn, adopt } = deps.session;
  const security = securityPage(deps);
  const ip = (c: Parameters<typeof device>[0]) => device(c).ipAddress;

  /** Options for a step-up with a passkey: the user's passkeys, bound to this session. */
  app.post('/step-up/passkey-options', signedIn, (c) =>
    optionsAnswer(c, () => mfa.stepUpPasskeyOptions(c.get('caller'), ip(c)), ['not_found', 'rate_limited'], {
      not_found: 'This account has no passkey. Use your password or a code.',
    }),
  );

  /** Options for a new passkey: asked only of a fresh session (the service checks). */
  app.post('/passkeys/options', signedIn, (c) =>
    optionsAnswer(
      c,
      () => passkeys.registrationOptions(c.get('caller'), ip(c)),
      ['insufficient_user_authentication', 'passkey_limit_reached', 'rate_limited'],
      { insufficient_user_authentication: `${CONFIRM_FIRST} Reload the page to confirm.` },
    ),
  );

  /** The new passkey: the ceremony's result (its challenge proves this session asked for it). */
  app.post('/passkeys', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const response = registrationOf(body.response);
    const refused = (status: 400 | 409, text: string) =>
      security.render(c, status, {}, { kind: 'error', text });
    if (!response) return refused(400, 'The new passkey could not be read. Try again.');
    if (name.length > PASSKEY_NAME_MAX)
      return refused(400, `A passkey's name can be at most ${PASSKEY_NAME_MAX} characters.`);
    try {
      await passkeys.register(c.get('caller'), { response, name: name || null });
      return c.redirect(`${SECURITY}?notice=passkey_added`, 303);
    } catch (error) {
      const failure = expected(error, 'passkey_not_accepted', 'passkey_exists', 'passkey_limit_reached');
      switch (failure.code) {
        case 'passkey_exists':
          return refused(409, 'This passkey is on your account already.');
        case 'passkey_limit_reached':
          return refused(409, `${failure.description}.`);
        default:
          return refused(400, 'The passkey was not accepted (it may have taken too long). Try again.');
      }
    }
  });

  app.post('/passkeys/:id/rename', signedIn, async (c) => {
    const id = PasskeyId.safeParse(c.req.param('id'));
    if (!id.success) return c.redirect(`${SECURITY}?notice=passkey_gone`, 303);
    const value = text((await c.req.parseBody()).name);
    const name = value.trim();
    const again = (error: string) =>
      security.render(c, 400, { passkeyName: error }, undefined, {}, { id: id.data, value });
    if (!name) return again('Enter a name.');
    if (name.length > PASSKEY_NAME_MAX) return again(`Use at most ${PASSKEY_NAME_MAX} characters.`);
    try {
      await passkeys.rename(c.get('caller'), id.data, name);
      return c.redirect(`${SECURITY}?notice=passkey_renamed`, 303);
    } catch (error) {
      expected(error, 'not_found');
      return c.redirect(`${SECURITY}?notice=passkey_gone`, 303);
    }
  });

  /** Removal needs a fresh sign-in (the service checks); the page offered the button only then. */
  app.post('/passkeys/:id/remove', signedIn, async (c) => {
    const id = PasskeyId.safeParse(c.req.param('id'));
    if (!id.success) return c.redirect(`${SECURITY}?notice=passkey_gone`, 303);
    try {
      await passkeys.remove(c.get('caller'), id.data);
      return c.redirect(`${SECURITY}?notice=passkey_removed`, 303);
    } catch (error) {
      const failure = expected(error, 'not_found', 'insufficient_user_authentication');
      if (failure.code === 'not_found') return c.redirect(`${SECURITY}?notice=passkey_gone`, 303);
      return security.render(c, 401, { confirm: CONFIRM_FIRST });
    }
  });

  /**
   * The security page's re-authentication (RFC 9470 step-up): the password, or the code with
   * TOTP on (a password alone is aal1, which adding a passkey to an MFA account does not
   * accept), or a passkey. Then the page again, whose forms judge the session fresh for the
   * next 5 minutes: the passkey buttons appear, the address change asks no code.
   */
  app.post('/security/confirm', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const forEmail = body.for === 'email';
    const byPasskey = postedByPasskey(body);
    const field = byPasskey ? (forEmail ? 'emailPasskey' : 'confirmPasskey') : 'confirm';
    let factor:
      | { password: string }
      | { code: string }
      | { passkey: NonNullable<ReturnType<typeof assertionOf>> };
    if (byPasskey) {
      const passkey = assertionOf(body.response);
      if (!passkey) return security.render(c, 400, { [field]: PASSKEY_REFUSED });
      factor = { passkey };
    } else if (c.get('mfaEnabled')) {
      const code = text(body.code).trim();
      if (!code) return security.render(c, 400, { confirm: 'Enter the code from your authenticator app.' });
      factor = { code };
    } else {
      const password = text(body.password);
      if (!password) return security.render(c, 400, { confirm: 'Enter your password.' });
      factor = { password };
    }
    try {
      await adopt(c, await mfa.stepUp(c.get('caller'), factor, device(c)));
    } catch (error) {
      return security.failure(c, error, field);
    }
    return c.redirect(`${SECURITY}?notice=${forEmail ? 'confirmed_email' : 'confirmed'}`, 303);
  });
}
