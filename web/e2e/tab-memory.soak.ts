// A long-open tab: the overview (live charts, the findings feed, the
// pipeline board) and the events live tail, open side by side in headless
// Chromium against a real server fed by `vigilo generate`. It reports each
// tab's JavaScript heap after a forced garbage collection, and its DOM node
// count, every sample, and fails when the heap grows past the bound.
//
//   cd web && npm run build && \
//     SOAK_MINUTES=30 SOAK_RATE=400 VIGILO_BIN=../target/debug/vigilo npm run soak
//
// Run by hand (it is not part of `npm run e2e`): the figures go to
// docs/benchmarks.md.
import { expect, it } from 'vitest';
import type { CDPSession, Page } from 'playwright-core';
import { launch } from './browser';
import { startGenerator, startServer } from './server';

function env(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const minutes = env('SOAK_MINUTES', 30);
const rate = env('SOAK_RATE', 400);
const sampleSeconds = env('SOAK_SAMPLE_SECONDS', 60);
/** Heap growth allowed from the first sample after warm-up to the last. */
const boundMb = env('SOAK_BOUND_MB', 8);

interface Tab {
  name: string;
  page: Page;
  cdp: CDPSession;
}

/** Elements under each panel, by its heading: where a growing node count lives. */
async function nodesByPanel(tab: Tab): Promise<Record<string, number>> {
  return tab.page.evaluate(() => {
    const out: Record<string, number> = {};
    document.querySelectorAll('.main section, .main .panel, .main .card').forEach((el, i) => {
      const name = el.querySelector('h2, h3, .card-label')?.textContent?.trim() || `${el.className} ${i}`;
      out[name] = (out[name] ?? 0) + el.querySelectorAll('*').length;
    });
    out['(whole document)'] = document.querySelectorAll('*').length;
    return out;
  });
}

async function measure(tab: Tab): Promise<{ heapMb: number; nodes: number }> {
  await tab.cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await tab.cdp.send('Performance.getMetrics');
  const get = (n: string) => metrics.find((m) => m.name === n)?.value ?? 0;
  return { heapMb: get('JSHeapUsedSize') / 1048576, nodes: get('Nodes') };
}

it(`a tab open ${minutes} minutes under live traffic keeps its memory`, async () => {
  const srv = await startServer();
  const key = srv.auth?.apiKey;
  const gen = startGenerator(srv.apiUrl, minutes * 60 + 120, rate, key);
  const { context, close } = await launch();
  try {
    if (srv.auth) {
      const p = await context.newPage();
      await p.goto(`${srv.appUrl}/login`);
      await p.getByLabel('Username').fill(srv.auth.admin.username);
      await p.getByLabel('Password').fill(srv.auth.admin.password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.waitForURL((u) => u.pathname !== '/login');
      await p.close();
    }
    const tabs: Tab[] = [];
    for (const [name, path] of [
      ['overview', '/?from=now-15m&to=now'],
      ['events live tail', '/events?from=now-15m&to=now&live=1'],
    ]) {
      const page = await context.newPage();
      await page.goto(`${srv.appUrl}${path}`);
      await page.waitForSelector('.live-dot[data-status="connected"]');
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      tabs.push({ name, page, cdp });
    }
    // Warm-up: every capped buffer fills before the first sample, so growth
    // after it is growth, not a buffer filling. 60 users each open a
    // critical public-bucket finding (the overview's feed keeps 50).
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = `Bearer ${key}`;
    const at = new Date().toISOString();
    const res = await fetch(`${srv.apiUrl}/api/v1/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify(
        Array.from({ length: 60 }, (_, i) => ({
          timestamp: at,
          kind: 'audit',
          service: 'storage',
          event_type: 'storage_bucket_created',
          user: `soak-${i}`,
          bucket_name: `soak-bucket-${i}`,
          public: true,
        })),
      ),
    });
    expect(res.status).toBe(202);
    await new Promise((r) => setTimeout(r, 60_000));
    const first = await Promise.all(tabs.map(measure));
    const panelsBefore = await Promise.all(tabs.map(nodesByPanel));
    const started = Date.now();
    console.log(`minute\t${tabs.map((t) => `${t.name} heap MB\t${t.name} nodes`).join('\t')}`);
    const row = (at: number, m: { heapMb: number; nodes: number }[]) =>
      console.log(`${at.toFixed(0)}\t${m.map((x) => `${x.heapMb.toFixed(2)}\t${x.nodes}`).join('\t')}`);
    row(0, first);
    let last = first;
    while (Date.now() - started < minutes * 60_000) {
      await new Promise((r) => setTimeout(r, sampleSeconds * 1000));
      last = await Promise.all(tabs.map(measure));
      row((Date.now() - started) / 60_000, last);
    }
    const panelsAfter = await Promise.all(tabs.map(nodesByPanel));
    tabs.forEach((t, i) => {
      const grew = Object.entries(panelsAfter[i]!)
        .map(([k, n]) => `${k}: ${panelsBefore[i]![k] ?? 0} -> ${n}`)
        .join('; ');
      console.log(`${t.name} elements by panel: ${grew}`);
    });
    tabs.forEach((t, i) => {
      const growth = last[i]!.heapMb - first[i]!.heapMb;
      console.log(
        `${t.name}: heap ${first[i]!.heapMb.toFixed(2)} -> ${last[i]!.heapMb.toFixed(2)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(2)}), nodes ${first[i]!.nodes} -> ${last[i]!.nodes}`,
      );
    });
    tabs.forEach((t, i) => expect(last[i]!.heapMb - first[i]!.heapMb, `${t.name} heap growth (MB)`).toBeLessThan(boundMb));
  } finally {
    await close();
    await gen.stop();
    await srv.stop();
  }
}, (minutes + 10) * 60_000);
