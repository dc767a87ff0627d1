import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import Findings from './Findings';

vi.mock('../live/socket', () => ({ useLiveEvent: () => {}, useRoom: () => {} }));

const spec = {
  paths: {
    '/api/v1/findings': {
      get: { parameters: ['severity', 'status', 'user', 'q', 'from', 'to', 'sort', 'order', 'page', 'page_size', 'format'].map((name) => ({ name, in: 'query' })) },
    },
    '/api/v1/findings/bulk': { post: {} },
    '/api/v1/findings/groups': { get: { parameters: [{ name: 'by', in: 'query' }] } },
  },
};

const finding = {
  id: 7,
  rule_id: 'identity.public_bucket',
  rule_title: 'Public storage bucket',
  severity: 'critical',
  status: 'open',
  group: { user: 'mallory' },
  service: 'storage',
  user: 'mallory',
  first_seen: '2026-01-01T00:00:00Z',
  last_seen: '2026-01-01T00:00:00Z',
  event_count: 1,
  evidence: [],
  description: '',
  tags: [],
  risk_score: 100,
  explanation: '',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};

function Where() {
  return <output data-testid="where">{useLocation().search}</output>;
}

const ANALYST = ['preferences', 'events_read', 'findings_read', 'findings_write', 'rules_read', 'iam_read', 'iam_audit', 'pipelines_read'];
const VIEWER = ['preferences', 'events_read', 'findings_read', 'rules_read', 'iam_read', 'pipelines_read'];

function setup(url: string, permissions = ANALYST) {
  const calls: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const u = String(input);
    calls.push(`${init?.method ?? 'GET'} ${u} ${init?.body ?? ''}`);
    if (u.startsWith('/api/openapi.json')) return new Response(JSON.stringify(spec));
    if (u === '/api/v1/auth/me') {
      const me = { principal: 'user', id: 2, name: 'ana', role: 'analyst', scopes: null, permissions, auth_enabled: true };
      return new Response(JSON.stringify(me));
    }
    if (u === '/api/v1/auth/me/preferences') {
      return new Response(JSON.stringify({ time_range: '1h', theme: 'system', saved_filters: [{ name: 'crit', page: 'findings', query: 'severity=critical' }] }));
    }
    if (u.startsWith('/api/v1/findings/bulk')) return new Response('{"matched":1,"updated":1}');
    return new Response(JSON.stringify({ items: [finding], total: 1, page: 1, page_size: 50 }));
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]}>
        <Findings />
        <Where />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<Findings>', () => {
  it('reads its filters from the URL and sends only documented ones', async () => {
    const calls = setup('/findings?severity=critical&tag=x&from=now-1h&to=now');
    await screen.findByText('Public storage bucket');
    const list = calls.find((c) => c.startsWith('GET /api/v1/findings?'))!;
    expect(list).toContain('severity=critical');
    expect(list).not.toContain('tag=');
    // The tag filter is hidden: this server does not document it.
    expect(screen.queryByLabelText('Tag')).toBeNull();
    expect(screen.getByRole('button', { name: 'critical' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('writes filter changes to the URL', async () => {
    setup('/findings?from=now-1h&to=now&page=2');
    await screen.findByText('Public storage bucket');
    fireEvent.click(screen.getByRole('button', { name: 'acknowledged' }));
    const search = new URLSearchParams(screen.getByTestId('where').textContent!);
    expect(search.get('status')).toBe('acknowledged');
    expect(search.get('from')).toBe('now-1h');
    expect(search.has('page')).toBe(false);
  });

  it('bulk-updates the selected findings', async () => {
    const calls = setup('/findings');
    await screen.findByText('Public storage bucket');
    fireEvent.click(await screen.findByLabelText('Select finding 7'));
    fireEvent.change(screen.getByLabelText('New status'), { target: { value: 'resolved' } });
    fireEvent.change(screen.getByLabelText('Close reason'), { target: { value: 'benign' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply status' }));
    await waitFor(() => expect(calls.some((c) => c.startsWith('POST /api/v1/findings/bulk'))).toBe(true));
    const bulk = calls.find((c) => c.startsWith('POST /api/v1/findings/bulk'))!;
    expect(JSON.parse(bulk.slice(bulk.indexOf('{')))).toEqual({ ids: [7], set: { status: 'resolved', close_reason: 'benign' } });
  });

  it('shows a viewer no selection and no bulk actions', async () => {
    setup('/findings', VIEWER);
    await screen.findByText('Public storage bucket');
    // Wait for the principal, then check nothing to triage is offered.
    await screen.findByRole('button', { name: 'Save filter' });
    expect(screen.queryByLabelText('Select finding 7')).toBeNull();
    expect(screen.queryByLabelText('Select every finding on this page')).toBeNull();
    expect(screen.queryByTestId('bulk-bar')).toBeNull();
  });

  it('applies a saved filter, keeping the time range', async () => {
    setup('/findings?from=now-6h&to=now&status=open');
    await screen.findByText('Public storage bucket');
    fireEvent.change(await screen.findByTestId('saved-filters'), { target: { value: 'crit' } });
    const search = new URLSearchParams(screen.getByTestId('where').textContent!);
    expect(search.get('severity')).toBe('critical');
    expect(search.has('status')).toBe(false);
    expect(search.get('from')).toBe('now-6h');
  });
});
