import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ApiError, api } from '../api/client';
import type { MetricFields, MetricSeries } from '../api/types';
import { Chart, baseOption, type ChartColors } from '../components/Chart';
import { Empty, ErrorState, Loading } from '../components/States';
import { writeFilters } from '../lib/filters';
import { fmtCompact, fmtNum, fmtRate, humanize } from '../lib/format';
import { metricLines } from '../lib/series';
import { BUCKET_MS, bucketFor, isRelative, rangeParams, resolveRange, type Bucket } from '../lib/timeRange';
import { useTimeRange } from '../lib/useTimeRange';

const AGGS = ['avg', 'sum', 'count', 'min', 'max', 'p50', 'p95', 'p99'] as const;
const GROUPS = ['none', 'service', 'metric_name', 'source_id'] as const;
const FALLBACK_FIELDS = ['cpu', 'latency_ms', 'amount', 'value'];

export default function Explore() {
  const [params, setParams] = useSearchParams();
  const [range] = useTimeRange();
  const field = params.get('field') || 'cpu';
  const agg = params.get('agg') || 'avg';
  const groupBy = params.get('group_by') || 'service';
  const span = useMemo(() => {
    const r = resolveRange(range);
    return r.to - r.from;
  }, [range]);
  const bucket = (params.get('bucket') as Bucket | null) || bucketFor(span);
  const live = isRelative(range);
  const set = useCallback((c: Record<string, string>) => setParams((p) => writeFilters(p, c)), [setParams]);

  const fields = useQuery({
    queryKey: ['metric-fields'],
    queryFn: ({ signal }) => api.get<MetricFields>('/api/v1/metrics/fields', undefined, signal),
    staleTime: 60_000,
    retry: false,
  });
  const series = useQuery({
    queryKey: ['metric-series', field, agg, groupBy, bucket, range],
    queryFn: ({ signal }) =>
      api.get<MetricSeries>('/api/v1/metrics/series', { field, agg, group_by: groupBy, bucket, ...rangeParams(range) }, signal),
    placeholderData: keepPreviousData,
    // A live range refetches once per bucket (at most every 15 s, at least every minute).
    refetchInterval: live ? Math.max(15_000, Math.min(BUCKET_MS[bucket], 60_000)) : false,
  });

  const lines = useMemo(() => (series.data ? metricLines(series.data) : []), [series.data]);
  const build = useCallback(
    (c: ChartColors) => ({
      ...baseOption(c),
      legend: { ...(baseOption(c).legend as object), type: 'plain', show: lines.length > 1 },
      grid: { left: 8, right: 16, top: lines.length > 1 ? 44 : 16, bottom: 8, containLabel: true },
      xAxis: { type: 'time', axisLabel: { color: c.text, hideOverlap: true }, axisLine: { lineStyle: { color: c.border } } },
      yAxis: { type: 'value', axisLabel: { color: c.text, formatter: (v: number) => fmtCompact(v) }, splitLine: { lineStyle: { color: c.border } } },
      series: lines.map((l) => ({ name: l.name, type: 'line', showSymbol: false, connectNulls: false, data: l.data, lineStyle: { width: 1.5 } })),
    }),
    [lines],
  );

  const fieldList = fields.data?.fields ?? FALLBACK_FIELDS;
  return (
    <>
      <section className="panel">
        <div className="filters" role="group" aria-label="Query">
          <label className="field">
            Field
            <select value={field} onChange={(e) => set({ field: e.target.value })}>
              {(fieldList.includes(field) ? fieldList : [field, ...fieldList]).map((f) => (
                <option key={f}>{f}</option>
              ))}
            </select>
          </label>
          <label className="field">
            Aggregation
            <select value={agg} onChange={(e) => set({ agg: e.target.value })}>
              {AGGS.map((a) => (
                <option key={a}>{a}</option>
              ))}
            </select>
          </label>
          <label className="field">
            Group by
            <select value={groupBy} onChange={(e) => set({ group_by: e.target.value })}>
              {GROUPS.map((g) => (
                <option key={g} value={g}>
                  {g === 'none' ? 'nothing' : g}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            Bucket
            <select value={bucket} onChange={(e) => set({ bucket: e.target.value })}>
              {(['minute', 'hour', 'day'] as const).map((b) => (
                <option key={b}>{b}</option>
              ))}
            </select>
          </label>
          <span className="spacer" />
          <span className="hint faint" style={{ fontSize: 12 }}>
            {live ? 'live · refreshes each bucket' : 'fixed range'}
          </span>
        </div>
        <div className="panel-body">
          {series.isPending ? (
            <Loading rows={6} />
          ) : series.isError ? (
            <>
              <ErrorState error={series.error} retry={() => void series.refetch()} />
              {series.error instanceof ApiError && series.error.code === 'route_not_found' && (
                <p className="faint" style={{ textAlign: 'center', marginTop: 0 }}>
                  This server does not offer the metrics explorer yet (GET /api/v1/metrics/series).
                </p>
              )}
            </>
          ) : lines.every((l) => l.data.every((p) => p[1] === null)) ? (
            <Empty>
              No <span className="mono">{field}</span> values in this range.
            </Empty>
          ) : (
            <Chart build={build} className="chart tall" label={`${agg} of ${field} by ${groupBy}`} />
          )}
        </div>
      </section>
      {series.data && lines.length > 0 && (
        <section className="panel">
          <div className="panel-head">
            <h2>Series</h2>
            <span className="hint">
              {agg}({field}) per {series.data.bucket_seconds}s
              {(series.data.groups_total ?? series.data.series.length) > lines.length
                ? ` · the ${lines.length} largest of ${series.data.groups_total ?? series.data.series.length} groups`
                : ''}
            </span>
          </div>
          <div className="table-wrap">
            <table className="data">
              <thead>
                <tr>
                  <th>{groupBy === 'none' ? 'Series' : humanize(groupBy)}</th>
                  <th className="num">Buckets with data</th>
                  <th className="num">Min</th>
                  <th className="num">Max</th>
                  <th className="num">Last</th>
                </tr>
              </thead>
              <tbody>
                {lines.map((l) => {
                  const vals = l.data.map((p) => p[1]).filter((v): v is number => v !== null);
                  return (
                    <tr key={l.name}>
                      <td className="mono">{l.name}</td>
                      <td className="num mono">{fmtNum(vals.length)}</td>
                      <td className="num mono">{vals.length ? fmtRate(Math.min(...vals)) : '—'}</td>
                      <td className="num mono">{vals.length ? fmtRate(Math.max(...vals)) : '—'}</td>
                      <td className="num mono">{vals.length ? fmtRate(vals[vals.length - 1]!) : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}
