import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useLiveStats, useNow, usePipelines } from '../api/queries';
import type { Finding, LiveFinding, LiveStats, Overview as OverviewData, Page, Rule, ServicePage, Timeline } from '../api/types';
import { SEVERITIES } from '../api/types';
import { Chart, baseOption, type ChartColors } from '../components/Chart';
import { LiveFeed, useFeed } from '../components/LiveFeed';
import { PipelineBoard } from '../components/PipelineBoard';
import { SeverityBadge } from '../components/Badges';
import { Empty, QueryState } from '../components/States';
import { fmtAgo, fmtCompact, fmtDuration, fmtNum, fmtRate } from '../lib/format';
import { eventsSeries, mergeLive, severityCounts, toRate, type XY } from '../lib/series';
import { BUCKET_MS, bucketFor, isRelative, rangeParams, resolveRange } from '../lib/timeRange';
import { useTimeRange } from '../lib/useTimeRange';
import { useLiveEvent } from '../live/socket';

const FEED_CAP = 50;

export default function Overview() {
  const [range] = useTimeRange();
  const qc = useQueryClient();
  const now = useNow(5000);
  const live = isRelative(range);
  const span = useMemo(() => {
    const r = resolveRange(range);
    return r.to - r.from;
  }, [range]);
  const bucket = bucketFor(span);
  const bucketMs = BUCKET_MS[bucket];

  const overview = useQuery({
    queryKey: ['overview', range],
    queryFn: ({ signal }) => api.get<OverviewData>('/api/v1/dashboard/overview', rangeParams(range), signal),
    refetchInterval: live ? 15_000 : false,
  });
  const timeline = useQuery({
    queryKey: ['timeline', range, bucket],
    queryFn: ({ signal }) =>
      api.get<Timeline>('/api/v1/dashboard/timeline', { ...rangeParams(range), bucket }, signal),
    refetchInterval: live ? Math.min(bucketMs, 60_000) : false,
  });
  const services = useQuery({
    queryKey: ['services', range],
    queryFn: ({ signal }) =>
      api.get<ServicePage>('/api/v1/dashboard/services', { ...rangeParams(range), page_size: 10 }, signal),
    refetchInterval: live ? 30_000 : false,
  });
  const rules = useQuery({
    queryKey: ['rules'],
    queryFn: ({ signal }) => api.get<{ items: Rule[]; total: number }>('/api/v1/rules', undefined, signal),
    staleTime: 60_000,
  });
  const { latest: stats, receivedAt: statsAt } = useLiveStats(1);
  const openFindings = useQuery({
    queryKey: ['findings', 'open-count'],
    queryFn: async ({ signal }) => {
      const counts: Record<string, number> = {};
      await Promise.all(
        SEVERITIES.map(async (s) => {
          const p = await api.get<Page<Finding>>(
            '/api/v1/findings',
            { status: 'open', severity: s, page_size: 1 },
            signal,
          );
          counts[s] = p.total;
        }),
      );
      return counts;
    },
    // The live stats carry these counts every second; poll only without them.
    refetchInterval: stats ? false : 30_000,
  });
  const pipelines = usePipelines();

  // Live feed of findings: seeded with the latest, then every `finding` message.
  const feed = useFeed<Finding>((f) => f.id, FEED_CAP);
  const recent = useQuery({
    queryKey: ['findings', 'recent'],
    queryFn: ({ signal }) =>
      api.get<Page<Finding>>('/api/v1/findings', { sort: 'last_seen', order: 'desc', page_size: 20 }, signal),
    staleTime: Infinity,
  });
  const { reset, push } = feed;
  useEffect(() => {
    if (recent.data) reset(recent.data.items);
  }, [recent.data, reset]);
  // New findings also move the severity chart and the cards: refetch those,
  // at most every 3 s however many findings arrive.
  const lastRefresh = useRef(0);
  useLiveEvent<LiveFinding>('finding', (f) => {
    push([f]);
    const t = Date.now();
    if (f.change === 'created' && t - lastRefresh.current > 3000) {
      lastRefresh.current = t;
      void qc.invalidateQueries({ queryKey: ['overview'] });
      void qc.invalidateQueries({ queryKey: ['findings', 'open-count'] });
    }
  });
  useLiveEvent('findings_summary', () => {
    void qc.invalidateQueries({ queryKey: ['findings'] });
    void qc.invalidateQueries({ queryKey: ['overview'] });
  });

  // Events over time extends live: each stats tick adds its events/s to the current bucket.
  // The live counts belong to one fetch of the timeline; a refetch starts them over.
  const [liveBuckets, setLiveBuckets] = useState<{ at: number; map: Map<number, number> }>(() => ({ at: 0, map: new Map() }));
  const lastTick = useRef<number | null>(null);
  const fetchedAt = timeline.dataUpdatedAt;
  useLiveEvent<LiveStats>('stats', (s) => {
    if (!live) return;
    const t = Date.parse(s.time);
    if (Number.isNaN(t) || lastTick.current === t) return;
    lastTick.current = t;
    const start = Math.floor(t / bucketMs) * bucketMs;
    setLiveBuckets((prev) => {
      const next = new Map(prev.at === fetchedAt ? prev.map : undefined);
      next.set(start, (next.get(start) ?? 0) + s.events_per_sec_total);
      // Keep only the buckets the chart can show.
      for (const k of next.keys()) if (k < t - span) next.delete(k);
      return { at: fetchedAt, map: next };
    });
  });

  // The server's clock when live stats arrive (every second), else ours.
  const clock = stats ? Date.parse(stats.time) : now;
  const eventPoints: XY[] = useMemo(() => {
    if (!timeline.data) return [];
    const base = eventsSeries(timeline.data);
    const map = liveBuckets.at === fetchedAt ? liveBuckets.map : new Map<number, number>();
    const counts = live ? mergeLive(base, map, Math.ceil(span / bucketMs) + 2) : base;
    // Plotted as a rate, so the bucket still filling does not look like a drop.
    return toRate(counts, bucketMs, clock);
  }, [timeline.data, liveBuckets, fetchedAt, live, span, bucketMs, clock]);

  const buildEvents = useCallback(
    (c: ChartColors) => ({
      ...baseOption(c),
      legend: { show: false },
      xAxis: {
        type: 'time',
        axisLine: { lineStyle: { color: c.border } },
        axisLabel: { color: c.text, hideOverlap: true },
        splitLine: { show: false },
      },
      yAxis: {
        type: 'value',
        axisLabel: { color: c.text, formatter: (v: number) => fmtCompact(v) },
        splitLine: { lineStyle: { color: c.border } },
      },
      series: [
        {
          name: 'Events/s',
          type: 'line',
          showSymbol: false,
          data: eventPoints,
          lineStyle: { width: 1.6, color: c.accent },
          itemStyle: { color: c.accent },
          areaStyle: { color: c.accent, opacity: 0.12 },
        },
      ],
    }),
    [eventPoints],
  );

  const sevData = severityCounts(overview.data?.findings_by_severity);
  const buildSeverity = useCallback(
    (c: ChartColors) => ({
      ...baseOption(c),
      legend: { show: false },
      tooltip: { ...(baseOption(c).tooltip as object), trigger: 'item' },
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      xAxis: {
        type: 'category',
        data: sevData.map((d) => (d.severity === 'informational' ? 'info' : d.severity)),
        axisLabel: { color: c.text, interval: 0 },
        axisLine: { lineStyle: { color: c.border } },
        axisTick: { show: false },
      },
      yAxis: {
        type: 'value',
        minInterval: 1,
        axisLabel: { color: c.text, formatter: (v: number) => fmtCompact(v) },
        splitLine: { lineStyle: { color: c.border } },
      },
      series: [
        {
          name: 'Findings',
          type: 'bar',
          barMaxWidth: 48,
          data: sevData.map((d) => ({ value: d.count, itemStyle: { color: c.sev[d.severity], borderRadius: [3, 3, 0, 0] } })),
        },
      ],
    }),
    // sevData is derived from the overview data; rebuild when it changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [overview.data],
  );

  // The newer of the live counts and the list's (refetched when a finding arrives).
  const openCounts =
    stats && (!openFindings.data || statsAt >= openFindings.dataUpdatedAt) ? stats.open_findings : openFindings.data;
  const openTotal = openCounts ? Object.values(openCounts).reduce((a, b) => a + b, 0) : null;
  const eventsTotal = stats?.events_total ?? overview.data?.total_events;
  const rulesLoaded = stats?.rules_loaded ?? rules.data?.total;

  return (
    <>
      <section className="cards" aria-label="Summary">
        <div className="panel card" data-testid="card-events">
          <span className="card-label">Events</span>
          <span className="card-value">{fmtNum(eventsTotal)}</span>
          <span className="card-sub">
            {stats ? `${fmtRate(stats.events_per_sec_total)} events/s live` : 'live rate: waiting for the server'}
            {overview.data && ` · ${fmtNum(overview.data.events_in_window)} in range`}
          </span>
        </div>
        <div className="panel card" data-testid="card-open">
          <span className="card-label">Open findings</span>
          <span className="card-value">{fmtNum(openTotal)}</span>
          <span className="card-sub row" style={{ gap: 4 }}>
            {openCounts &&
              SEVERITIES.filter((s) => (openCounts[s] ?? 0) > 0).map((s) => (
                <Link
                  key={s}
                  to={`/findings?status=open&severity=${s}`}
                  title={`${fmtNum(openCounts[s])} open ${s} findings`}
                  className={`sev sev-${s}`}
                  style={{ textTransform: 'none' }}
                >
                  <span className="mono">{fmtNum(openCounts[s])}</span>
                  <span>{s === 'informational' ? 'info' : s}</span>
                </Link>
              ))}
            {openCounts && openTotal === 0 && 'none open'}
          </span>
        </div>
        <div className="panel card" data-testid="card-rules">
          <span className="card-label">Rules loaded</span>
          <span className="card-value">{fmtNum(rulesLoaded)}</span>
          <span className="card-sub">
            {rules.data
              ? `${rules.data.items.filter((r) => r.enabled === false).length} switched off`
              : ' '}
          </span>
        </div>
        <div className="panel card" data-testid="card-lag">
          <span className="card-label">Ingest lag</span>
          <span className="card-value">{stats ? fmtDuration(stats.detection_lag_ms) : '—'}</span>
          <span className="card-sub">
            {stats
              ? `${fmtNum(stats.detection_lag_events)} events behind · queue ${fmtNum(stats.queue_depth)}/${fmtNum(stats.queue_capacity)}`
              : 'waiting for live stats'}
          </span>
        </div>
      </section>

      <section className="grid-main-side">
        <div className="panel">
          <div className="panel-head">
            <h2>Events over time</h2>
            <span className="hint">
              events/s, averaged per {bucket}
              {live ? ' · live' : ''}
            </span>
          </div>
          <div className="panel-body">
            <QueryState query={timeline}>
              {() =>
                eventPoints.length ? (
                  <Chart
                    build={buildEvents}
                    label="Events over time"
                    total={eventPoints.reduce((a, p) => a + (p[1] ?? 0), 0)}
                  />
                ) : (
                  <Empty>No events in this range.</Empty>
                )
              }
            </QueryState>
          </div>
        </div>
        <div className="panel">
          <div className="panel-head">
            <h2>New findings by severity</h2>
            <span className="hint">{overview.data ? `${fmtNum(overview.data.findings_in_window)} in range` : ''}</span>
          </div>
          <div className="panel-body">
            <QueryState query={overview}>
              {() => <Chart
                  build={buildSeverity}
                  label="Findings by severity"
                  total={sevData.reduce((a, d) => a + d.count, 0)}
                />}
            </QueryState>
          </div>
        </div>
      </section>

      <section className="grid-main-side">
        <div className="panel">
          <div className="panel-head">
            <h2>Pipelines</h2>
            <Link to="/pipelines" className="hint">
              All pipelines →
            </Link>
          </div>
          <div className="panel-body board-scroll">
            <QueryState query={pipelines}>
              {() =>
                pipelines.data?.items.length ? (
                  <PipelineBoard items={pipelines.data.items} now={now} />
                ) : (
                  <Empty>No pipelines have reported yet.</Empty>
                )
              }
            </QueryState>
          </div>
        </div>
        <div className="panel">
          <div className="panel-head">
            <h2>Live findings</h2>
            <span className="hint">newest first · last {FEED_CAP}</span>
          </div>
          <div className="panel-body flush">
            <QueryState query={recent}>
              {() => (
                <LiveFeed
                  label="Live findings"
                  state={feed.state}
                  dispatch={feed.dispatch}
                  rowKey={(f) => f.id}
                  empty={<Empty>No findings yet. New ones appear here as they are detected.</Empty>}
                  renderRow={(f) => <FeedRow f={f} now={now} />}
                />
              )}
            </QueryState>
          </div>
        </div>
      </section>

      <section className="panel">
        <div className="panel-head">
          <h2>Services</h2>
          <span className="hint">most findings first</span>
        </div>
        <div className="panel-body flush">
          <QueryState query={services}>
            {() =>
              services.data?.items.length ? (
                <div className="table-wrap">
                  <table className="data">
                    <thead>
                      <tr>
                        <th>Service</th>
                        <th className="num">Events</th>
                        <th className="num">Findings</th>
                        <th>By severity</th>
                        <th>Last finding</th>
                      </tr>
                    </thead>
                    <tbody>
                      {services.data.items.map((s) => (
                        <tr key={s.service}>
                          <td className="mono">
                            <Link to={`/findings?service=${encodeURIComponent(s.service)}`}>{s.service}</Link>
                          </td>
                          <td className="num mono">{fmtNum(s.events)}</td>
                          <td className="num mono">{fmtNum(s.findings)}</td>
                          <td>
                            <span className="row" style={{ gap: 4 }}>
                              {SEVERITIES.filter((sev) => (s.findings_by_severity[sev] ?? 0) > 0).map((sev) => (
                                <span key={sev} className={`sev sev-${sev}`} title={sev}>
                                  {fmtNum(s.findings_by_severity[sev])}
                                </span>
                              ))}
                            </span>
                          </td>
                          <td className="mono nowrap" title={s.last_finding_at ?? ''}>
                            {s.last_finding_at ? fmtAgo(s.last_finding_at, now) : '—'}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <Empty>No service sent events in this range.</Empty>
              )
            }
          </QueryState>
        </div>
      </section>
    </>
  );
}

function FeedRow({ f, now }: { f: Finding; now: number }) {
  const who = f.user ?? f.service ?? Object.values(f.group)[0];
  return (
    <Link to={`/findings/${f.id}`} className="feed-item" style={{ color: 'inherit' }} data-finding-id={f.id}>
      <SeverityBadge severity={f.severity} />
      <span style={{ minWidth: 0 }}>
        <span className="title truncate" style={{ display: 'block' }}>
          {f.rule_title}
        </span>
        <span className="sub truncate" style={{ display: 'block' }}>
          <span className="mono">{f.rule_id}</span>
          {who ? ` · ${who}` : ''} · {fmtNum(f.event_count)} events
        </span>
      </span>
      <span className="sub mono nowrap" title={f.last_seen}>
        {fmtAgo(f.updated_at ?? f.last_seen, now)}
      </span>
    </Link>
  );
}
