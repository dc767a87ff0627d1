import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import FindingDetail from './FindingDetail';
import { findingFixture } from '../test-fixtures';

vi.mock('../live/socket', () => ({ useLiveEvent: () => {}, useRoom: () => {} }));

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } });

const finding = findingFixture({
  description: 'A bucket was made public.',
  workflow_tags: [],
  explanation: 'Anyone can read it.',
  evidence_events: [],
});

const notification = {
  id: 31,
  receiver: 'hook',
  route: 'ops',
  group_key: 'rule_id=identity.public_bucket,user=mallory',
  kind: 'firing',
  finding_ids: [7],
  status: 'sent',
  attempts: 2,
  last_error: 'HTTP 503 on the first try',
  created_at: '2026-01-01T00:00:05Z',
  sent_at: '2026-01-01T00:00:07Z',
  title: '[FIRING] Public storage bucket',
  body: { version: 1, kind: 'firing', title: '[FIRING] Public storage bucket', text: 'mallory made a bucket public' },
  silence_id: null,
};

const spec = { paths: { '/api/v1/findings/{id}/notifications': { get: {} }, '/api/v1/findings/{id}': { get: {} } } };

function setup(permissions: string[], withRoute = true) {
  const calls: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const u = String(input);
    calls.push(u);
    if (u === '/api/openapi.json') return json(withRoute ? spec : { paths: {} });
    if (u === '/api/v1/auth/me') return json({ principal: 'api_key', id: 1, name: 'k', role: null, scopes: ['read'], permissions, auth_enabled: true });
    if (u.startsWith('/api/v1/findings/7/notifications')) return json({ items: [notification], total: 1, page: 1, page_size: 10 });
    if (u === '/api/v1/findings/7') return json(finding);
    return json({ items: [], total: 0 });
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/findings/7']}>
        <Routes>
          <Route path="/findings/:id" element={<FindingDetail />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<FindingDetail> notifications', () => {
  it('lists the notifications about the finding and offers a silence like it', async () => {
    setup(['findings_read', 'findings_write']);
    const section = await screen.findByTestId('finding-notifications');
    const row = (await within(section).findByText('HTTP 503 on the first try')).closest('tr')!;
    expect(within(row).getByText('sent')).toBeTruthy();
    expect(within(row).getByText('2 tries')).toBeTruthy();
    expect(within(row).getByText('hook')).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Show message of notification 31' }));
    expect(within(section).getByText('mallory made a bucket public')).toBeTruthy();
    expect(within(section).getByRole('link', { name: 'In the history' }).getAttribute('href')).toBe('/alerts?finding_id=7');
    const silence = screen.getByRole('link', { name: 'Silence like this…' }).getAttribute('href')!;
    const q = new URL(silence, 'http://x').searchParams;
    expect(q.get('new')).toBe('1');
    expect(q.get('rule_id')).toBe('identity.public_bucket');
    expect(q.get('service')).toBe('storage');
  });

  it('a viewer sees the notifications but no silence action', async () => {
    setup(['findings_read']);
    await screen.findByTestId('finding-notifications');
    expect(screen.queryByRole('link', { name: 'Silence like this…' })).toBeNull();
  });

  it('without the route on the server, there is no section and no call', async () => {
    const calls = setup(['findings_read'], false);
    await screen.findByText('Why it matters');
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryByTestId('finding-notifications')).toBeNull();
    expect(calls.some((c) => c.includes('/notifications'))).toBe(false);
  });
});
