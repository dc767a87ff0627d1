// Shaping API data for charts.
import type { MetricSeries, Timeline } from '../api/types';
import { SEVERITIES } from '../api/types';

export type XY = [number, number | null];

/** Events per bucket, oldest first, as [time ms, count]. */
export function eventsSeries(t: Timeline): XY[] {
  return t.points.map((p) => [Date.parse(p.time), p.events]);
}

/** New findings per bucket by severity, one series per severity (most severe first). */
export function findingsBySeverity(t: Timeline): { severity: string; data: XY[] }[] {
  return SEVERITIES.map((severity) => ({
    severity,
    data: t.points.map((p): XY => [Date.parse(p.time), p.findings_by_severity[severity] ?? 0]),
  }));
}

/** A severity count map in the fixed severity order, zero included. */
export function severityCounts(m: Record<string, number> | undefined): { severity: string; count: number }[] {
  return SEVERITIES.map((severity) => ({ severity, count: m?.[severity] ?? 0 }));
}

/**
 * Merge live per-bucket counts into the fetched series: counts for a bucket
 * the API already has are taken as the higher of the two (the API catches
 * up), newer buckets are appended, and the series is cut to `maxPoints`.
 */
export function mergeLive(base: XY[], live: Map<number, number>, maxPoints: number): XY[] {
  const out = base.slice();
  const index = new Map<number, number>();
  out.forEach(([t], i) => index.set(t, i));
  const lastBase = out.length ? out[out.length - 1]![0] : -Infinity;
  for (const [t, v] of [...live.entries()].sort((a, b) => a[0] - b[0])) {
    const i = index.get(t);
    if (i !== undefined) out[i] = [t, Math.max(out[i]![1] ?? 0, v)];
    else if (t > lastBase) out.push([t, v]);
  }
  return out.length > maxPoints ? out.slice(out.length - maxPoints) : out;
}

/**
 * Counts per bucket -> events per second. The bucket still filling (it
 * holds `now`) is divided by the seconds elapsed in it, not the whole width.
 */
export function toRate(counts: XY[], bucketMs: number, now: number): XY[] {
  return counts.map(([t, v]) => {
    if (v === null) return [t, null];
    const elapsed = now >= t && now < t + bucketMs ? Math.max(1000, now - t) : bucketMs;
    return [t, Math.round((v / (elapsed / 1000)) * 100) / 100];
  });
}

/** Metric series for ECharts: name and [time, value] pairs (null = gap). */
export function metricLines(m: MetricSeries, maxSeries = 10): { name: string; data: XY[] }[] {
  const sorted = [...m.series].sort((a, b) => total(b.points) - total(a.points));
  return sorted.slice(0, maxSeries).map((s) => ({
    name: s.key ?? (m.group_by === 'none' ? m.field : '(none)'),
    data: s.points.map((p): XY => [Date.parse(p.time), p.value ?? null]),
  }));
}

function total(points: { value?: number | null }[]): number {
  return points.reduce((acc, p) => acc + (p.value ?? 0), 0);
}
