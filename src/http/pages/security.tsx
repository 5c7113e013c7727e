import {
  assuranceOf,
  checkAssurance,
  FRESH_AAL2,
  FRESH_AUTH,
  holdsUntilPosted,
} from '../../domain/assurance.js';
import { AuthError } from '../../domain/errors.js';
import type { Caller } from '../../services/session-service.js';
import { qrCodeSvg, totpUri } from '../../services/totp.js';
import { type PageApp, type PageContextOf, type PageDeps, SECURITY, text } from './env.js';
import { expected, problemText } from './failures.js';
import { noticeOf } from './notices.js';
import { assertionOf, postedByPasskey } from './passkey-forms.js';
import { pageOf } from './render.js';
import type { Notice } from './views/layout.js';
import {
  type EmailForm,
  RecoveryCodesPage,
  type SecurityErrors,
  SecurityPage,
  TotpSetupPage,
} from './views/security.js';

/** A TOTP secret as `newTotpSecret` makes it (base32), echoed by the set-up form. */
const BASE32_SECRET = /^[A-Z2-7]{16,64}$/;

/** What a passkey that did not confirm an action is told (the service says only "not accepted"). */
export const PASSKEY_REFUSED = 'The passkey was not accepted. Try again, or use another way.';

/**
 * The security page, and a form's failure shown next to its field (./password.tsx,
 * ./email.tsx and ./passkeys.tsx use both).
 */
export function securityPage(deps: Pick<PageDeps, 'clock' | 'sessions' | 'passkeys'>) {
  const render = async (
    c: PageContextOf,
    status: 200 | 400 | 401 | 403 | 409 | 429,
    errors: SecurityErrors = {},
    notice?: Notice,
    emailForm: { value?: string; askCode?: boolean } = {},
    renaming?: { id: string; value: string },
  ) => {
    const caller = c.get('caller');
    const now = deps.clock.now();
    // Read now, not from the access token's claim: a link used a minute ago shows at once.
    const user = await deps.sessions.me(caller);
    const email: EmailForm = {
      address: user.email,
      verified: user.emailVerifiedAt !== null,
      value: emailForm.value ?? '',
      // The code field shows when the POST will need it (the service asks aal2 with MFA).
      askCode:
        (emailForm.askCode ?? false) ||
        (user.mfaEnabled && !holdsUntilPosted(assuranceOf(caller), FRESH_AAL2, now)),
    };
    const passkeys = {
      list: await deps.passkeys.list(caller),
      // The passkeys service's own rule for adding and removing one (`requireFresh`).
      fresh: holdsUntilPosted(assuranceOf(caller), user.mfaEnabled ? FRESH_AAL2 : FRESH_AUTH, now),
      now,
      renaming,
    };
    return c.html(
      <SecurityPage
        page={pageOf(c)}
        notice={notice ?? noticeOf(c.req.query())}
        mfaEnabled={c.get('mfaEnabled')}
        // The enrolment form goes without a password field only if the POST will find the
        // sign-in still fresh (domain/assurance.ts, FORM_LEAD_SECONDS).
        freshAuth={holdsUntilPosted(assuranceOf(caller), FRESH_AUTH, now)}
        email={email}
        passkeys={passkeys}
        errors={errors}
      />,
      status,
    );
  };

  /** Wrong password, code or passkey, weak password, throttling: shown at `field` (or on top). */
  const failure = (c: PageContextOf, error: unknown, field: keyof SecurityErrors) => {
    const shown = expected(
      error,
      'wrong_password',
      'wrong_code',
      'wrong_passkey',
      'invalid_password',
      'invalid_request',
      'rate_limited',
    );
    if (shown.code === 'rate_limited') {
      return render(c, 429, {}, { kind: 'error', text: problemText(c, shown) });
    }
    if (shown.code === 'wrong_passkey') return render(c, 403, { [field]: PASSKEY_REFUSED });
    return render(c, shown.code === 'wrong_password' || shown.code === 'wrong_code' ? 403 : 400, {
      [field]: shown.description,
    });
  };

  return { render, failure };
}

/**
 * Two-step verification: enrol (with a fresh sign-in, as POST /v1/mfa/totp/enroll asks),
 * activate, new recovery codes and turning it off (each after a fresh code, as the API's
 * `aal2` + fresh auth asks). The same services and the same RFC 9470 decision as the API.
 */
