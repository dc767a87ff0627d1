import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { DeadLetters, fmtBytes } from './DeadLetters';

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } });

const LONG = `{"kind": "log", "message": "${'x'.repeat(300)}`;
const KAFKA = {
  id: 4,
  source: 'kafka',
  location: 'logs/0@42',
  reason: 'not JSON: EOF while parsing a string at line 1 column 320',
  raw_base64: btoa(LONG),
  preview: LONG,
  size: 4096,
  meta: { key: 'k1', headers: { trace: 'abc' } },
  received_at: '2026-01-01T10:00:00Z',
};
const AMQP = { ...KAFKA, id: 5, source: 'amqp', location: 'rule.ingestion', reason: 'no event fields', size: 12, preview: '{"hello": 1}', meta: {} };

function setup(empty = false) {
  const calls: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const u = String(input);
    calls.push(u);
    const source = new URL(u, 'http://x').searchParams.get('source');
    const all = empty ? [] : [KAFKA, AMQP];
    const items = all.filter((d) => !source || d.source === source);
    return json({ items, total: items.length, page: 1, page_size: 20, counts: empty ? {} : { amqp: 1, kafka: 1 } });
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <DeadLetters />
    </QueryClientProvider>,
  );
  return calls;
}

afterEach(() => vi.restoreAllMocks());

describe('<DeadLetters>', () => {
  it('shows counts per source, filters by one, and opens the full preview', async () => {
    const calls = setup();
    const counts = await screen.findByTestId('dead-letter-counts');
    await within(counts).findByRole('button', { name: 'kafka 1' });
    expect(within(counts).getByRole('button', { name: 'all 2' })).toBeTruthy();
    const table = screen.getByTestId('dead-letters-table');
    expect(table.querySelectorAll('tbody tr').length).toBe(2);
    expect(within(table).getByText('logs/0@42')).toBeTruthy();
    expect(within(table).getByText('4.0 KiB')).toBeTruthy();

    fireEvent.click(within(counts).getByRole('button', { name: 'kafka 1' }));
    await waitFor(() => expect(calls.some((c) => c.includes('source=kafka'))).toBe(true));
    await waitFor(() => expect(screen.getByTestId('dead-letters-table').querySelectorAll('tbody tr').length).toBe(1));

    fireEvent.click(screen.getByRole('button', { name: 'Show dead letter 4' }));
    const detail = screen.getByTestId('dead-letter-detail');
    expect(detail.querySelector('pre.preview-text')?.textContent).toBe(LONG);
    expect(within(detail).getByText(/first 3\d\d characters of 4\.0 KiB/)).toBeTruthy();
    expect(within(detail).getByText(/"trace"/)).toBeTruthy();
    const download = within(detail).getByRole('link', { name: 'Download the raw bytes' });
    expect(download.getAttribute('href')).toBe(`data:application/octet-stream;base64,${KAFKA.raw_base64}`);
  });

  it('says so when there are none', async () => {
    const calls = setup(true);
    await screen.findByText(/No dead letters\./);
    expect(calls[0]).toBe('/api/v1/dead-letters?page=1&page_size=20');
  });

  it('formats sizes', () => {
    expect(fmtBytes(12)).toBe('12 B');
    expect(fmtBytes(1536)).toBe('1.5 KiB');
    expect(fmtBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
  });
});
