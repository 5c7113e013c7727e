import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../src/http/pages/views/format.js';

/** The Activity page's words for the passkey events (issue #20), and how a passkey sign-in reads. */
describe('describeEvent: passkeys', () => {
  it('labels the passkey events; an added passkey and a refused copy are worth a second look', () => {
    expect(describeEvent('passkey_added', { name: 'Phone' })).toEqual({ text: 'Passkey added', alert: true });
    expect(describeEvent('passkey_removed', { name: 'Phone' })).toEqual({
      text: 'Passkey removed',
      alert: false,
    });
    expect(describeEvent('passkey_clone_suspected', {})).toEqual({
      text: 'A passkey that may have been copied was refused',
      alert: true,
    });
  });

  it('a sign-in or a step-up with a passkey says so (amr hwk or swk); a password one does not', () => {
    expect(describeEvent('login_succeeded', { amr: ['hwk', 'user', 'mfa'] })).toEqual({
      text: 'Signed in with a passkey',
      alert: false,
    });
    expect(describeEvent('login_succeeded', { amr: ['pwd', 'swk', 'user'] }).text).toBe(
      'Signed in with a passkey',
    );
    expect(describeEvent('login_succeeded', { amr: ['pwd', 'otp'] }).text).toBe('Signed in');
    expect(
      describeEvent('login_succeeded', {
        amr: ['swk', 'user', 'mfa'],
        new_device: true,
        first_sign_in: false,
      }),
    ).toEqual({ text: 'Signed in with a passkey from a new device', alert: true });
    expect(describeEvent('step_up', { acr: 'aal2', amr: ['hwk', 'user', 'mfa'] }).text).toBe(
      'Identity confirmed again with a passkey',
    );
    expect(describeEvent('mfa_failed', { during: 'step_up', method: 'passkey' }).text).toBe(
      'A passkey was not accepted',
    );
    expect(describeEvent('mfa_failed', { during: 'login' }).text).toBe('Wrong verification code entered');
    // Hostile details change nothing.
    expect(describeEvent('login_succeeded', { amr: 'hwk' }).text).toBe('Signed in');
  });
});
