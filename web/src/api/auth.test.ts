import { describe, expect, it } from 'vitest';
import { NO_AUTH_ME, can, hasPreferences } from './auth';
import type { Me } from './types';

const viewer: Me = {
  principal: 'user',
  id: 4,
  name: 'vic',
  role: 'viewer',
  scopes: null,
  permissions: ['events_read', 'findings_read', 'rules_read', 'iam_read', 'pipelines_read'],
  auth_enabled: true,
};

describe('can()', () => {
  it('holds exactly the permissions the server lists', () => {
    expect(can(viewer, 'findings_read')).toBe(true);
    expect(can(viewer, 'findings_write')).toBe(false);
    expect(can(viewer, 'users_manage')).toBe(false);
    expect(can({ permissions: ['users_manage', 'audit_read'] }, 'audit_read')).toBe(true);
  });

  it('denies everything until the principal is known', () => {
    expect(can(undefined, 'events_read')).toBe(false);
    expect(can(null, 'events_read')).toBe(false);
    expect(can({ permissions: undefined as unknown as string[] }, 'events_read')).toBe(false);
  });

  it('allows everything on a server without accounts', () => {
    expect(can(NO_AUTH_ME, 'users_manage')).toBe(true);
    expect(can(NO_AUTH_ME, 'findings_write')).toBe(true);
  });

  it('keeps preferences for signed-in users only', () => {
    expect(hasPreferences(viewer)).toBe(true);
    expect(hasPreferences({ ...viewer, principal: 'api_key', role: null, scopes: ['read'] })).toBe(false);
    expect(hasPreferences(NO_AUTH_ME)).toBe(false);
  });
});
