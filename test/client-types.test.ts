import type * as Browser from '@simplewebauthn/browser';
import type * as Server from '@simplewebauthn/server';
import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type * as C from '../src/client/index.js';
import type * as R from '../src/http/responses.js';
import type * as S from '../src/http/schemas.js';

/**
 * The client's plain types against the server's schemas: `npx tsc -p tsconfig.json --noEmit`
 * (which covers test/) fails when one drifts, so responses.ts stays the one home of each shape
 * while @latchkey/client's `.d.ts` imports nothing.
 */
type Client = C.LatchkeyClient;
type Result<K extends keyof Client> = Client[K] extends (...args: never[]) => Promise<infer T> ? T : never;

describe('@latchkey/client types', () => {
  it('equal the z.infer of the server schema they stand for', () => {
    expectTypeOf<C.TokenPair>().toEqualTypeOf<z.infer<typeof R.TokenPair>>();
    expectTypeOf<C.MfaRequired>().toEqualTypeOf<z.infer<typeof R.MfaRequired>>();
    expectTypeOf<C.RegisteredUser>().toEqualTypeOf<z.infer<typeof R.RegisteredUser>['user']>();
    expectTypeOf<C.Me>().toEqualTypeOf<z.infer<typeof R.Me>['user']>();
    expectTypeOf<C.Session>().toEqualTypeOf<z.infer<typeof R.Session>>();
    expectTypeOf<C.SecurityEvents>().toEqualTypeOf<z.infer<typeof R.SecurityEvents>>();
    expectTypeOf<C.SecurityEvent>().toEqualTypeOf<z.infer<typeof R.SecurityEvents>['events'][number]>();
    expectTypeOf<C.EmailVerified>().toEqualTypeOf<z.infer<typeof R.EmailVerified>>();
    expectTypeOf<C.EmailChangeReverted>().toEqualTypeOf<z.infer<typeof R.EmailChangeReverted>>();
    expectTypeOf<C.EmailChangePending>().toEqualTypeOf<z.infer<typeof R.EmailChangePending>>();
    expectTypeOf<C.TotpEnrollment>().toEqualTypeOf<z.infer<typeof R.TotpEnrollment>>();
    expectTypeOf<C.Passkey>().toEqualTypeOf<z.infer<typeof R.Passkey>>();
  });

  it('passkeys: the options go to @simplewebauthn/browser, and what it resolves with comes back, without a cast', () => {
    // What the server's library makes (src/services/passkeys.ts answers it as it is) is what
    // the client says it gets...
    expectTypeOf<Server.PublicKeyCredentialCreationOptionsJSON>().toExtend<C.PasskeyCreationOptions>();
    expectTypeOf<Server.PublicKeyCredentialRequestOptionsJSON>().toExtend<C.PasskeyRequestOptions>();
    // ...and what startRegistration / startAuthentication take as `optionsJSON`.
    expectTypeOf<C.PasskeyCreationOptions>().toExtend<Browser.PublicKeyCredentialCreationOptionsJSON>();
    expectTypeOf<C.PasskeyRequestOptions>().toExtend<Browser.PublicKeyCredentialRequestOptionsJSON>();
    // Their results are the client's arguments, which the server's request schemas accept.
    expectTypeOf<Browser.RegistrationResponseJSON>().toExtend<C.PasskeyRegistration>();
    expectTypeOf<Browser.AuthenticationResponseJSON>().toExtend<C.PasskeyAssertion>();
    expectTypeOf<C.PasskeyRegistration>().toExtend<z.input<typeof S.RegistrationResponse>>();
    expectTypeOf<C.PasskeyAssertion>().toExtend<z.input<typeof S.AuthenticationResponse>>();
    expectTypeOf<
      Parameters<C.LatchkeyClient['passkeys']['register']>[0]
    >().toEqualTypeOf<C.PasskeyRegistration>();
    expectTypeOf<Parameters<C.LatchkeyClient['signInWithPasskey']>[0]>().toEqualTypeOf<C.PasskeyAssertion>();
  });

  it("each method's result is the body (or the part of it) its route answers", () => {
    type Body<S extends z.ZodType> = z.infer<S>;
    expectTypeOf<Result<'register'>>().toEqualTypeOf<Body<typeof R.RegisteredUser>['user']>();
    expectTypeOf<Result<'login'>>().toEqualTypeOf<Body<typeof R.TokenPair> | Body<typeof R.MfaRequired>>();
    for (const pair of ['loginMfa', 'finishHeldLogin', 'stepUp', 'signInWithPasskey'] as const) {
      expectTypeOf<Result<typeof pair>>().toEqualTypeOf<Body<typeof R.TokenPair>>();
    }
    expectTypeOf<Result<'me'>>().toEqualTypeOf<Body<typeof R.Me>['user']>();
    expectTypeOf<Result<'rename'>>().toEqualTypeOf<Body<typeof R.Me>['user']>();
    expectTypeOf<Result<'sessions'>>().toEqualTypeOf<Body<typeof R.SessionList>['sessions']>();
    expectTypeOf<Result<'revokeAllSessions'>>().toEqualTypeOf<Body<typeof R.RevokedCount>['revoked']>();
    expectTypeOf<Result<'events'>>().toEqualTypeOf<Body<typeof R.SecurityEvents>>();
    expectTypeOf<Result<'enrollTotp'>>().toEqualTypeOf<Body<typeof R.TotpEnrollment>>();
    expectTypeOf<Result<'activateTotp'>>().toEqualTypeOf<Body<typeof R.RecoveryCodes>['recovery_codes']>();
    expectTypeOf<Result<'regenerateRecoveryCodes'>>().toEqualTypeOf<
      Body<typeof R.RecoveryCodes>['recovery_codes']
    >();
    expectTypeOf<Result<'verifyEmail'>>().toEqualTypeOf<Body<typeof R.EmailVerified>>();
    expectTypeOf<Result<'confirmEmailChange'>>().toEqualTypeOf<Body<typeof R.EmailVerified>>();
    expectTypeOf<Result<'revertEmailChange'>>().toEqualTypeOf<Body<typeof R.EmailChangeReverted>>();
    expectTypeOf<Result<'changeEmail'>>().toEqualTypeOf<Body<typeof R.EmailChangePending>>();
    for (const options of ['passkeyOptions', 'loginMfaPasskeyOptions', 'stepUpPasskeyOptions'] as const) {
      expectTypeOf<Result<typeof options>>().toEqualTypeOf<C.PasskeyRequestOptions>();
    }
    type Passkeys = Client['passkeys'];
    expectTypeOf<Awaited<ReturnType<Passkeys['list']>>>().toEqualTypeOf<
      Body<typeof R.Passkeys>['passkeys']
    >();
    expectTypeOf<Awaited<ReturnType<Passkeys['register']>>>().toEqualTypeOf<Body<typeof R.Passkey>>();
    expectTypeOf<Awaited<ReturnType<Passkeys['rename']>>>().toEqualTypeOf<Body<typeof R.Passkey>>();
    expectTypeOf<
      Awaited<ReturnType<Passkeys['registrationOptions']>>
    >().toEqualTypeOf<C.PasskeyCreationOptions>();
  });
});
