// End-to-end: the built UI against a real Vigilo server fed by `vigilo
// generate`, in Debian's Chromium, signed in through the sign-in page. Saves
// a screenshot of every page to docs/screenshots/ (1280x800, light; the
// overview in dark too).
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launch } from './browser';
import { WEB_ROOT, freePort, startGenerator, startServer, type Running } from './server';
import { startHook, type Hook } from './hook';

const SHOTS = resolve(WEB_ROOT, '../docs/screenshots');
const FIXTURE = join(WEB_ROOT, 'e2e/fixtures/cloudsplaining/example_authz_v2.json');

let srv: Running;
let hook: Hook;
let gen: ReturnType<typeof startGenerator>;
let context: BrowserContext;
let closeBrowser: () => Promise<void>;
let page: Page;
const runId = Date.now().toString(36);
const viewer = { username: 'e2e-viewer', password: 'quiet harbour willow 7' };

/** The API key's header (the suite's own calls, as a script would make them). */
const keyHeader = (): Record<string, string> => (srv.auth ? { Authorization: `Bearer ${srv.auth.apiKey}` } : {});

async function api<T = unknown>(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<T> {
  const res = await fetch(`${srv.apiUrl}${path}`, {
    method: init?.method ?? 'GET',
    headers: { 'Content-Type': 'application/json', ...keyHeader(), ...init?.headers },
    body: init?.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

let spec: { paths: Record<string, unknown> } = { paths: {} };
/** Whether the server documents a route (parts of the contract land over time). */
const serverHas = (path: string) => path in spec.paths;

/** Sign in through the page; lands on `next` (or the overview). */
async function signIn(user: { username: string; password: string }, next?: string) {
  await page.goto(`${srv.appUrl}/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname !== '/login');
  await page.getByTestId('user-menu').waitFor();
}

async function signOut() {
  await page.getByTestId('user-menu').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.pathname === '/login');
}

/** Who the suite's triage is recorded as. */
const actorName = () => srv.auth?.admin.username ?? 'anonymous';

async function shot(name: string) {
  await page.waitForTimeout(400); // let charts draw
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** An event that trips identity.public_bucket (critical, grouped by user). */
function publicBucket(user: string) {
  return {
    timestamp: new Date().toISOString(),
    kind: 'audit',
    service: 'storage',
    event_type: 'storage_bucket_created',
    user,
    bucket_name: `bucket-${user}`,
    public: true,
  };
}

async function findingFor(user: string, timeoutMs = 10_000): Promise<{ id: number; severity: string }> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const page = await api<{ items: { id: number; severity: string; user: string | null }[] }>(
      `/api/v1/findings?user=${encodeURIComponent(user)}`,
    );
    if (page.items[0]) return page.items[0];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no finding for ${user}`);
}

const HOOK_SECRET = 'e2e hook secret';

function alertsConfig(hookUrl: string, deadUrl: string): string {
  return `
[alerts]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"
group_by = ["rule_id", "user"]

[[alerts.routes]]
name = "e2e-critical"
min_severity = "critical"
receivers = ["e2e-hook"]

[[alerts.receivers]]
name = "e2e-hook"
type = "webhook"
url = "${hookUrl}"
secret = "${HOOK_SECRET}"
max_retries = 1
timeout = "5s"

# Nothing listens there: its test fails, and says why.
[[alerts.receivers]]
name = "e2e-down"
type = "slack"
url = "${deadUrl}"
max_retries = 0
timeout = "2s"
`;
}

/** Screenshots of the current page in dark and at a phone's width too (`focus` kept in view). */
async function shotThemesAndPhone(name: string, focus?: Locator) {
  await shot(name);
  await page.getByTestId('theme-toggle').click();
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  await shot(`${name}-dark`);
  await page.getByTestId('theme-toggle').click();
  await page.waitForFunction(() => document.documentElement.dataset.theme !== 'dark');
  await page.setViewportSize({ width: 390, height: 844 });
  await focus?.scrollIntoViewIfNeeded();
  await shot(`${name}-phone`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Alerts: critical findings go, grouped per rule and user, to a local webhook receiver.
  hook = await startHook();
  srv = await startServer({ config: alertsConfig(hook.url, `http://127.0.0.1:${await freePort()}/services/T0/B0/x`) });
  spec = await api('/api/openapi.json');
  const missing = ['/api/v1/findings/groups', '/api/v1/findings/bulk', '/api/v1/findings/{id}/history', '/api/v1/metrics/series'].filter(
    (p) => !serverHas(p),
  );
  if (missing.length) console.log(`server lacks (UI falls back): ${missing.join(', ')}`);
  if (!srv.auth) console.log('server has no accounts yet (no `vigilo user` command): sign-in steps are skipped');
  gen = startGenerator(srv.apiUrl, 240, 200, srv.auth?.apiKey);
  ({ context, close: closeBrowser } = await launch());
  page = await context.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  // Give the generator time to send traffic and fire some rules.
  await new Promise((r) => setTimeout(r, 15_000));
});

afterAll(async () => {
  await closeBrowser?.();
  await gen?.stop();
  await srv?.stop();
  await hook?.close();
});

describe('Vigilo web app', () => {
  it('sends a visitor to the sign-in page and back after signing in', async () => {
    if (!srv.auth) return;
    await page.goto(`${srv.appUrl}/findings?from=now-1h&to=now`);
    await page.waitForURL((u) => u.pathname === '/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/findings?from=now-1h&to=now');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot('login');
    // A wrong password shows the server's message and keeps the user here.
    await page.getByLabel('Username').fill(srv.auth.admin.username);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.getByTestId('login-error');
    await error.waitFor();
    expect((await error.innerText()).length).toBeGreaterThan(0);
    expect(new URL(page.url()).pathname).toBe('/login');
    // The right one lands on the page the visitor asked for.
    await page.getByLabel('Password').fill(srv.auth.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/findings');
    expect(new URL(page.url()).searchParams.get('from')).toBe('now-1h');
    await page.getByTestId('user-menu').getByText(srv.auth.admin.username).waitFor();
    // The session is in HttpOnly cookies, the CSRF token readable.
    const cookies = await context.cookies(srv.appUrl);
    expect(cookies.find((c) => c.name === 'vigilo_session')?.httpOnly).toBe(true);
    expect(cookies.find((c) => c.name === 'vigilo_csrf')?.httpOnly).toBe(false);
    // An expired session token: the app refreshes it with the refresh cookie and stays.
    const before = cookies.find((c) => c.name === 'vigilo_session')?.value;
    await context.clearCookies({ name: 'vigilo_session' });
    await page.reload();
    await page.waitForSelector('[data-testid="findings-table"] tbody tr, .state');
    expect(new URL(page.url()).pathname).toBe('/findings');
    const renewed = (await context.cookies(srv.appUrl)).find((c) => c.name === 'vigilo_session')?.value;
    expect(renewed).toBeTruthy();
    expect(renewed).not.toBe(before);
  });

  it('overview shows non-zero charts and cards', async () => {
    if (srv.auth && new URL(page.url()).pathname === '/login') await signIn(srv.auth.admin);
    const t0 = Date.now();
    await page.goto(`${srv.appUrl}/?from=now-15m&to=now`);
    await page.waitForSelector('[aria-label="Events over time"][data-total]');
    const loadMs = Date.now() - t0;
    console.log(`overview first load: ${loadMs} ms (UI served by ${srv.servesUi ? 'vigilo' : 'vite preview'})`);
    await page.waitForFunction(
      () => Number(document.querySelector('[aria-label="Events over time"]')?.getAttribute('data-total')) > 0,
      undefined,
      { timeout: 20_000 },
    );
    await page.waitForFunction(
      () => Number(document.querySelector('[aria-label="Findings by severity"]')?.getAttribute('data-total')) > 0,
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.locator('[aria-label="Events over time"] canvas').count()).toBeGreaterThan(0);
    const events = await page.locator('[data-testid="card-events"] .card-value').innerText();
    expect(Number(events.replace(/,/g, ''))).toBeGreaterThan(0);
    await page.waitForSelector('[data-testid="pipeline-board"] .bubble');
    await shot('overview');
  });

  it('a finding created through the API appears in the live feed within 2 s', async () => {
    await page.goto(`${srv.appUrl}/`);
    await page.waitForSelector('[role="feed"][aria-label="Live findings"]');
    await page.waitForSelector('.live-dot[data-status="connected"]');
    const user = `e2e-live-${runId}`;
    const before = Date.now();
    await api('/api/v1/events', { method: 'POST', body: publicBucket(user) });
    await page.locator('[role="feed"][aria-label="Live findings"]').getByText(user).waitFor({ timeout: 2000 });
    console.log(`finding in the feed ${Date.now() - before} ms after the POST`);
  });

  it('a pipeline_update changes its bubble live', async () => {
    await page.goto(`${srv.appUrl}/pipelines`);
    await page.waitForSelector('.live-dot[data-status="connected"]');
    const name = `e2e.pipeline`;
    await api(`/api/v1/pipelines/${name}/events`, { method: 'POST', body: { status: 'running', pipeline: name } });
    const bubble = page.locator(`.bubble[data-pipeline="${name}"]`);
    await bubble.and(page.locator('[data-status="running"]')).waitFor({ timeout: 2000 });
    const dot = bubble.locator('.bubble-dot');
    const runningColor = await dot.evaluate((el) => getComputedStyle(el).backgroundColor);
    await api(`/api/v1/pipelines/${name}/events`, { method: 'POST', body: { status: 'error', pipeline: name, error: 'e2e' } });
    await bubble.and(page.locator('[data-status="error"]')).waitFor({ timeout: 2000 });
    await page.waitForTimeout(300); // colour transition
    const errorColor = await dot.evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(errorColor).not.toBe(runningColor);
    await shot('pipelines');
    await page.goto(`${srv.appUrl}/pipelines/${name}`);
    await page.getByText('Status history').waitFor();
    await shot('pipeline-detail');
  });

  it('findings filters narrow the table and survive a reload', async () => {
    const user = `e2e-filter-${runId}`;
    await api('/api/v1/events', { method: 'POST', body: publicBucket(user) });
    await findingFor(user);
    await page.goto(`${srv.appUrl}/findings?from=now-1h&to=now`);
    await page.waitForSelector('[data-testid="findings-table"] tbody tr');
    await shot('findings');
    const allRows = await page.locator('[data-testid="findings-table"] tbody tr').count();
    await page.getByRole('group', { name: 'Severity' }).getByRole('button', { name: 'critical' }).click();
    await page.waitForURL(/severity=critical/);
    await page.locator('input[name="user"]').fill(user);
    await page.waitForURL(new RegExp(`user=${user}`));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="findings-table"] tbody tr').length === 1);
    const filtered = await page.locator('[data-testid="findings-table"] tbody tr').count();
    expect(filtered).toBeLessThanOrEqual(allRows);
    expect(filtered).toBe(1);
    await page.reload();
    await page.waitForSelector('[data-testid="findings-table"] tbody tr');
    expect(page.url()).toContain('severity=critical');
    expect(await page.locator('input[name="user"]').inputValue()).toBe(user);
    expect(await page.getByRole('group', { name: 'Severity' }).getByRole('button', { name: 'critical' }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('[data-testid="findings-table"] tbody tr').count()).toBe(1);
    // The export links carry the same filters.
    const csvHref = await page.getByRole('group', { name: 'Export' }).getByRole('link', { name: /CSV/ }).getAttribute('href');
    expect(csvHref).toContain('severity=critical');
    expect(csvHref).toContain(`user=${user}`);
    expect(csvHref).toContain('format=csv');
    const csv = await fetch(`${srv.apiUrl}${csvHref}`, { headers: keyHeader() });
    expect(csv.ok).toBe(true);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines.length).toBe(2); // header + the one finding
    if (serverHas('/api/v1/findings/groups')) {
      await page.getByRole('button', { name: 'By rule' }).click();
      await page.waitForSelector('[data-testid="groups-table"]');
    }
  });

  it('a bulk status change and a note persist and show in the history', async () => {
    const user = `e2e-bulk-${runId}`;
    await api('/api/v1/events', { method: 'POST', body: publicBucket(user) });
    const f = await findingFor(user);
    await page.goto(`${srv.appUrl}/findings?from=now-1h&to=now&user=${user}`);
    await page.waitForSelector(`tr[data-finding-id="${f.id}"]`);
    await page.locator(`tr[data-finding-id="${f.id}"] input[type="checkbox"]`).check();
    const bar = page.getByTestId('bulk-bar');
    await bar.getByLabel('New status').selectOption('acknowledged');
    await bar.getByRole('button', { name: 'Apply status' }).click();
    await page.locator(`tr[data-finding-id="${f.id}"] .status-acknowledged`).waitFor();
    await page.locator(`tr[data-finding-id="${f.id}"] a`).first().click();
    await page.waitForURL(new RegExp(`/findings/${f.id}`));
    const note = `checked by e2e ${runId}`;
    await page.getByLabel('Add a note').fill(note);
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.getByTestId('history').getByText(note).waitFor();
    await page.reload();
    const history = page.getByTestId('history');
    await history.getByText(note).waitFor();
    if (serverHas('/api/v1/findings/{id}/history')) {
      await history.getByText(/open → acknowledged/).waitFor();
      expect(await history.innerText()).toContain(actorName());
    }
    // The status change persisted.
    await page.locator('.panel-head .status-acknowledged').waitFor();
    const stored = await api<{ status: string; note?: string | null }>(`/api/v1/findings/${f.id}`);
    expect(stored.status).toBe('acknowledged');
    await shot('finding-detail');
    // Resolving asks for a close reason.
    await page.getByRole('button', { name: 'Resolve…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Resolve finding' });
    await dialog.getByLabel('false positive').check();
    await dialog.getByRole('button', { name: 'Resolve', exact: true }).click();
    await page.locator('.panel-head .status-resolved').waitFor();
    const resolved = await api<{ status: string; close_reason?: string | null }>(`/api/v1/findings/${f.id}`);
    expect(resolved.status).toBe('resolved');
    expect(resolved.close_reason).toBe('false_positive');
    if (serverHas('/api/v1/findings/{id}/history')) {
      await history.getByText(/close reason: false positive/).waitFor();
    }
  });

  it('the rule tester shows a match', async () => {
    await page.goto(`${srv.appUrl}/rules`);
    await page.waitForSelector('[data-testid="rules-table"] tbody tr');
    await shot('rules');
    await page.getByRole('button', { name: 'Test rule' }).click();
    const result = page.getByTestId('tester-result');
    await result.waitFor();
    expect(await result.innerText()).toMatch(/^[1-9]\d* finding/);
  });

  it('an IAM upload shows its findings', async () => {
    await page.goto(`${srv.appUrl}/iam`);
    await page.getByTestId('iam-file').setInputFiles(FIXTURE);
    await page.getByRole('button', { name: 'Run audit' }).click();
    await page.waitForURL(/\/iam\/\d+/);
    await page.getByTestId('iam-principals').waitFor();
    const text = await page.getByTestId('iam-principals').innerText();
    expect(text).toContain('BlakeBortles');
    await shot('iam-detail');
    await page.goto(`${srv.appUrl}/iam`);
    await page.waitForSelector('[data-testid="audits-table"] tbody tr');
    await shot('iam');
    expect(readFileSync(FIXTURE, 'utf8').length).toBeGreaterThan(0);
  });

  it('the Alerts page lists receivers, and Send test reaches the local receiver', async () => {
    await page.goto(`${srv.appUrl}/alerts/receivers`);
    const row = page.locator('tr[data-receiver="e2e-hook"]');
    await row.waitFor();
    // The target is masked: scheme and host only.
    expect(await row.innerText()).toContain('http://127.0.0.1:');
    expect(await row.innerText()).not.toContain('/hook');
    expect(await row.innerText()).toContain('HMAC-SHA256');
    await page.locator('tr[data-route="e2e-critical"]').waitFor();
    const before = hook.received.length;
    await row.getByRole('button', { name: 'Send test to e2e-hook' }).click();
    const outcome = page.getByTestId('test-outcome-e2e-hook');
    await outcome.locator('.status-sent').waitFor({ timeout: 15_000 });
    const got = await hook.waitFor((r) => hook.received.indexOf(r) >= before && (r.body as { kind?: string }).kind === 'test');
    expect(String(got.headers['x-vigilo-signature'] ?? '')).toMatch(/^sha256=[0-9a-f]{64}$/);
    // A receiver nobody answers: the test fails and the error is shown.
    const down = page.locator('tr[data-receiver="e2e-down"]');
    expect(await down.innerText()).not.toContain('/services/');
    await down.getByRole('button', { name: 'Send test to e2e-down' }).click();
    const failed = page.getByTestId('test-outcome-e2e-down');
    await failed.locator('.status-failed').waitFor({ timeout: 15_000 });
    expect((await failed.locator('.error-text').innerText()).length).toBeGreaterThan(0);
    await shotThemesAndPhone('alerts-receivers');

    // The test is in the history, with its message.
    await outcome.getByRole('link', { name: 'in history' }).click();
    await page.waitForURL(/\/alerts\?kind=test/);
    const first = page.locator('[data-testid="notifications-table"] tbody tr[data-status="sent"]').first();
    await first.waitFor();
    await first.getByRole('button', { name: /Show message/ }).click();
    await page.getByTestId('notification-body').waitFor();
    await shot('alerts-test-history');
  });

  it('a critical finding is notified and its notifications show on the finding', async () => {
    const user = `e2e-alert-${runId}`;
    await api('/api/v1/events', { method: 'POST', body: publicBucket(user) });
    const f = await findingFor(user);
    // The webhook receiver gets it once the group's wait is over.
    const got = await hook.waitFor((r) => JSON.stringify(r.body).includes(user), 20_000);
    expect((got.body as { kind?: string }).kind).toBe('firing');
    await page.goto(`${srv.appUrl}/findings/${f.id}`);
    const section = page.getByTestId('finding-notifications');
    await section.locator('tr[data-status="sent"]').first().waitFor({ timeout: 15_000 });
    expect(await section.innerText()).toContain('e2e-hook');
    expect(await section.innerText()).toContain('e2e-critical');
    await section.scrollIntoViewIfNeeded();
    await shot('finding-notifications');
    // The whole history, searchable: this user's notification is found by its text.
    await page.goto(`${srv.appUrl}/alerts`);
    await page.locator('input[name="q"]').fill(user);
    await page.waitForURL(new RegExp(`q=${user}`));
    const found = page.locator(`[data-testid="notifications-table"] tbody tr[data-status="sent"]`).first();
    await found.waitFor();
    expect(await found.innerText()).toContain('firing');
    await page.locator('input[name="q"]').fill('');
    await page.waitForURL((u) => !u.searchParams.has('q'));
    await page.locator('[data-testid="notifications-table"] tbody tr').nth(1).waitFor();
    await page.locator('[data-testid="notifications-table"] tbody tr').first().getByRole('button', { name: /Show message/ }).click();
    await page.getByTestId('notification-body').waitFor();
    await shotThemesAndPhone('alerts-notifications');
    await page.goto(`${srv.appUrl}/findings/${f.id}`);
    await page.getByTestId('finding-notifications').waitFor();
    // The finding page offers a silence like it, filled in.
    await page.getByRole('link', { name: 'Silence like this…' }).click();
    await page.waitForURL(/\/alerts\/silences\?new=1/);
    const form = page.getByRole('form', { name: 'New silence' });
    expect(await form.getByLabel('Value 1').inputValue()).toBe('identity.public_bucket');
    await form.getByRole('button', { name: 'Cancel' }).click();
    await form.waitFor({ state: 'hidden' });
  });

  it('a silence created in the UI is active, and expiring it moves it to expired', async () => {
    await page.goto(`${srv.appUrl}/alerts/silences`);
    await page.getByRole('button', { name: 'New silence' }).click();
    const form = page.getByRole('form', { name: 'New silence' });
    const rule = `e2e.rule.${runId}`;
    const comment = `e2e maintenance ${runId}`;
    await form.getByLabel('Value 1').fill(rule);
    await form.getByRole('button', { name: 'Add matcher' }).click();
    await form.getByLabel('Field 2').selectOption('service');
    await form.getByLabel('Operator 2').selectOption('glob');
    await form.getByLabel('Value 2').fill('pay*');
    await form.getByLabel('Duration').fill('2h');
    await form.getByLabel('Comment').fill(comment);
    await shot('alerts-silence-form');
    await form.getByRole('button', { name: 'Create silence' }).click();
    await form.waitFor({ state: 'hidden' });
    const row = page.locator('[data-testid="silences-table"] tr', { hasText: comment });
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('active');
    const id = Number(await row.getAttribute('data-silence-id'));
    const stored = await api<{ state: string; matchers: { field: string; value: string; glob: boolean }[]; created_by: string }>(
      `/api/v1/alerts/silences/${id}`,
    );
    expect(stored.state).toBe('active');
    expect(stored.matchers).toEqual([
      { field: 'rule_id', value: rule, glob: false },
      { field: 'service', value: 'pay*', glob: true },
    ]);
    expect(stored.created_by).toBe(actorName());
    await shotThemesAndPhone('alerts-silences');
    // Expire it: it stays listed, as expired.
    await row.getByRole('button', { name: `Expire silence ${id}` }).click();
    await page.getByRole('dialog', { name: 'Expire silence' }).getByRole('button', { name: 'Expire now' }).click();
    await page.locator(`tr[data-silence-id="${id}"][data-state="expired"]`).waitFor();
    expect((await api<{ state: string }>(`/api/v1/alerts/silences/${id}`)).state).toBe('expired');
    // Receivers were told it started and ended.
    await hook.waitFor((r) => (r.body as { kind?: string }).kind === 'silence_ended' && JSON.stringify(r.body).includes(rule), 20_000);
    expect(hook.received.some((r) => (r.body as { kind?: string }).kind === 'silence_started' && JSON.stringify(r.body).includes(rule))).toBe(true);
  });

  it('the pipelines page shows the dead letters panel with its counts', async () => {
    const counts = page.waitForResponse((r) => r.url().includes('/api/v1/dead-letters') && r.ok());
    await page.goto(`${srv.appUrl}/pipelines`);
    const answer = (await (await counts).json()) as { counts: Record<string, number>; total: number };
    const panel = page.getByTestId('dead-letters');
    await panel.waitFor();
    // No broker source is configured here: nothing has been dead-lettered.
    expect(answer.total).toBe(0);
    expect(answer.counts).toEqual({});
    await panel.getByText('No dead letters.', { exact: false }).waitFor();
    await panel.scrollIntoViewIfNeeded();
    await shotThemesAndPhone('pipelines-dead-letters', panel);
  });

  it('events, metrics and the dark overview render', async () => {
    await page.goto(`${srv.appUrl}/events?from=now-15m&to=now`);
    await page.waitForSelector('[data-testid="events-table"] tbody tr');
    await shot('events');
    await page.locator('[data-testid="events-table"] tbody tr a').first().click();
    await page.waitForSelector('pre.json');
    await shot('event-detail');
    await page.goto(`${srv.appUrl}/explore?from=now-15m&to=now&field=cpu&agg=avg&group_by=service`);
    await page.waitForSelector('.chart.tall canvas, .state', { timeout: 20_000 });
    await shot('explore');
    await page.goto(`${srv.appUrl}/?from=now-15m&to=now`);
    await page.getByTestId('theme-toggle').click();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await page.waitForSelector('[aria-label="Events over time"] canvas');
    await shot('overview-dark');
    await page.getByTestId('theme-toggle').click();
  });

  it('events show their logsource and the explorer filters by it', async () => {
    const now = new Date().toISOString();
    await api('/api/v1/events?product=aws&service=cloudtrail', {
      method: 'POST',
      body: [
        { timestamp: now, eventName: 'ConsoleLogin', user: 'e2e-logsource' },
        { timestamp: now, eventName: 'CreateUser', user: 'e2e-logsource', logsource: { category: 'iam' } },
      ],
    });
    const url = `/events?from=now-15m&to=now&product=aws`;
    await page.goto(`${srv.appUrl}${url}`);
    // Signed in already when the whole suite runs; alone, this test signs in.
    await page.locator('[data-testid="events-table"], input[type="password"]').first().waitFor();
    if (new URL(page.url()).pathname === '/login' && srv.auth) await signIn(srv.auth.admin, url);
    await page.waitForSelector('[data-testid="events-table"] tbody tr');
    const badges = await page.getByTestId('logsource').allInnerTexts();
    expect(badges.sort()).toEqual(['aws / cloudtrail', 'aws / iam / cloudtrail']);
    expect(await page.locator('input[name="product"]').inputValue()).toBe('aws');
    await shot('events-logsource');
    // Narrowed by category, kept in the URL.
    await page.locator('input[name="category"]').fill('iam');
    await page.locator('input[name="category"]').press('Enter');
    await page.waitForURL((u) => u.searchParams.get('category') === 'iam');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="logsource"]').length === 1);
    expect(await page.getByTestId('logsource').innerText()).toBe('aws / iam / cloudtrail');
  });

  it('the events live tail shows new events as they arrive, without a reload', async () => {
    const service = `e2e-tail-${runId}`;
    await page.goto(`${srv.appUrl}/events?from=now-15m&to=now`);
    await page.waitForSelector('[data-testid="events-table"] tbody tr');
    await page.waitForSelector('.live-dot[data-status="connected"]');
    await page.evaluate(() => ((window as unknown as { e2eMark: number }).e2eMark = 1));
    await page.getByTestId('live-tail').click();
    await page.waitForURL((u) => u.searchParams.get('live') === '1');
    const feed = page.locator('[role="feed"][aria-label="Live events"]');
    // The generator's traffic streams in.
    await feed.locator('a.feed-item').first().waitFor({ timeout: 10_000 });
    await shot('events-live');
    // The tail is a sample (the first 20 events of each commit, at most 20/s
    // per browser), so the generator's traffic could hide ours for a long
    // time: the later tests need no traffic, so it stops here.
    await gen.stop();
    const end = Date.now() + 20_000;
    let seen = false;
    while (!seen) {
      expect(Date.now() < end, 'no posted event reached the live tail in 20 s').toBe(true);
      const at = new Date().toISOString();
      await api('/api/v1/events', {
        method: 'POST',
        body: Array.from({ length: 5 }, (_, i) => ({ timestamp: at, kind: 'log', service, message: `tail ${i}` })),
      });
      seen = await feed
        .getByText(service)
        .first()
        .waitFor({ timeout: 250 })
        .then(
          () => true,
          () => false,
        );
    }
    // The same document all along: the rows came over the socket.
    expect(await page.evaluate(() => (window as unknown as { e2eMark?: number }).e2eMark)).toBe(1);
    // Off again: back to the paged table.
    await page.getByTestId('live-tail').click();
    await page.waitForSelector('[data-testid="events-table"] tbody tr');
  });

  it('the metrics explorer reports the values posted, by aggregation', async () => {
    const metric = `e2e_metric_${runId}`;
    const at = new Date().toISOString();
    await api('/api/v1/events', {
      method: 'POST',
      body: [10, 30, 50].map((value) => ({ timestamp: at, kind: 'metric', source_id: 'e2e', metric_name: metric, value })),
    });
    const row = page.locator('table.data tbody tr').filter({ has: page.getByText(metric, { exact: true }) });
    // Min, max and last of the series' buckets: one bucket here, so all three are the aggregate.
    const cells = async () => (await row.locator('td.num').allInnerTexts()).slice(1);
    for (const [agg, want] of [
      ['avg', '30'],
      ['max', '50'],
      ['min', '10'],
      ['sum', '90'],
      ['count', '3'],
    ] as const) {
      await page.goto(`${srv.appUrl}/explore?from=now-15m&to=now&field=value&agg=${agg}&group_by=metric_name&bucket=minute`);
      await page.waitForSelector('.chart.tall canvas, .main .state');
      const end = Date.now() + 10_000;
      while ((await row.count()) === 0 || (await cells()).some((c) => c !== want)) {
        expect(Date.now() < end, `${agg}(value) of ${metric}: ${(await row.count()) ? await cells() : 'no row'}, want ${want}`).toBe(true);
        await page.waitForTimeout(300);
        if ((await row.count()) === 0) await page.reload();
      }
    }
  });

  it('every page fits a phone and the navigation opens from its menu', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/', '/findings', '/events', '/explore', '/rules', '/iam', '/compliance', '/pipelines', '/alerts']) {
        await page.goto(`${srv.appUrl}${path}`);
        await page.waitForSelector('.main .panel, .main .state');
        await page.waitForTimeout(300);
        // Wide tables scroll inside their panel; the page itself never scrolls sideways.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow, `${path} is ${overflow}px wider than the phone`).toBeLessThanOrEqual(0);
      }
      const sidebar = page.getByRole('complementary', { name: 'Main navigation' });
      await page.getByRole('button', { name: 'Open navigation' }).click();
      await sidebar.getByRole('link', { name: 'Findings' }).click();
      await page.waitForURL((u) => u.pathname === '/findings');
      await page.waitForSelector('.main .panel');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('an admin creates a user and an API key, whose secret is shown once', async () => {
    if (!srv.auth) return;
    // Users: create a viewer through the page.
    await page.goto(`${srv.appUrl}/admin/users`);
    await page.waitForSelector('[data-testid="users-table"] tbody tr');
    await page.getByRole('button', { name: 'New user' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Username').fill(viewer.username);
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByLabel('Initial password').fill(viewer.password);
    await form.getByRole('button', { name: 'Create user' }).click();
    const row = page.locator(`tr[data-user="${viewer.username}"]`);
    await row.waitFor();
    expect(await row.getByLabel(`Role of ${viewer.username}`).inputValue()).toBe('viewer');
    await shot('users');

    // API keys: the secret is shown once, with a warning and a copy button.
    await page.goto(`${srv.appUrl}/admin/api-keys`);
    await page.getByRole('button', { name: 'New API key' }).click();
    const keyForm = page.getByRole('form', { name: 'New API key' });
    const name = `e2e-ci-${runId}`;
    await keyForm.getByLabel('Name').fill(name);
    await keyForm.getByRole('checkbox', { name: /ingest/ }).check();
    await keyForm.getByLabel('Expires after').selectOption('30d');
    await keyForm.getByRole('button', { name: 'Create key' }).click();
    const secretView = page.getByTestId('key-secret');
    await secretView.waitFor();
    await secretView.getByText('It will not be shown again').waitFor();
    const secret = await page.getByTestId('key-secret-value').inputValue();
    expect(secret.startsWith('vgl_')).toBe(true);
    await page.locator(`tr[data-key="${name}"]`).waitFor();
    await shot('api-keys');
    // The key works as a credential.
    const me = await fetch(`${srv.apiUrl}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${secret}` } });
    expect(me.ok).toBe(true);
    expect(((await me.json()) as { principal: string }).principal).toBe('api_key');
    await secretView.getByRole('button', { name: 'Done' }).click();
    await secretView.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await page.locator(`tr[data-key="${name}"]`).waitFor();
    expect(await page.content()).not.toContain(secret);

    // Audit log: the sign-ins and the changes above are in it.
    await page.goto(`${srv.appUrl}/admin/audit-log`);
    await page.waitForSelector('[data-testid="audit-table"] tbody tr');
    await shot('audit-log');
  });

  it('the user menu shows who is signed in and their preferences', async () => {
    if (!srv.auth) return;
    await page.goto(`${srv.appUrl}/?from=now-15m&to=now`);
    await page.getByTestId('user-menu').click();
    await page.getByTestId('user-role').getByText('Admin').waitFor();
    await page.getByRole('menuitem', { name: 'Sign out' }).waitFor();
    await shot('user-menu');
    await page.keyboard.press('Escape');
    // A filter saved under a name comes back from the menu.
    await page.goto(`${srv.appUrl}/findings?from=now-1h&to=now&severity=critical`);
    await page.getByRole('button', { name: 'Save filter' }).click();
    const saveDialog = page.getByRole('dialog', { name: 'Save filter' });
    await saveDialog.getByLabel('Name').fill('critical only');
    await saveDialog.getByRole('button', { name: 'Save', exact: true }).click();
    await saveDialog.waitFor({ state: 'detached' });
    await page.goto(`${srv.appUrl}/findings?from=now-1h&to=now`);
    await page.getByTestId('saved-filters').selectOption('critical only');
    await page.waitForURL(/severity=critical/);
    // The preferred time range applies where the URL has none.
    await page.getByTestId('user-menu').click();
    await page.getByRole('menuitem', { name: 'Preferences…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Preferences' });
    await dialog.getByText('critical only').waitFor();
    await dialog.getByLabel('Default time range').selectOption('24h');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.goto(`${srv.appUrl}/findings`);
    await page.getByTestId('timerange').getByText('Last 24 hours').waitFor();
  });

  it('a viewer sees no triage actions, and signing out returns to the sign-in page', async () => {
    if (!srv.auth) return;
    await signOut();
    await signIn(viewer, '/findings?from=now-1h&to=now');
    await page.waitForSelector('[data-testid="findings-table"] tbody tr');
    expect(await page.locator('[data-testid="findings-table"] input[type="checkbox"]').count()).toBe(0);
    expect(await page.getByRole('navigation', { name: 'Administration' }).count()).toBe(0);
    await page.locator('[data-testid="findings-table"] tbody tr a').first().click();
    await page.waitForURL(/\/findings\/\d+/);
    await page.getByRole('heading', { name: 'Why it matters' }).waitFor();
    expect(await page.getByRole('group', { name: 'Status actions' }).count()).toBe(0);
    expect(await page.getByLabel('Add a note').count()).toBe(0);
    await page.goto(`${srv.appUrl}/rules`);
    await page.waitForSelector('[data-testid="rules-table"] tbody tr');
    expect(await page.getByRole('button', { name: 'Reload rules' }).count()).toBe(0);
    expect(await page.locator('[data-testid="rules-table"] [role="switch"]:not([disabled])').count()).toBe(0);
    await page.goto(`${srv.appUrl}/iam`);
    await page.getByRole('heading', { name: 'Past audits' }).waitFor();
    expect(await page.getByTestId('iam-file').count()).toBe(0);
    // The server refuses a viewer's change anyway.
    const csrf = (await context.cookies(srv.appUrl)).find((c) => c.name === 'vigilo_csrf')?.value ?? '';
    const status = await page.evaluate(async (token) => {
      const res = await fetch('/api/v1/rules/reload', { method: 'POST', headers: { 'X-CSRF-Token': token } });
      return res.status;
    }, csrf);
    expect(status).toBe(403);

    await signOut();
    expect(new URL(page.url()).pathname).toBe('/login');
    // Signed out for real: the app sends the visitor back to sign in.
    await page.goto(`${srv.appUrl}/findings`);
    await page.waitForURL((u) => u.pathname === '/login');
  });
});
