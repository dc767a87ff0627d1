import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import Findings from './Findings';
import { findingFixture } from '../test-fixtures';

vi.mock('../live/socket', () => ({ useLiveEvent: () => {}, useRoom: () => {} }));

const spec = {
  paths: {
    '/api/v1/findings': {
      get: { parameters: ['severity', 'status', 'user', 'q', 'risk_min', 'risk_max', 'enriched_by', 'from', 'to', 'sort', 'order', 'page', 'page_size', 'format'].map((name) => ({ name, in: 'query' })) },
    },
    '/api/v1/findings/bulk': { post: {} },
    '/api/v1/findings/enrich': { post: {} },
    '/api/v1/findings/groups': { get: { parameters: [{ name: 'by', in: 'query' }] } },
  },
};

const finding = findingFixture();

function Where() {
  return <output data-testid="where">{useLocation().search}</output>;
}

const ANALYST = ['preferences', 'events_read', 'findings_read', 'findings_write', 'rules_read', 'iam_read', 'iam_audit', 'pipelines_read'];
const VIEWER = ['preferences', 'events_read', 'findings_read', 'rules_read', 'iam_read', 'pipelines_read'];

/** What POST /api/v1/findings/enrich answers in a test. */
let enrichAnswer: () => Response = () => new Response('{"items":[]}');

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
    if (u.startsWith('/api/v1/findings/enrich')) return enrichAnswer();
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
    // The outcome stays once the selection is cleared.
    expect((await screen.findByTestId('bulk-outcome')).textContent).toContain('Updated 1 of 1 findings.');
  });

  it('writes the risk range and the scorer to the URL and the query', async () => {
    const calls = setup('/findings?from=now-1h&to=now&page=3');
    await screen.findByText('Public storage bucket');
    fireEvent.change(screen.getByLabelText('Lowest risk score'), { target: { value: '40' } });
    fireEvent.keyDown(screen.getByLabelText('Lowest risk score'), { key: 'Enter' });
    // Out of range: clamped to 100.
    fireEvent.change(screen.getByLabelText('Highest risk score'), { target: { value: '150' } });
    fireEvent.keyDown(screen.getByLabelText('Highest risk score'), { key: 'Enter' });
    fireEvent.change(screen.getByLabelText('Scored by'), { target: { value: 'gpt-4o-mini' } });
    fireEvent.keyDown(screen.getByLabelText('Scored by'), { key: 'Enter' });
    const search = new URLSearchParams(screen.getByTestId('where').textContent!);
    expect(search.get('risk_min')).toBe('40');
    expect(search.get('risk_max')).toBe('100');
    expect(search.get('enriched_by')).toBe('gpt-4o-mini');
    expect(search.get('from')).toBe('now-1h');
    expect(search.has('page')).toBe(false);
    await waitFor(() => expect(calls.some((c) => c.includes('enriched_by=gpt-4o-mini'))).toBe(true));
    const list = new URL(calls.filter((c) => c.startsWith('GET /api/v1/findings?')).pop()!.split(' ')[1]!, 'http://x');
    expect(list.searchParams.get('risk_min')).toBe('40');
    expect(list.searchParams.get('risk_max')).toBe('100');
    expect(list.searchParams.get('enriched_by')).toBe('gpt-4o-mini');
    // The scorers seen are offered.
    const options = [...document.querySelectorAll('#finding-scorers option')].map((o) => o.getAttribute('value'));
    expect(options).toEqual(['gpt-4o-mini', 'heuristic']);
  });

  it('reads the risk range from the URL and sorts by when it was scored', async () => {
    const calls = setup('/findings?risk_min=80&enriched_by=heuristic');
    await screen.findByText('Public storage bucket');
    expect((screen.getByLabelText('Lowest risk score') as HTMLInputElement).value).toBe('80');
    expect(calls.find((c) => c.startsWith('GET /api/v1/findings?'))).toContain('risk_min=80');
    fireEvent.click(screen.getByRole('button', { name: 'Sort by Scored' }));
    const search = new URLSearchParams(screen.getByTestId('where').textContent!);
    expect(search.get('sort')).toBe('enriched_at');
    expect(search.get('order')).toBe('desc');
    await waitFor(() => expect(calls.some((c) => c.includes('sort=enriched_at'))).toBe(true));
    expect(screen.getByTestId('scored-by').textContent).toBe('heuristic');
  });

  it('enriches the selected findings and says what the model did', async () => {
    enrichAnswer = () =>
      new Response(
        JSON.stringify({
          items: [
            { id: 7, found: true, enrichment: { enriched_by: 'gpt-4o-mini', risk_score: 37, fallback_reason: null } },
            { id: 8, found: false, enrichment: null },
          ],
        }),
      );
    const calls = setup('/findings');
    await screen.findByText('Public storage bucket');
    fireEvent.click(await screen.findByLabelText('Select finding 7'));
    fireEvent.click(screen.getByRole('button', { name: 'Enrich' }));
    await waitFor(() => expect(calls.some((c) => c.startsWith('POST /api/v1/findings/enrich'))).toBe(true));
    const post = calls.find((c) => c.startsWith('POST /api/v1/findings/enrich'))!;
    expect(JSON.parse(post.slice(post.indexOf('{')))).toEqual({ ids: [7] });
    expect((await screen.findByText(/^Enriched 1 finding/)).textContent).toBe('Enriched 1 finding: 1 scored by gpt-4o-mini, 1 not found.');
  });

  it('shows the server message when enrichment is off (409)', async () => {
    enrichAnswer = () =>
      new Response(JSON.stringify({ error: { code: 'conflict', message: 'enrichment is not configured ([enrichment] base_url)' } }), {
        status: 409,
      });
    setup('/findings');
    await screen.findByText('Public storage bucket');
    fireEvent.click(await screen.findByLabelText('Select finding 7'));
    fireEvent.click(screen.getByRole('button', { name: 'Enrich' }));
    const error = await screen.findByTestId('enrich-error');
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe('enrichment is not configured ([enrichment] base_url)');
    // The selection stays, so the user can act on it otherwise.
    expect((screen.getByLabelText('Select finding 7') as HTMLInputElement).checked).toBe(true);
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
