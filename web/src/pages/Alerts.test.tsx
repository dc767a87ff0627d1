import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import Alerts from './Alerts';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const ANALYST = ['events_read', 'findings_read', 'findings_write', 'pipelines_read'];
const VIEWER = ['events_read', 'findings_read', 'pipelines_read'];

const DISCORD_BODY = {
  username: 'Vigilo',
  embeds: [
    {
      title: '[FIRING] Public storage bucket',
      description: '2 findings for storage',
      color: 9313115,
      fields: [
        { name: 'Severity', value: 'critical', inline: true },
        { name: 'Risk', value: '100', inline: true },
      ],
      url: 'https://vigilo.example.com/findings/7',
    },
  ],
};

const FAILED = {
  id: 11,
  receiver: 'discord-ops',
  route: 'ops',
  group_key: 'rule_id=identity.public_bucket,service=storage',
  kind: 'firing',
  finding_ids: [7, 8],
  status: 'failed',
  attempts: 6,
  last_error: 'HTTP 500 from discord.com',
  created_at: '2026-01-01T10:00:00Z',
  sent_at: null,
  title: '[FIRING] Public storage bucket',
  body: DISCORD_BODY,
  silence_id: null,
};

const TEST_SENT = {
  ...FAILED,
  id: 12,
  receiver: 'hook',
  route: '',
  group_key: '',
  kind: 'test',
  finding_ids: [],
  status: 'sent',
  attempts: 1,
  last_error: null,
  sent_at: '2026-01-01T10:00:01Z',
  title: 'Vigilo test',
  body: { version: 1, kind: 'test', title: 'Vigilo test', text: 'hello' },
};

const RECEIVERS = [
  { name: 'discord-ops', type: 'discord', url: 'https://discord.com/…', signed: false, max_retries: 5, timeout: '10s', routes: ['ops'] },
  { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9000/…', signed: true, max_retries: 3, timeout: '5s', routes: [] },
];

const ROUTES = [
  {
    name: 'ops',
    min_severity: 'high',
    rules: ['identity.*'],
    services: [],
    tags: [],
    receivers: ['discord-ops'],
    continue: false,
    group_wait: '30s',
    group_interval: '5m',
    repeat_interval: '4h',
    group_by: ['rule_id', 'service'],
  },
];

function silence(id: number, state: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    matchers: [{ field: 'rule_id', value: 'identity.public_bucket', glob: false }],
    starts_at: '2026-01-01T10:00:00Z',
    ends_at: '2026-01-01T12:00:00Z',
    created_by: 'ana',
    comment: 'maintenance',
    created_at: '2026-01-01T10:00:00Z',
    expired_at: null as string | null,
    state,
    start_announced: true,
    end_announced: false,
    ...extra,
  };
}

function Where() {
  const l = useLocation();
  return <output data-testid="where">{`${l.pathname}${l.search}`}</output>;
}

