import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import Login, { safeNext } from './Login';

vi.mock('../live/socket', () => ({ reconnectSocket: () => {} }));

const json = (body: unknown, status = 200, headers?: Record<string, string>) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

const CONFIG = { password: true, sso: [{ id: 'okta', name: 'Okta', login_url: '/api/v1/auth/oidc/okta/login' }], setup_required: false };

function Landed() {
  const loc = useLocation();
  return <output data-testid="landed">{loc.pathname + loc.search}</output>;
}

function setup(url: string, login: () => Response, config: unknown = CONFIG) {
  const bodies: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const u = String(input);
    if (u === '/api/v1/auth/config') return json(config);
    if (u === '/api/v1/auth/login' || u === '/api/v1/auth/setup') {
      bodies.push(`${u} ${String(init?.body)}`);
      return login();
    }
    return json({ error: { code: 'not_found', message: 'no' } }, 404);
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route path="/login" element={<Login />} />
          <Route path="*" element={<Landed />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return bodies;
}

async function signIn(user = 'ana', password = 'secret') {
  fireEvent.change(await screen.findByLabelText('Username'), { target: { value: user } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: password } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

afterEach(() => vi.restoreAllMocks());

describe('<Login>', () => {
  it("shows the server's message for a wrong password", async () => {
    setup('/login', () => json({ error: { code: 'invalid_credentials', message: 'Wrong username or password.' } }, 401));
    await signIn();
    const alert = await screen.findByTestId('login-error');
    expect(alert.textContent).toBe('Wrong username or password.');
    // The password is cleared for the next try; the username stays.
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('Username') as HTMLInputElement).value).toBe('ana');
  });

  it('shows the wait from Retry-After and blocks the form until then', async () => {
    setup('/login', () => json({ error: { code: 'too_many_attempts', message: 'Too many sign-in attempts.' } }, 429, { 'Retry-After': '90' }));
    await signIn();
    const alert = await screen.findByTestId('login-error');
    expect(alert.textContent).toBe('Too many sign-in attempts. Try again in 2 min.');
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'again' } });
    expect((screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('counts a short wait down in seconds', async () => {
    setup('/login', () => json({ error: { code: 'too_many_attempts', message: 'Slow down.' } }, 429, { 'Retry-After': '2' }));
    await signIn();
    expect((await screen.findByTestId('login-error')).textContent).toBe('Slow down. Try again in 2 s.');
    await waitFor(() => expect(screen.getByTestId('login-error').textContent).toBe('Slow down. You can try again now.'), {
      timeout: 3500,
    });
  });

  it('offers the single sign-on providers as links', async () => {
    setup('/login', () => json({}));
    const link = await screen.findByRole('link', { name: 'Sign in with Okta' });
    expect(link.getAttribute('href')).toBe('/api/v1/auth/oidc/okta/login');
  });

  it('asks the provider to come back to the page the user came from', async () => {
    setup('/login?next=%2Fevents', () => json({}));
    const link = await screen.findByRole('link', { name: 'Sign in with Okta' });
    expect(link.getAttribute('href')).toBe('/api/v1/auth/oidc/okta/login?next=%2Fevents');
  });

  it('says why single sign-on failed', async () => {
    setup('/login?error=oidc_role_denied', () => json({}));
    expect((await screen.findByRole('alert')).textContent).toBe('Your account is not allowed to use Vigilo. Ask an admin.');
  });

  it('goes back to the page the user came from', async () => {
    const bodies = setup('/login?next=%2Ffindings%3Fstatus%3Dopen', () =>
      json({ token: 't', token_type: 'Bearer', expires_in: 900, refresh_token: 'r', csrf_token: 'c', user: { id: 1, username: 'ana' } }),
    );
    await signIn('ana', 'pw');
    expect((await screen.findByTestId('landed')).textContent).toBe('/findings?status=open');
    expect(JSON.parse(bodies[0]!.slice(bodies[0]!.indexOf('{')))).toEqual({ username: 'ana', password: 'pw' });
  });

  it('asks for the setup token while no admin exists', async () => {
    const bodies = setup('/login', () => json({ csrf_token: 'c', user: { id: 1, username: 'root' } }), { ...CONFIG, setup_required: true });
    fireEvent.change(await screen.findByLabelText('Setup token'), { target: { value: ' tok ' } });
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'root' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'long password' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create admin and sign in' }));
    await screen.findByTestId('landed');
    expect(bodies[0]).toBe('/api/v1/auth/setup {"token":"tok","username":"root","password":"long password"}');
  });

  it('never leaves the app after sign-in', () => {
    expect(safeNext('/events?kind=log')).toBe('/events?kind=log');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/\\evil.example')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
