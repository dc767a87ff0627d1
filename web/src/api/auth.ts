// Who is signed in, what they may do, and their preferences. The server is
// the authority: the UI hides what the principal may not do, the server
// refuses it anyway.
import { useCallback } from 'react';
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { ApiError, api, rememberSession } from './client';
import type { AuthConfig, Me, Permission, Preferences, Session } from './types';
import { PERMISSIONS } from './types';

export const ME_KEY = ['auth', 'me'] as const;
export const PREFS_KEY = ['auth', 'preferences'] as const;

/** A server without the auth routes: everyone may do everything, as before accounts. */
export const NO_AUTH_ME: Me = {
  principal: 'anonymous',
  id: null,
  name: 'anonymous',
  role: null,
  scopes: null,
  permissions: [...PERMISSIONS],
  auth_enabled: false,
};

export async function fetchMe(signal?: AbortSignal): Promise<Me> {
  try {
    return await api.get<Me>('/api/v1/auth/me', undefined, signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return NO_AUTH_ME;
    throw e;
  }
}

/** The principal making requests (GET /api/v1/auth/me). */
export function useMe() {
  return useQuery({
    queryKey: ME_KEY,
    queryFn: ({ signal }) => fetchMe(signal),
    staleTime: 5 * 60_000,
    retry: false,
  });
}

/** Whether `me` holds `permission`; nobody known yet holds nothing. */
export function can(me: Pick<Me, 'permissions'> | null | undefined, permission: Permission): boolean {
  return !!me && Array.isArray(me.permissions) && me.permissions.includes(permission);
}

/** `can` bound to the signed-in principal. */
export function useCan(): (permission: Permission) => boolean {
  const me = useMe().data;
  return useCallback((p: Permission) => can(me, p), [me]);
}

/** Whether the principal has preferences of its own (signed-in users only). */
export function hasPreferences(me: Me | null | undefined): boolean {
  return !!me && me.principal === 'user' && me.auth_enabled;
}

export function useAuthConfig() {
  return useQuery({
    queryKey: ['auth', 'config'],
    queryFn: ({ signal }) => api.get<AuthConfig>('/api/v1/auth/config', undefined, signal),
    retry: false,
    staleTime: 60_000,
  });
}

export function usePreferences(enabled = true) {
  return useQuery({
    queryKey: PREFS_KEY,
    queryFn: ({ signal }) => api.get<Preferences>('/api/v1/auth/me/preferences', undefined, signal),
    enabled,
    staleTime: Infinity,
    retry: false,
  });
}

/** PUT the whole preferences object (the cache changes at once, the server's answer wins). */
export function useSavePreferences() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (p: Preferences) => api.put<Preferences>('/api/v1/auth/me/preferences', p),
    onMutate: (p) => {
      const before = qc.getQueryData<Preferences>(PREFS_KEY);
      qc.setQueryData(PREFS_KEY, p);
      return { before };
    },
    onError: (_e, _p, ctx) => {
      if (ctx?.before) qc.setQueryData(PREFS_KEY, ctx.before);
    },
    onSuccess: (saved) => qc.setQueryData(PREFS_KEY, saved),
  });
}

export async function login(username: string, password: string): Promise<Session> {
  const s = await api.post<Session>('/api/v1/auth/login', { username, password });
  rememberSession(s);
  return s;
}

export async function setup(token: string, username: string, password: string): Promise<Session> {
  const s = await api.post<Session>('/api/v1/auth/setup', { token, username, password });
  rememberSession(s);
  return s;
}

/** Revoke the session (the server clears the cookies). */
export async function logout(): Promise<void> {
  try {
    await api.post('/api/v1/auth/logout');
  } finally {
    rememberSession(null);
  }
}

/** Forget everything the signed-out principal could read. */
export function forgetSession(qc: QueryClient): void {
  qc.clear();
}
