import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import Compliance from './Compliance';
import ComplianceControl from './ComplianceControl';
import { findingFixture } from '../test-fixtures';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const FRAMEWORKS = {
  items: [
    { id: 'soc2', title: 'SOC 2 (Trust Services Criteria)', controls: 3, failing: 1, passing: 1, not_monitored: 1 },
    { id: 'iso27001', title: 'ISO/IEC 27001:2022 Annex A', controls: 1, failing: 0, passing: 1, not_monitored: 0 },
  ],
};

const control = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  key: `soc2:${id}`,
  framework: 'soc2',
  id,
  title: `Control ${id}`,
  status,
  open_by_severity: {},
  open: 0,
  last_evidence: null,
  monitored: ['identity.public_bucket'],
  mapped: [{ rule: 'identity.public_bucket', reason: 'public buckets expose data', origin: 'compliance/bundled.yml' }],
  ...extra,
});

const CONTROLS = {
  framework: 'soc2',
  items: [
    control('CC6.1', 'failing', { open_by_severity: { critical: 1, high: 2 }, open: 3, last_evidence: '2026-01-01T10:00:00Z' }),
    control('CC6.2', 'passing', { last_evidence: '2026-01-01T09:00:00Z' }),
    control('A1.1', 'not_monitored', { monitored: [], mapped: [{ rule: 'anomaly.cpu_sustained', reason: 'capacity', origin: 'tag' }] }),
  ],
};

const ISO_CONTROLS = {
  framework: 'iso27001',
  items: [{ ...control('A.5.15', 'passing'), key: 'iso27001:A.5.15', framework: 'iso27001' }],
};

const FINDING = findingFixture({ id: 41, last_seen: '2026-01-01T10:00:00Z', risk_score: 97 });

const ANALYST = ['events_read', 'findings_read', 'findings_write', 'rules_read', 'pipelines_read'];

function Where() {
  const loc = useLocation();
  return <output data-testid="where">{`${loc.pathname}${loc.search}`}</output>;
}

