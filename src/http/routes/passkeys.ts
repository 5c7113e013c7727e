import { z } from 'zod';
import { AuthError } from '../../domain/errors.js';
import type { PasskeyView } from '../../services/passkeys.js';
import type { RouteContext } from '../context.js';
import type { AuthVariables } from '../middleware/require-auth.js';
import { requestDevice } from '../request.js';
import * as R from '../responses.js';
import { BAD_INPUT, BEARER_ERRORS, bearerGuard, routeTable } from '../route-table.js';
import { PasskeyRegistrationBody, PasskeyRenameBody, withoutExtensions } from '../schemas.js';

const PasskeyIdParam = z.uuid();

/** The contract's passkey (docs/API.md, Passkeys): never its public key. */
export const passkeyJson = (passkey: PasskeyView) => ({
  id: passkey.id,
  name: passkey.name,
  device_type: passkey.deviceType,
  backed_up: passkey.backedUp,
  transports: passkey.transports,
  aaguid: passkey.aaguid,
  created_at: passkey.createdAt.toISOString(),
  last_used_at: passkey.lastUsedAt?.toISOString() ?? null,
});

const FRESH_NOTE =
  'Needs an authentication less than 300 s old, at `acr` aal2 when the account has TOTP (RFC 9470); else 401 `insufficient_user_authentication` with the step-up challenge.';

/** `/v1/passkeys`: the signed-in user's passkeys (issue #20). Sign-in and step-up are under /v1/auth. */
export function passkeyRoutes(ctx: RouteContext) {
  const { passkeys, config } = ctx;
  const table = routeTable<{ Variables: AuthVariables }>('/v1/passkeys');
  const bearer = bearerGuard(ctx);
  const fresh = { ...bearer, note: FRESH_NOTE };
  const passkeyId = (raw: string | undefined) => {
    const id = PasskeyIdParam.safeParse(raw);
    if (!id.success) throw new AuthError('not_found', 'No such passkey');
    return id.data;
  };

  table.route(
    {
      method: 'get',
      path: '/',
      tag: 'passkeys',
      summary: 'List your passkeys',
      security: bearer,
      ok: { status: 200, description: 'Passkeys, oldest first', schema: R.Passkeys },
      errors: [...BEARER_ERRORS],
    },
    async (c) => c.json({ passkeys: (await passkeys.list(c.get('caller'))).map(passkeyJson) }),
  );

  table.route(
    {
      method: 'post',
      path: '/registration/options',
      tag: 'passkeys',
      summary: 'Start adding a passkey: options for navigator.credentials.create()',
      description:
        'A challenge bound to this session (5 minutes, single use); a discoverable credential, user verification preferred, no attestation. Your passkeys are listed in `excludeCredentials`.',
      security: fresh,
      ok: {
        status: 200,
        description: 'PublicKeyCredentialCreationOptionsJSON',
        schema: R.PasskeyCreationOptions,
      },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'passkey_limit_reached', 'rate_limited'],
    },
    async (c) =>
      c.json(
        await passkeys.registrationOptions(
          c.get('caller'),
          requestDevice(c, config, ctx.getClientIp).ipAddress,
        ),
      ),
  );

  table.route(
    {
      method: 'post',
      path: '/',
      tag: 'passkeys',
      summary: 'Finish adding a passkey',
      description:
        'The result of navigator.credentials.create() for the options of `POST /v1/passkeys/registration/options`, from the same session. Origin (WEBAUTHN_ORIGINS), RP ID (WEBAUTHN_RP_ID), challenge and signature are checked.',
      security: bearer,
      body: { schema: PasskeyRegistrationBody },
      ok: { status: 201, description: 'The new passkey', schema: R.Passkey },
      errors: [
        ...BAD_INPUT,
        ...BEARER_ERRORS,
        'passkey_not_accepted',
        'passkey_exists',
        'passkey_limit_reached',
      ],
    },
    async (c, { body }) => {
      const passkey = await passkeys.register(c.get('caller'), {
        response: withoutExtensions(body.response),
        name: body.name ?? null,
      });
      return c.json(passkeyJson(passkey), 201);
    },
  );

  table.route(
    {
      method: 'patch',
      path: '/:id',
      tag: 'passkeys',
      summary: 'Rename one of your passkeys',
      security: bearer,
      body: { schema: PasskeyRenameBody },
      ok: { status: 200, description: 'The passkey', schema: R.Passkey },
      errors: [...BAD_INPUT, ...BEARER_ERRORS, 'not_found'],
    },
    async (c, { body }) =>
      c.json(passkeyJson(await passkeys.rename(c.get('caller'), passkeyId(c.req.param('id')), body.name))),
  );

  table.route(
    {
      method: 'delete',
      path: '/:id',
      tag: 'passkeys',
      summary: 'Remove one of your passkeys',
      description:
        'It no longer signs in or steps up; the authenticator keeps its copy until you delete it there too. Passkeys never turn two-step verification on or off (TOTP does): removing the last one leaves the account as it is.',
      security: fresh,
      ok: { status: 204, description: 'Removed' },
      errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'not_found'],
    },
    async (c) => {
      await passkeys.remove(c.get('caller'), passkeyId(c.req.param('id')));
      return c.body(null, 204);
    },
  );

  return table.done();
}