function setup(url: string, permissions = ANALYST, opts: { testFails?: boolean } = {}) {
  const calls: string[] = [];
  let silences = [silence(1, 'active'), silence(2, 'expired', { comment: 'old' })];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const u = String(input);
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${u} ${init?.body ?? ''}`.trim());
    if (u === '/api/v1/auth/me') {
      return json({ principal: 'api_key', id: 2, name: 'ana', role: null, scopes: ['read'], permissions, auth_enabled: true });
    }
    if (u.startsWith('/api/v1/alerts/notifications')) {
      const q = new URL(u, 'http://x').searchParams;
      const items = [FAILED, TEST_SENT].filter((n) => !q.get('status') || n.status === q.get('status'));
      return json({ items, total: items.length, page: 1, page_size: 50 });
    }
    if (u === '/api/v1/alerts/receivers') return json(RECEIVERS);
    if (u === '/api/v1/alerts/routes') return json(ROUTES);
    if (u.startsWith('/api/v1/alerts/receivers/') && method === 'POST') {
      if (opts.testFails) return json({ ...TEST_SENT, status: 'failed', sent_at: null, last_error: 'connection refused' });
      return json(TEST_SENT);
    }
    if (u === '/api/v1/alerts/silences' && method === 'POST') {
      const b = JSON.parse(String(init?.body)) as { matchers: unknown[]; comment: string };
      const s = silence(3, 'active', { matchers: b.matchers, comment: b.comment });
      silences = [s, ...silences];
      return json(s, 201);
    }
    if (u === '/api/v1/alerts/silences') return json(silences);
    if (u.startsWith('/api/v1/alerts/silences/') && method === 'DELETE') {
      const id = Number(u.split('/').pop());
      silences = silences.map((s) => (s.id === id ? { ...s, state: 'expired', expired_at: '2026-01-01T11:00:00Z' } : s));
      return json(silences.find((s) => s.id === id));
    }
    return json({ error: { code: 'not_found', message: 'no' } }, 404);
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route path="/alerts" element={<Alerts />} />
          <Route path="/alerts/:tab" element={<Alerts />} />
        </Routes>
        <Where />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<Alerts> notifications', () => {
  it('lists notifications with outcome, tries and error, and opens the rendered message', async () => {
    setup('/alerts');
    const row = (await screen.findByText('HTTP 500 from discord.com')).closest('tr')!;
    expect(row.getAttribute('data-status')).toBe('failed');
    expect(within(row).getByText('6 tries')).toBeTruthy();
    expect(within(row).getByText('discord-ops')).toBeTruthy();
    expect(within(row).getByRole('link', { name: '#7' }).getAttribute('href')).toBe('/findings/7');
    expect(within(row).getByRole('link', { name: '#8' })).toBeTruthy();
    expect(screen.queryByTestId('notification-body')).toBeNull();

    fireEvent.click(within(row).getByRole('button', { name: 'Show message of notification 11' }));
    const body = await screen.findByTestId('notification-body');
    // The Discord embed, read back as the message people saw.
    expect(within(body).getByText('[FIRING] Public storage bucket')).toBeTruthy();
    expect(within(body).getByText('2 findings for storage')).toBeTruthy();
    expect(within(body).getByText('Risk')).toBeTruthy();
    expect(within(body).getByText('https://vigilo.example.com/findings/7')).toBeTruthy();
  });

  it('filters go to the URL and the API query', async () => {
    const calls = setup('/alerts');
    await screen.findByText('HTTP 500 from discord.com');
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'sent' } });
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/alerts?status=sent'));
    await waitFor(() => expect(calls.some((c) => c.startsWith('GET /api/v1/alerts/notifications?status=sent&page=1'))).toBe(true));
    await waitFor(() => expect(screen.queryByText('HTTP 500 from discord.com')).toBeNull());
    // A receiver cell filters by that receiver.
    fireEvent.click(screen.getByRole('button', { name: 'hook' }));
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/alerts?status=sent&receiver=hook'));
    await waitFor(() => expect(calls.some((c) => c.includes('receiver=hook'))).toBe(true));
  });
});

describe('<Alerts> receivers and routes', () => {
  it('sends a test and shows the outcome', async () => {
    const calls = setup('/alerts/receivers');
    const row = (await screen.findByText('http://127.0.0.1:9000/…')).closest('tr')!;
    expect(within(row).getByText('HMAC-SHA256')).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Send test to hook' }));
    const outcome = await screen.findByTestId('test-outcome-hook');
    expect(within(outcome).getByText('sent')).toBeTruthy();
    expect(calls).toContain('POST /api/v1/alerts/receivers/hook/test');
    // The routes table shows the conditions in words.
    const route = screen.getByTestId('routes-table').querySelector('tr[data-route="ops"]') as HTMLElement;
    expect(within(route).getByText('high')).toBeTruthy();
    expect(within(route).getByText('identity.*')).toBeTruthy();
    expect(within(route).getByText('30s / 5m / 4h')).toBeTruthy();
  });

  it('shows a failed test with its error', async () => {
    setup('/alerts/receivers', ANALYST, { testFails: true });
    fireEvent.click(await screen.findByRole('button', { name: 'Send test to hook' }));
    const outcome = await screen.findByTestId('test-outcome-hook');
    expect(within(outcome).getByText('failed')).toBeTruthy();
    expect(within(outcome).getByText('connection refused')).toBeTruthy();
  });

  it('a viewer sees receivers but cannot send tests', async () => {
    setup('/alerts/receivers', VIEWER);
    await screen.findByText('http://127.0.0.1:9000/…');
    expect(screen.queryByRole('button', { name: /Send test/ })).toBeNull();
  });
});

describe('<Alerts> silences', () => {
  it('creates a silence from the form with matchers, a duration and a comment', async () => {
    const calls = setup('/alerts/silences');
    await screen.findByTestId('silences-table');
    fireEvent.click(screen.getByRole('button', { name: 'New silence' }));
    const form = screen.getByRole('form', { name: 'New silence' });
    fireEvent.change(within(form).getByLabelText('Value 1'), { target: { value: 'identity.public_bucket' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add matcher' }));
    fireEvent.change(within(form).getByLabelText('Field 2'), { target: { value: 'service' } });
    fireEvent.change(within(form).getByLabelText('Operator 2'), { target: { value: 'glob' } });
    fireEvent.change(within(form).getByLabelText('Value 2'), { target: { value: 'stor*' } });
    fireEvent.change(within(form).getByLabelText('Duration'), { target: { value: '4h' } });
    fireEvent.change(within(form).getByLabelText('Comment'), { target: { value: 'deploy window' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create silence' }));
    await waitFor(() => expect(calls.some((c) => c.startsWith('POST /api/v1/alerts/silences'))).toBe(true));
    const post = calls.find((c) => c.startsWith('POST /api/v1/alerts/silences'))!;
    expect(JSON.parse(post.slice(post.indexOf('{')))).toEqual({
      matchers: [
        { field: 'rule_id', value: 'identity.public_bucket', glob: false },
        { field: 'service', value: 'stor*', glob: true },
      ],
      comment: 'deploy window',
      duration: '4h',
    });
    // The dialog closes and the new silence is listed.
    await waitFor(() => expect(screen.queryByRole('form', { name: 'New silence' })).toBeNull());
    await screen.findByText('deploy window');
  });

  it('refuses a draft without a value or with a bad duration, before asking the server', async () => {
    const calls = setup('/alerts/silences?new=1');
    const form = await screen.findByRole('form', { name: 'New silence' });
    fireEvent.click(within(form).getByRole('button', { name: 'Create silence' }));
    expect(within(form).getByRole('alert').textContent).toContain('at least one matcher');
    fireEvent.change(within(form).getByLabelText('Value 1'), { target: { value: 'x' } });
    fireEvent.change(within(form).getByLabelText('Duration'), { target: { value: 'soon' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create silence' }));
    expect(within(form).getByRole('alert').textContent).toContain('like 2h');
    expect(calls.some((c) => c.startsWith('POST'))).toBe(false);
  });

  it('opens prefilled from a finding’s link', async () => {
    setup('/alerts/silences?new=1&rule_id=identity.public_bucket&service=storage&comment=muted%20from%20finding%20%237');
    const form = await screen.findByRole('form', { name: 'New silence' });
    expect((within(form).getByLabelText('Value 1') as HTMLInputElement).value).toBe('identity.public_bucket');
    expect((within(form).getByLabelText('Field 2') as HTMLSelectElement).value).toBe('service');
    expect((within(form).getByLabelText('Value 2') as HTMLInputElement).value).toBe('storage');
    expect((within(form).getByLabelText('Comment') as HTMLTextAreaElement).value).toBe('muted from finding #7');
  });

  it('expires a silence after confirmation', async () => {
    const calls = setup('/alerts/silences');
    const table = await screen.findByTestId('silences-table');
    const active = table.querySelector('tr[data-silence-id="1"]') as HTMLElement;
    expect(active.getAttribute('data-state')).toBe('active');
    // Only silences still running can be expired.
    expect(table.querySelector('tr[data-silence-id="2"] button')).toBeNull();
    fireEvent.click(within(active).getByRole('button', { name: 'Expire silence 1' }));
    expect(calls.some((c) => c.startsWith('DELETE'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Expire now' }));
    await waitFor(() => expect(calls).toContain('DELETE /api/v1/alerts/silences/1'));
    await waitFor(() => expect(table.querySelector('tr[data-silence-id="1"]')?.getAttribute('data-state')).toBe('expired'));
    // The state filter: expired shows both now.
    fireEvent.click(screen.getByRole('button', { name: 'Expired 2' }));
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/alerts/silences?state=expired'));
  });

  it('a viewer sees silences without the create and expire actions', async () => {
    setup('/alerts/silences?new=1', VIEWER);
    await screen.findByTestId('silences-table');
    expect(screen.queryByRole('button', { name: 'New silence' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Expire silence/ })).toBeNull();
    expect(screen.queryByRole('form', { name: 'New silence' })).toBeNull();
  });
});

describe('<Alerts> access', () => {
  it('is closed to those without findings_read', async () => {
    setup('/alerts', ['events_read']);
    await screen.findByText('You do not have access to this page.');
  });
});