export function securityPages(app: PageApp, deps: PageDeps): void {
  const { mfa, clock, config, device } = deps;
  const { signedIn, adopt } = deps.session;
  const security = securityPage(deps);

  app.get('/security', signedIn, (c) => security.render(c, 200));

  /** Enrolment needs a fresh sign-in (API.md: fresh auth); a password re-entered here renews it. */
  app.post('/security/totp/enroll', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const password = text(body.password);
    let caller = c.get('caller');
    try {
      if (password) caller = await adopt(c, await mfa.stepUp(caller, { password }, device(c)));
      else if (!checkAssurance(assuranceOf(caller), FRESH_AUTH, clock.now()).ok)
        return security.render(c, 400, { enroll: 'Enter your password to continue.' });
      const { secret, qrSvg } = await mfa.enroll(caller);
      return c.html(<TotpSetupPage page={pageOf(c)} secret={secret} qrSvg={qrSvg} />);
    } catch (error) {
      if (error instanceof AuthError && error.code === 'mfa_already_enabled')
        return c.redirect(SECURITY, 303);
      return security.failure(c, error, 'enroll');
    }
  });

  app.post('/security/totp/activate', signedIn, async (c) => {
    const body = await c.req.parseBody();
    try {
      const codes = await mfa.activate(c.get('caller'), text(body.code).trim());
      return c.html(
        <RecoveryCodesPage page={pageOf(c)} codes={codes} intro="Two-step verification is on." />,
      );
    } catch (error) {
      const failure = expected(error, 'wrong_code', 'rate_limited', 'mfa_already_enabled', 'mfa_not_enabled');
      const secret = text(body.secret);
      if (
        failure.code === 'mfa_already_enabled' ||
        failure.code === 'mfa_not_enabled' ||
        !BASE32_SECRET.test(secret)
      )
        return c.redirect(SECURITY, 303);
      // The same secret again (the one stored is checked, never this echo), so a scanned code still works.
      const qrSvg = qrCodeSvg(totpUri(config.totpIssuer, c.get('email'), secret));
      const problem = problemText(c, failure);
      return c.html(
        <TotpSetupPage page={pageOf(c)} secret={secret} qrSvg={qrSvg} error={problem} />,
        failure.code === 'rate_limited' ? 429 : 403,
      );
    }
  });

  /**
   * New recovery codes and turning MFA off need `aal2` and a fresh sign-in: a fresh code, or
   * a passkey (the form beside the code's, issue #20), steps the session up (RFC 9470) every
   * time, then `action` runs as the stepped-up caller; a missing or wrong code is shown at
   * `field`, a refused passkey in its own form.
   */
  const withFreshCode =
    (field: 'regenerate' | 'disable', action: (c: PageContextOf, caller: Caller) => Promise<Response>) =>
    async (c: PageContextOf) => {
      const body = await c.req.parseBody();
      const byPasskey = postedByPasskey(body);
      const shownAt = byPasskey ? (`${field}Passkey` as const) : field;
      let factor: { code: string } | { passkey: NonNullable<ReturnType<typeof assertionOf>> };
      if (byPasskey) {
        const passkey = assertionOf(body.response);
        if (!passkey) return security.render(c, 400, { [shownAt]: PASSKEY_REFUSED });
        factor = { passkey };
      } else {
        const code = text(body.code).trim();
        if (!code) return security.render(c, 400, { [field]: 'Enter the code from your authenticator app.' });
        factor = { code };
      }
      try {
        return await action(c, await adopt(c, await mfa.stepUp(c.get('caller'), factor, device(c))));
      } catch (error) {
        return security.failure(c, error, shownAt);
      }
    };

  app.post(
    '/security/recovery-codes',
    signedIn,
    withFreshCode('regenerate', async (c, caller) =>
      c.html(
        <RecoveryCodesPage
          page={pageOf(c)}
          codes={await mfa.regenerateRecoveryCodes(caller)}
          intro="New recovery codes; the old ones no longer work."
        />,
      ),
    ),
  );

  app.post(
    '/security/totp/disable',
    signedIn,
    withFreshCode('disable', async (c, caller) =>
      c.redirect(`${SECURITY}?notice=mfa_off&n=${await mfa.disable(caller)}`, 303),
    ),
  );
}
