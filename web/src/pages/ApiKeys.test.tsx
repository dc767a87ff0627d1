import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import ApiKeys from './ApiKeys';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const ADMIN = { principal: 'user', id: 1, name: 'root', role: 'admin', scopes: null, permissions: ['users_manage', 'audit_read'], auth_enabled: true };
const SECRET = 'vgl_a1b2c3d4_0123456789abcdefghijklmnopqrstuv';
const KEY = {
  id: 3,
  name: 'ci',
  prefix: 'vgl_a1b2c3d4',
  scopes: ['ingest'],
  created_at: '2026-01-01T00:00:00Z',
  created_by: 'root',
  expires_at: null,
  last_used_at: null,
  revoked_at: null,
};

function setup(me: unknown = ADMIN) {
  const calls: string[] = [];
  const keys: unknown[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const u = String(input);
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${u} ${init?.body ?? ''}`.trim());
    if (u === '/api/v1/auth/me') return json(me);
    if (u === '/api/v1/api-keys' && method === 'POST') {
      keys.push(KEY);
      return json({ key: KEY, secret: SECRET }, 201);
    }
    if (u === '/api/v1/api-keys') return json({ items: keys, total: keys.length });
    if (u.startsWith('/api/v1/api-keys/') && method === 'DELETE') return new Response(null, { status: 204 });
    return json({ error: { code: 'not_found', message: 'no' } }, 404);
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <ApiKeys />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<ApiKeys>', () => {
  it('shows a new key’s secret once, with a copy button and a warning', async () => {
    const writeText = vi.fn<(s: string) => Promise<void>>().mockResolvedValue(undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const calls = setup();
    fireEvent.click(await screen.findByRole('button', { name: 'New API key' }));
    const form = screen.getByRole('form', { name: 'New API key' });
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'ci' } });
    fireEvent.click(within(form).getByRole('checkbox', { name: /ingest/ }));
    fireEvent.click(within(form).getByRole('checkbox', { name: /read/ }));
    fireEvent.change(within(form).getByLabelText('Expires after'), { target: { value: '30d' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create key' }));

    const secret = await screen.findByTestId('key-secret');
    expect(within(secret).getByText('Copy this key now. It will not be shown again.')).toBeTruthy();
    expect((within(secret).getByLabelText('API key secret') as HTMLInputElement).value).toBe(SECRET);
    const post = calls.find((c) => c.startsWith('POST /api/v1/api-keys'))!;
    expect(JSON.parse(post.slice(post.indexOf('{')))).toEqual({ name: 'ci', scopes: ['ingest'], expires_in: '30d' });

    fireEvent.click(within(secret).getByRole('button', { name: 'Copy' }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith(SECRET));
    await within(secret).findByText('Copied to the clipboard.');

    // Done: the secret is gone for good; the list shows the key by its prefix only.
    fireEvent.click(within(secret).getByRole('button', { name: 'Done' }));
    expect(screen.queryByTestId('key-secret')).toBeNull();
    await screen.findByText('vgl_a1b2c3d4…');
    expect(document.body.textContent).not.toContain(SECRET);

    // Opening the dialog again starts a new key, it does not show the old secret.
    fireEvent.click(screen.getByRole('button', { name: 'New API key' }));
    expect(screen.getByRole('form', { name: 'New API key' })).toBeTruthy();
    expect(screen.queryByTestId('key-secret')).toBeNull();
  });

  it('revokes a key after confirmation', async () => {
    const calls = setup();
    // Create one so the list has a row.
    fireEvent.click(await screen.findByRole('button', { name: 'New API key' }));
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'ci' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create key' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Done' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke…' }));
    expect(calls.some((c) => c.startsWith('DELETE'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(calls).toContain('DELETE /api/v1/api-keys/3'));
  });

  it('is closed to those without users_manage', async () => {
    setup({ ...ADMIN, role: 'viewer', permissions: ['events_read'] });
    await screen.findByText('You do not have access to this page.');
    expect(screen.queryByRole('button', { name: 'New API key' })).toBeNull();
  });
});
