// End-to-end: risk enrichment through a local chat-completions server, the
// findings list's enrichment controls, and the Compliance page, in Debian's
// Chromium against a real Vigilo server fed by `vigilo generate`. Saves
// docs/screenshots/compliance*.png and findings-enrich.png (1440x900, the
// compliance grid at a phone's width and in dark too).
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { launch } from './browser';
import { WEB_ROOT, startGenerator, startServer, type Running } from './server';
import { startModel, type ModelServer } from './model';

const SHOTS = resolve(WEB_ROOT, '../docs/screenshots');
const MODEL = 'e2e-model';
const WIDE = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

let srv: Running;
let model: ModelServer;
let gen: ReturnType<typeof startGenerator>;
let context: BrowserContext;
let closeBrowser: () => Promise<void>;
let page: Page;
const runId = Date.now().toString(36);

const keyHeader = (): Record<string, string> => (srv.auth ? { Authorization: `Bearer ${srv.auth.apiKey}` } : {});

async function api<T = unknown>(path: string, init?: { method?: string; body?: unknown }): Promise<T> {
  const res = await fetch(`${srv.apiUrl}${path}`, {
    method: init?.method ?? 'GET',
    headers: { 'Content-Type': 'application/json', ...keyHeader() },
    body: init?.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function shot(name: string) {
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function setTheme(dark: boolean) {
  const isDark = await page.evaluate(() => document.documentElement.dataset.theme === 'dark');
  if (isDark === dark) return;
  await page.getByTestId('theme-toggle').click();
  await page.waitForFunction((d) => (document.documentElement.dataset.theme === 'dark') === d, dark);
}

/** A transaction above 10000: `anomaly.large_amount`, high severity, so below the automatic enrichment's `critical`. */
function largeTransaction(user: string, amount = 24_000) {
  return {
    timestamp: new Date().toISOString(),
    kind: 'transaction',
    transaction_id: `tx-${user}-${amount}`,
    user_id: user,
    amount,
    currency: 'EUR',
    status: 'ok',
  };
}

interface FindingRow {
  id: number;
  severity: string;
  risk_score: number;
  enriched_by?: string;
  rule_id: string;
}

async function findingFor(user: string, timeoutMs = 15_000): Promise<FindingRow> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const res = await api<{ items: FindingRow[] }>(`/api/v1/findings?user=${encodeURIComponent(user)}`);
    if (res.items[0]) return res.items[0];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no finding for ${user}`);
}

/** Go to `path`, signing in through the sign-in page when the app asks. */
async function open(path: string) {
  await page.goto(`${srv.appUrl}${path}`);
  await page.waitForLoadState('domcontentloaded');
  await page.locator('[data-testid="user-menu"], input[type="password"]').first().waitFor();
  if (srv.auth && new URL(page.url()).pathname === '/login') {
    await page.getByLabel('Username').fill(srv.auth.admin.username);
    await page.getByLabel('Password').fill(srv.auth.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname !== '/login');
    await page.getByTestId('user-menu').waitFor();
  }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  model = await startModel(MODEL, {
    risk_score: 37,
    explanation: 'A single large transfer to a known account; unusual amount but an expected payee.',
    recommended_actions: ['confirm the transfer with the account owner'],
    confidence: 0.8,
  });
  // New findings are enriched automatically only from `critical`: the high
  // ones this suite opens keep the heuristic score until asked.
  srv = await startServer({
    config: `
[enrichment]
base_url = "${model.baseUrl}"
model = "${MODEL}"
min_severity = "critical"
json_schema = true
timeout_ms = 10000
retries = 0
`,
  });
  gen = startGenerator(srv.apiUrl, 240, 200, srv.auth?.apiKey);
  ({ context, close: closeBrowser } = await launch());
  page = await context.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.setViewportSize(WIDE);
  // Let the generated traffic fire some rules.
  await new Promise((r) => setTimeout(r, 15_000));
});

afterAll(async () => {
  await closeBrowser?.();
  await gen?.stop();
  await srv?.stop();
  await model?.close();
});

describe('enrichment and compliance', () => {
  it('enrich a finding from its detail view and see the score change', async () => {
    const user = `e2e-enrich-${runId}`;
    await api('/api/v1/events', { method: 'POST', body: largeTransaction(user) });
    const f = await findingFor(user);
    expect(f.severity).toBe('high');
    expect(f.risk_score).not.toBe(37);
    const before = model.requests.length;

    await open(`/findings/${f.id}`);
    const why = page.locator('section.panel', { has: page.getByRole('heading', { name: 'Why it matters' }) });
    const score = why.locator('.panel-head .risk .mono');
    await score.waitFor();
    expect(await score.innerText()).toBe(String(f.risk_score));
    expect(await page.getByTestId('enriched-by').innerText()).toBe('Scored by the heuristics');

    await page.getByTestId('enrichment').getByRole('button', { name: 'Enrich' }).click();
    await page.getByTestId('enriched-by').getByText(`Scored by ${MODEL}`).waitFor({ timeout: 20_000 });
    await page.waitForFunction(
      (el) => el?.textContent === '37',
      await score.elementHandle(),
      { timeout: 10_000 },
    );
    expect(await page.getByTestId('recommended-actions').innerText()).toContain('confirm the transfer with the account owner');
    await page.getByTestId('last-enrichment').waitFor();

    // The model server got the request, about this finding, for this model.
    const got = model.requests.slice(before);
    expect(got.length).toBeGreaterThanOrEqual(1);
    const asked = got.find((r) => JSON.stringify(r.messages ?? []).includes(user));
    expect(asked, 'a chat-completions request about the finding').toBeTruthy();
    expect(asked!.model).toBe(MODEL);
    const stored = await api<FindingRow>(`/api/v1/findings/${f.id}`);
    expect(stored.risk_score).toBe(37);
    expect(stored.enriched_by).toBe(MODEL);
  });

  it('the findings list filters by risk and scorer and enriches selected rows in bulk', async () => {
    const users = [`e2e-bulk-a-${runId}`, `e2e-bulk-b-${runId}`];
    for (const u of users) await api('/api/v1/events', { method: 'POST', body: largeTransaction(u, 30_000) });
    const found = await Promise.all(users.map((u) => findingFor(u)));
    await open(`/findings?from=now-1h&to=now&q=e2e-bulk-`);
    for (const f of found) await page.locator(`tr[data-finding-id="${f.id}"]`).waitFor();
    for (const f of found) expect(await page.locator(`tr[data-finding-id="${f.id}"]`).getByTestId('scored-by').innerText()).toBe('heuristic');
    for (const f of found) await page.locator(`tr[data-finding-id="${f.id}"] input[type="checkbox"]`).check();
    await page.getByTestId('bulk-bar').getByRole('button', { name: 'Enrich' }).click();
    const outcome = page.getByTestId('bulk-outcome');
    await outcome.waitFor({ timeout: 20_000 });
    expect(await outcome.innerText()).toContain(`2 scored by ${MODEL}`);
    // The rows show the model's score and name once the list refreshes.
    for (const f of found) {
      await page.locator(`tr[data-finding-id="${f.id}"] [data-testid="scored-by"]`, { hasText: MODEL }).waitFor();
    }
    await shot('findings-enrich');

    // Now they are the model's: the scorer filter and the risk range find them.
    await page.locator('input[name="enriched_by"]').fill(MODEL);
    await page.locator('input[name="enriched_by"]').press('Enter');
    await page.locator('input[name="risk_min"]').fill('30');
    await page.locator('input[name="risk_min"]').press('Enter');
    await page.locator('input[name="risk_max"]').fill('40');
    await page.locator('input[name="risk_max"]').press('Enter');
    await page.waitForURL((u) => u.searchParams.get('enriched_by') === MODEL && u.searchParams.get('risk_max') === '40');
    expect(new URL(page.url()).searchParams.get('risk_min')).toBe('30');
    for (const f of found) {
      const row = page.locator(`tr[data-finding-id="${f.id}"]`);
      await row.waitFor();
      expect(await row.getByTestId('scored-by').innerText()).toContain(MODEL);
      expect(await row.locator('.risk .mono').innerText()).toBe('37');
    }
    // Sorted by when they were scored.
    await page.getByRole('button', { name: 'Sort by Scored' }).click();
    await page.waitForURL((u) => u.searchParams.get('sort') === 'enriched_at');
    await page.locator(`tr[data-finding-id="${found[0]!.id}"]`).waitFor();
    // A range that excludes 37 empties the list.
    await page.locator('input[name="risk_min"]').fill('38');
    await page.locator('input[name="risk_min"]').press('Enter');
    await page.getByText('No findings match these filters in this time range.').waitFor();
  });

  it('open the Compliance page and drill into a failing control', { timeout: 240_000 }, async () => {
    // Wait for the generated traffic's incidents to fail several SOC 2 controls
    // (beyond the transactions posted above).
    const end = Date.now() + 120_000;
    let soc2 = { failing: 0, passing: 0, not_monitored: 0 };
    while (Date.now() < end) {
      const list = await api<{ items: { id: string; failing: number; passing: number; not_monitored: number }[] }>(
        '/api/v1/compliance/frameworks',
      );
      soc2 = list.items.find((f) => f.id === 'soc2') ?? soc2;
      if (soc2.failing >= 3) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log(`SOC 2 controls: ${soc2.failing} failing, ${soc2.passing} passing, ${soc2.not_monitored} not monitored`);
    expect(soc2.failing).toBeGreaterThan(0);
    await open('/compliance');
    const grid = page.getByTestId('control-grid');
    await grid.waitFor();
    // Generated traffic has opened findings: some control fails (the grid refreshes every 30 s).
    const failing = grid.locator('a.control-tile[data-status="failing"]');
    await failing.first().waitFor({ timeout: 45_000 });
    const summary = await page.getByTestId('compliance-summary').innerText();
    expect(summary).toMatch(/[1-9]\d* failing/);
    expect(await failing.first().locator('.sev').count()).toBeGreaterThan(0);
    await shot('compliance');
    await setTheme(true);
    await shot('compliance-dark');
    await setTheme(false);
    await page.setViewportSize(PHONE);
    await shot('compliance-phone');
    await page.setViewportSize(WIDE);

    // The status filter is kept in the URL.
    await page.getByRole('group', { name: 'Status' }).getByRole('button', { name: /^Failing/ }).click();
    await page.waitForURL((u) => u.searchParams.get('status') === 'failing');
    expect(await grid.locator('a.control-tile:not([data-status="failing"])').count()).toBe(0);

    // Keyboard: the tiles are links in the tab order.
    const tile = failing.first();
    const key = await tile.getAttribute('data-control');
    await tile.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname.startsWith('/compliance/'));
    const [framework, control] = key!.split(':');
    expect(decodeURIComponent(new URL(page.url()).pathname)).toBe(`/compliance/${framework}/${control}`);
    const findings = page.getByTestId('control-findings');
    await findings.locator('tbody tr').first().waitFor();
    expect(await page.getByTestId('control-status').first().innerText()).toBe('Failing');
    expect(await page.getByTestId('control-rules').locator('li').count()).toBeGreaterThan(0);
    await shot('compliance-control');
    await setTheme(true);
    await shot('compliance-control-dark');
    await setTheme(false);

    // The export: preset to this control; the chosen format answers 200 with the session cookie.
    const form = page.getByRole('form', { name: 'Export evidence' });
    expect(await form.getByLabel('Control', { exact: true }).inputValue()).toBe(key);
    for (const [format, type] of [
      ['csv', 'text/csv'],
      ['html', 'text/html'],
      ['json', 'application/json'],
    ] as const) {
      await form.getByLabel('Format', { exact: true }).selectOption(format);
      const href = await form.getByTestId('export-link').getAttribute('href');
      const url = new URL(href!, srv.appUrl);
      expect(url.searchParams.get('format')).toBe(format);
      expect(url.searchParams.get('control')).toBe(key);
      const span = Date.parse(url.searchParams.get('to')!) - Date.parse(url.searchParams.get('from')!);
      expect(Math.round(span / 86_400_000)).toBe(30);
      const answer = await page.evaluate(async (u) => {
        const res = await fetch(u);
        const body = await res.text();
        let keys: string[] | null = null;
        try {
          keys = (JSON.parse(body) as { controls?: { key: string }[] }).controls?.map((c) => c.key) ?? null;
        } catch {
          // CSV or HTML
        }
        return { status: res.status, type: res.headers.get('content-type') ?? '', length: body.length, head: body.slice(0, 500), keys };
      }, url.pathname + url.search);
      expect(answer.status, answer.head).toBe(200);
      expect(answer.type).toContain(type);
      expect(answer.length).toBeGreaterThan(0);
      if (format === 'json') expect(answer.keys).toEqual([key]);
      if (format === 'csv') expect(answer.head).toContain(control!);
    }

    // A finding of the control opens its page.
    const first = findings.locator('tbody tr').first();
    const id = await first.getAttribute('data-finding-id');
    await first.getByRole('link').first().click();
    await page.waitForURL((u) => u.pathname === `/findings/${id}`);
    await page.getByRole('heading', { name: 'Why it matters' }).waitFor();
    // And back to the grid.
    await page.goBack();
    await page.getByRole('link', { name: /controls$/ }).click();
    await page.waitForURL((u) => u.pathname === '/compliance' && u.searchParams.get('framework') === framework);
    await grid.waitFor();
  });
});
