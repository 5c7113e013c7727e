import { describe, expect, it } from 'vitest';
import {
  ADMIN_ASSURANCE,
  checkAssurance,
  FORM_LEAD_SECONDS,
  FRESH_AAL2,
  FRESH_AUTH,
  FRESH_AUTH_SECONDS,
  holdsUntilPosted,
} from '../../src/domain/assurance.js';
import { isActiveAdmin } from '../../src/domain/roles.js';

const now = new Date('2030-01-01T00:10:00.000Z');
const authTime = (ageSeconds: number) => now.getTime() / 1000 - ageSeconds;

describe('checkAssurance: the one RFC 9470 decision of the API guard and the pages', () => {
  it('fresh auth holds at exactly 300 s and fails at 301 s, with max_age in the verdict', () => {
    expect(FRESH_AUTH_SECONDS).toBe(300);
    expect(checkAssurance({ acr: 'aal1', authTime: authTime(300) }, FRESH_AUTH, now)).toEqual({ ok: true });
    expect(checkAssurance({ acr: 'aal1', authTime: authTime(301) }, FRESH_AUTH, now)).toMatchObject({
      ok: false,
      maxAge: 300,
    });
  });

  it('aal2 and fresh: a fresh aal1 session is too weak, a stale aal2 one too old', () => {
    expect(checkAssurance({ acr: 'aal2', authTime: authTime(10) }, FRESH_AAL2, now)).toEqual({ ok: true });
    expect(checkAssurance({ acr: 'aal1', authTime: authTime(10) }, FRESH_AAL2, now)).toMatchObject({
      ok: false,
      acrValues: 'aal2',
    });
    expect(checkAssurance({ acr: 'aal2', authTime: authTime(301) }, FRESH_AAL2, now)).toMatchObject({
      ok: false,
      maxAge: 300,
    });
  });

  it('the admin requirement is aal2, however old', () => {
    expect(checkAssurance({ acr: 'aal2', authTime: authTime(86_400) }, ADMIN_ASSURANCE, now).ok).toBe(true);
    expect(checkAssurance({ acr: 'aal1', authTime: authTime(0) }, ADMIN_ASSURANCE, now).ok).toBe(false);
  });
});

describe('holdsUntilPosted: the same rule, judged when a form shown now is posted', () => {
  it('offers a password-less form only while the rule will hold FORM_LEAD_SECONDS later', () => {
    const edge = FRESH_AUTH_SECONDS - FORM_LEAD_SECONDS;
    expect(holdsUntilPosted({ acr: 'aal1', authTime: authTime(edge) }, FRESH_AUTH, now)).toBe(true);
    expect(holdsUntilPosted({ acr: 'aal1', authTime: authTime(edge + 1) }, FRESH_AUTH, now)).toBe(false);
  });
});

describe('isActiveAdmin', () => {
  it('is the admin role on an account that is not disabled', () => {
    expect(isActiveAdmin({ role: 'admin', disabledAt: null })).toBe(true);
    expect(isActiveAdmin({ role: 'admin', disabledAt: now })).toBe(false);
    expect(isActiveAdmin({ role: 'user', disabledAt: null })).toBe(false);
  });
});
