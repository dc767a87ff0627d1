import { describe, expect, it } from 'vitest';
import { eventsSeries, findingsBySeverity, mergeLive, metricLines, severityCounts, toRate } from './series';
import type { MetricSeries, Timeline } from '../api/types';

const timeline: Timeline = {
  from: '2026-01-01T00:00:00Z',
  to: '2026-01-01T00:03:00Z',
  bucket_seconds: 60,
  points: [0, 1, 2].map((i) => ({
    time: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 60_000).toISOString(),
    events: i * 10,
    findings: i,
    findings_by_severity: { high: i, low: 0 },
    events_by_kind: {},
  })),
};

describe('series shaping', () => {
  it('events over time', () => {
    const s = eventsSeries(timeline);
    expect(s).toHaveLength(3);
    expect(s[2]).toEqual([Date.parse('2026-01-01T00:02:00Z'), 20]);
  });
  it('findings by severity, every severity', () => {
    const s = findingsBySeverity(timeline);
    expect(s.map((x) => x.severity)).toEqual(['critical', 'high', 'medium', 'low', 'informational']);
    expect(s[1]!.data.map((p) => p[1])).toEqual([0, 1, 2]);
    expect(s[0]!.data.map((p) => p[1])).toEqual([0, 0, 0]);
  });
  it('severity counts in order with zeros', () => {
    expect(severityCounts({ low: 3 })).toEqual([
      { severity: 'critical', count: 0 },
      { severity: 'high', count: 0 },
      { severity: 'medium', count: 0 },
      { severity: 'low', count: 3 },
      { severity: 'informational', count: 0 },
    ]);
  });
  it('merges live buckets and caps the points', () => {
    const base = eventsSeries(timeline);
    const live = new Map([
      [Date.parse('2026-01-01T00:02:00Z'), 25],
      [Date.parse('2026-01-01T00:03:00Z'), 7],
    ]);
    const merged = mergeLive(base, live, 3);
    expect(merged).toHaveLength(3);
    expect(merged[1]).toEqual([Date.parse('2026-01-01T00:02:00Z'), 25]);
    expect(merged[2]).toEqual([Date.parse('2026-01-01T00:03:00Z'), 7]);
  });
  it('metric lines, biggest first, gaps kept', () => {
    const m: MetricSeries = {
      field: 'cpu',
      agg: 'avg',
      group_by: 'service',
      bucket_seconds: 60,
      from: '',
      to: '',
      groups_total: 2,
      series: [
        { key: 'a', points: [{ time: '2026-01-01T00:00:00Z', value: 1 }] },
        { key: 'b', points: [{ time: '2026-01-01T00:00:00Z', value: null }, { time: '2026-01-01T00:01:00Z', value: 9 }] },
      ],
    };
    const lines = metricLines(m);
    expect(lines.map((l) => l.name)).toEqual(['b', 'a']);
    expect(lines[0]!.data[0]![1]).toBeNull();
  });
  it('turns counts into a rate, the filling bucket by its elapsed time', () => {
    const t0 = 0;
    const rate = toRate([[t0, 600], [60_000, 300]], 60_000, 90_000);
    expect(rate).toEqual([[0, 10], [60_000, 10]]);
  });
});