function setup(url: string, permissions = ANALYST) {
  const calls: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const u = String(input);
    calls.push(u);
    if (u === '/api/v1/auth/me') return json({ principal: 'user', id: 2, name: 'ana', role: 'analyst', scopes: null, permissions, auth_enabled: true });
    if (u.startsWith('/api/v1/compliance/frameworks')) return json(FRAMEWORKS);
    if (u.startsWith('/api/v1/compliance/controls?')) return json(u.includes('framework=iso27001') ? ISO_CONTROLS : CONTROLS);
    if (u.startsWith('/api/v1/compliance/controls/')) {
      return json({ control: CONTROLS.items[0], findings: [FINDING, { ...FINDING, id: 42, severity: 'high', status: 'acknowledged', user: 'trent' }] });
    }
    if (u.startsWith('/api/v1/rules')) return json({ items: [{ rule_id: 'identity.public_bucket', title: 'Public storage bucket' }], total: 1 });
    return json({ error: { code: 'route_not_found', message: `no route ${u}` } }, 404);
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route path="/compliance" element={<Compliance />} />
          <Route path="/compliance/:framework/:control" element={<ComplianceControl />} />
          <Route path="/findings/:id" element={<p>finding page</p>} />
        </Routes>
        <Where />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

const where = () => screen.getByTestId('where').textContent ?? '';

afterEach(() => vi.restoreAllMocks());

describe('<Compliance>', () => {
  it('shows each control as a tile coloured by its status, with the counts', async () => {
    const calls = setup('/compliance');
    const grid = await screen.findByTestId('control-grid');
    // The first framework is shown when the URL names none.
    expect(calls.some((c) => c === '/api/v1/compliance/controls?framework=soc2')).toBe(true);
    const tiles = within(grid).getAllByRole('link');
    expect(tiles.map((t) => t.getAttribute('data-status'))).toEqual(['failing', 'passing', 'not_monitored']);
    expect(screen.getByTestId('compliance-summary').textContent).toBe('1 failing1 passing1 not monitored');
    const failing = tiles[0]!;
    expect(failing.getAttribute('href')).toBe('/compliance/soc2/CC6.1');
    expect(within(failing).getByText('CC6.1')).toBeTruthy();
    expect(within(failing).getByText('Failing')).toBeTruthy();
    expect(within(failing).getByText('1 critical')).toBeTruthy();
    expect(within(failing).getByText('2 high')).toBeTruthy();
    expect(within(failing).getByText(/^Last evidence/)).toBeTruthy();
    expect(within(tiles[2]!).getByText(/No evidence yet/)).toBeTruthy();
    expect(within(tiles[2]!).getByText('Not monitored')).toBeTruthy();
    // The framework tabs: the current one marked, failing counts shown.
    const tabs = screen.getByRole('navigation', { name: 'Frameworks' });
    expect(within(tabs).getByRole('link', { name: /SOC 2/ }).getAttribute('aria-current')).toBe('page');
  });

  it('keeps the framework and the status filter in the URL', async () => {
    setup('/compliance?framework=soc2');
    await screen.findByTestId('control-grid');
    fireEvent.click(screen.getByRole('button', { name: /^Failing/ }));
    expect(new URLSearchParams(where().split('?')[1]).get('status')).toBe('failing');
    const grid = screen.getByTestId('control-grid');
    expect(within(grid).getAllByRole('link').map((t) => t.getAttribute('data-control'))).toEqual(['soc2:CC6.1']);
    fireEvent.click(screen.getByRole('link', { name: /ISO 27001/ }));
    const search = new URLSearchParams(where().split('?')[1]);
    expect(search.get('framework')).toBe('iso27001');
    await screen.findByText('No failing controls in this framework.');
  });

  it('builds the export link from the chosen period, format and control', async () => {
    setup('/compliance?framework=soc2');
    await screen.findByTestId('control-grid');
    const form = screen.getByRole('form', { name: 'Export evidence' });
    // Default: JSON, every control, the last 30 days.
    let href = new URL(within(form).getByTestId('export-link').getAttribute('href')!, 'http://x');
    expect(href.pathname).toBe('/api/v1/compliance/export');
    expect(href.searchParams.get('framework')).toBe('soc2');
    expect(href.searchParams.get('format')).toBe('json');
    expect(href.searchParams.has('control')).toBe(false);
    const span = Date.parse(href.searchParams.get('to')!) - Date.parse(href.searchParams.get('from')!);
    expect(Math.round(span / 86_400_000)).toBe(30);
    // Up to now: the findings of the last minute are in.
    expect(Date.parse(href.searchParams.get('to')!)).toBeGreaterThan(Date.now());
    expect(within(form).getByRole('button', { name: 'Last 30 days' }).getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(within(form).getByRole('button', { name: 'Last 7 days' }));
    href = new URL(within(form).getByTestId('export-link').getAttribute('href')!, 'http://x');
    expect(Math.round((Date.parse(href.searchParams.get('to')!) - Date.parse(href.searchParams.get('from')!)) / 86_400_000)).toBe(7);

    fireEvent.change(within(form).getByLabelText('From'), { target: { value: '2026-01-01T00:00' } });
    fireEvent.change(within(form).getByLabelText('To'), { target: { value: '2026-02-01T00:00' } });
    fireEvent.change(within(form).getByLabelText('Format'), { target: { value: 'csv' } });
    fireEvent.change(within(form).getByLabelText('Control'), { target: { value: 'soc2:CC6.2' } });
    href = new URL(within(form).getByTestId('export-link').getAttribute('href')!, 'http://x');
    expect(href.searchParams.get('from')).toBe(new Date('2026-01-01T00:00').toISOString());
    expect(href.searchParams.get('to')).toBe(new Date('2026-02-01T00:00').toISOString());
    expect(href.searchParams.get('format')).toBe('csv');
    expect(href.searchParams.get('control')).toBe('soc2:CC6.2');

    // A period that ends before it starts offers no link.
    fireEvent.change(within(form).getByLabelText('To'), { target: { value: '2025-12-01T00:00' } });
    expect(within(form).queryByTestId('export-link')).toBeNull();
    expect(within(form).getByText('“From” must be before “To”.')).toBeTruthy();
  });

  it('shows the server error when the frameworks cannot be read', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const u = String(input);
      if (u === '/api/v1/auth/me') return json({ principal: 'user', id: 2, name: 'ana', role: 'analyst', scopes: null, permissions: ANALYST, auth_enabled: true });
      return json({ error: { code: 'internal', message: 'compliance mapping file /etc/x.yml cannot be read' } }, 500);
    });
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={qc}>
        <MemoryRouter initialEntries={['/compliance']}>
          <Compliance />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const error = await screen.findByText('compliance mapping file /etc/x.yml cannot be read');
    expect(error.closest('[role="alert"]')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Retry' })).toBeTruthy();
  });
});

describe('<ComplianceControl>', () => {
  it('lists the control, its rules and its findings, each linking to the finding', async () => {
    const calls = setup('/compliance/soc2/CC6.1');
    const table = await screen.findByTestId('control-findings');
    expect(calls).toContain('/api/v1/compliance/controls/soc2%3ACC6.1');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.getAttribute('data-finding-id'))).toEqual(['41', '42']);
    expect(within(rows[0]!).getByText('critical')).toBeTruthy();
    expect(within(rows[0]!).getByText('open')).toBeTruthy();
    expect(within(rows[0]!).getByText('97')).toBeTruthy();
    expect(within(rows[1]!).getByText('acknowledged')).toBeTruthy();
    expect(within(rows[0]!).getByRole('link', { name: 'Public storage bucket' }).getAttribute('href')).toBe('/findings/41');
    // Its status, its rules by name with the reason.
    expect(screen.getByRole('heading', { name: /CC6.1/ })).toBeTruthy();
    expect(screen.getAllByTestId('control-status')[0]!.textContent).toBe('Failing');
    const rules = screen.getByTestId('control-rules');
    expect(within(rules).getByText('Public storage bucket')).toBeTruthy();
    expect(within(rules).getByText('public buckets expose data')).toBeTruthy();
    // Back to the framework's grid.
    expect(screen.getByRole('link', { name: /SOC 2 controls/ }).getAttribute('href')).toBe('/compliance?framework=soc2');
    // The export is preset to this control.
    const form = await screen.findByRole('form', { name: 'Export evidence' });
    const href = new URL(within(form).getByTestId('export-link').getAttribute('href')!, 'http://x');
    expect(href.searchParams.get('control')).toBe('soc2:CC6.1');
    // A row opens the finding.
    fireEvent.click(rows[1]!);
    expect(where()).toBe('/findings/42');
  });
});
