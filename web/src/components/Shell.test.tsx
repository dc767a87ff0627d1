import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Shell } from './Shell';

vi.mock('../live/socket', () => ({ useLiveStatus: () => 'connected', useLiveEvent: () => {}, useRoom: () => {} }));

function setup(url: string, permissions: string[]) {
  vi.spyOn(globalThis, 'fetch').mockImplementation(async () =>
    new Response(JSON.stringify({ principal: 'api_key', id: 1, name: 'k', role: null, scopes: ['read'], permissions, auth_enabled: true })),
  );
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route element={<Shell />}>
            <Route path="*" element={<p>page</p>} />
          </Route>
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

describe('<Shell> navigation', () => {
  it('offers Alerts to those who read findings, without the time range there', async () => {
    setup('/alerts/silences', ['findings_read', 'events_read']);
    const nav = await screen.findByLabelText('Main navigation');
    expect(within(nav).getByRole('link', { name: 'Alerts' }).getAttribute('href')).toBe('/alerts');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Alerts');
    expect(screen.queryByTestId('timerange')).toBeNull();
  });

  it('offers Compliance next to IAM to those who read findings, without the time range there', async () => {
    setup('/compliance/soc2/CC6.1', ['findings_read', 'events_read', 'iam_read']);
    const nav = await screen.findByLabelText('Main navigation');
    const labels = within(nav).getAllByRole('link').map((a) => a.textContent);
    expect(labels.indexOf('Compliance')).toBe(labels.indexOf('IAM audit') + 1);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Compliance control');
    expect(screen.queryByTestId('timerange')).toBeNull();
  });

  it('hides Alerts from those who do not', async () => {
    setup('/events', ['events_read']);
    const nav = await screen.findByLabelText('Main navigation');
    expect(within(nav).getByRole('link', { name: 'Events' })).toBeTruthy();
    expect(within(nav).queryByRole('link', { name: 'Alerts' })).toBeNull();
    expect(within(nav).queryByRole('link', { name: 'Compliance' })).toBeNull();
    expect(screen.getByTestId('timerange')).toBeTruthy();
  });
});
