import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { UserMenu, initialsOf } from './UserMenu';
import { NO_AUTH_ME } from '../api/auth';
import type { Me } from '../api/types';

vi.mock('../live/socket', () => ({ closeSocket: () => {} }));

const ANA: Me = {
  principal: 'user',
  id: 2,
  name: 'ana',
  role: 'analyst',
  scopes: null,
  permissions: ['findings_read', 'findings_write', 'preferences'],
  auth_enabled: true,
};

function setup(me: Me) {
  const calls: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    calls.push(`${init?.method ?? 'GET'} ${String(input)}`);
    if (init?.method === 'PUT') {
      calls.push(`body ${String(init.body)}`);
      return new Response(String(init.body));
    }
    if (String(input) === '/api/v1/auth/logout') return new Response(null, { status: 204 });
    return new Response(JSON.stringify({ time_range: '24h', theme: 'system', saved_filters: [] }));
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/findings']}>
        <Routes>
          <Route path="/login" element={<output data-testid="login-page" />} />
          <Route path="*" element={<UserMenu me={me} />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<UserMenu>', () => {
  it('shows the signed-in user and role, and signs out to the sign-in page', async () => {
    const calls = setup(ANA);
    fireEvent.click(screen.getByTestId('user-menu'));
    expect(screen.getByTestId('user-name').textContent).toBe('ana');
    expect(screen.getByTestId('user-role').textContent).toBe('Analyst');
    expect(screen.getByRole('menuitem', { name: 'Preferences…' })).toBeTruthy();
    fireEvent.click(screen.getByRole('menuitem', { name: 'Sign out' }));
    await screen.findByTestId('login-page');
    expect(calls).toContain('POST /api/v1/auth/logout');
  });

  it('offers no sign-out or preferences when sign-in is off', () => {
    setup(NO_AUTH_ME);
    fireEvent.click(screen.getByTestId('user-menu'));
    expect(screen.getByTestId('user-role').textContent).toBe('Sign-in is off on this server');
    expect(screen.queryByRole('menuitem', { name: 'Sign out' })).toBeNull();
    expect(screen.queryByRole('menuitem', { name: 'Preferences…' })).toBeNull();
  });

  it('saves preferences with a PUT of the whole object', async () => {
    const calls = setup(ANA);
    fireEvent.click(screen.getByTestId('user-menu'));
    fireEvent.click(screen.getByRole('menuitem', { name: 'Preferences…' }));
    fireEvent.change(await screen.findByLabelText('Default time range'), { target: { value: '7d' } });
    fireEvent.click(screen.getByRole('button', { name: 'Dark' }));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls).toContain('PUT /api/v1/auth/me/preferences'));
    expect(calls).toContain('body {"time_range":"7d","theme":"dark","saved_filters":[]}');
    expect(document.documentElement.dataset.theme).toBe('dark');
  });

  it('shows initials from the name', () => {
    expect(initialsOf('ana.reyes')).toBe('AR');
    expect(initialsOf('e2e-admin')).toBe('EA');
    expect(initialsOf('root')).toBe('RO');
    expect(initialsOf('')).toBe('?');
  });
});
