import { useCallback, useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { usePipelines } from '../api/queries';
import type { Pipeline } from '../api/types';
import { Chart, baseOption, type ChartColors } from '../components/Chart';
import { JsonView } from '../components/JsonView';
import { Empty, QueryState } from '../components/States';
import { fmtCompact, fmtNum, fmtRate, fmtTime } from '../lib/format';

/** Updates per minute over the history we have, oldest first. */
export function throughput(p: Pipeline): [number, number][] {
  const counts = new Map<number, number>();
  for (const h of p.history) {
    const t = Math.floor(Date.parse(h.received_at) / 60_000) * 60_000;
    if (!Number.isNaN(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  if (!counts.size) return [];
  const keys = [...counts.keys()];
  const first = Math.min(...keys);
  const last = Math.max(...keys);
  const out: [number, number][] = [];
  for (let t = first; t <= last; t += 60_000) out.push([t, counts.get(t) ?? 0]);
  return out;
}

export default function PipelineDetail() {
  const { name = '' } = useParams();
  usePipelines(); // keeps the live listener that also updates this pipeline's cache
  const q = useQuery({
    queryKey: ['pipeline', name],
    queryFn: ({ signal }) =>
      api.get<Pipeline>(`/api/v1/pipelines/${encodeURIComponent(name)}`, { limit: 500 }, signal),
    refetchInterval: 30_000,
  });
  const points = useMemo(() => (q.data ? throughput(q.data) : []), [q.data]);
  const build = useCallback(
    (c: ChartColors) => ({
      ...baseOption(c),
      legend: { show: false },
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      // The last hour, or the span of the history when it is longer.
      xAxis: {
        type: 'time',
        min: Math.min(points[0]?.[0] ?? Infinity, Math.floor(Date.now() / 60_000) * 60_000 - 59 * 60_000),
        max: Math.floor(Date.now() / 60_000) * 60_000 + 60_000,
        axisLabel: { color: c.text, hideOverlap: true },
        axisLine: { lineStyle: { color: c.border } },
      },
      yAxis: { type: 'value', minInterval: 1, axisLabel: { color: c.text, formatter: (v: number) => fmtCompact(v) }, splitLine: { lineStyle: { color: c.border } } },
      series: [{ name: 'Updates', type: 'bar', data: points, itemStyle: { color: c.accent }, barMaxWidth: 14 }],
    }),
    [points],
  );
  return (
    <>
      <div className="row">
        <Link to="/pipelines">← Pipelines</Link>
      </div>
      <QueryState query={q} rows={6}>
        {() => {
          const p = q.data!;
          return (
            <>
              <section className="panel">
                <div className="panel-head">
                  <span className="bubble-dot" data-status={p.status ?? 'none'} aria-hidden="true" />
                  <h2 className="mono" style={{ fontSize: 15 }}>
                    {p.name}
                  </h2>
                  <span className="muted">{p.status ?? 'no updates'}</span>
                </div>
                <div className="panel-body">
                  <dl className="kv">
                    <dt>Kind</dt>
                    <dd>
                      {p.kind}
                      {p.configured ? ' · configured' : ' · not in the configured list'}
                    </dd>
                    <dt>Last update</dt>
                    <dd className="mono">{fmtTime(p.last_update)}</dd>
                    <dt>Updates</dt>
                    <dd className="mono">
                      {fmtNum(p.updates_total)} total · {fmtRate(p.updates_per_min)}/min
                    </dd>
                  </dl>
                </div>
              </section>
              <div className="grid-2">
                <section className="panel">
                  <div className="panel-head">
                    <h2>Throughput</h2>
                    <span className="hint">updates per minute, from the last {fmtNum(p.history.length)} updates</span>
                  </div>
                  <div className="panel-body">
                    {points.length ? <Chart build={build} className="chart small" label="Updates per minute" /> : <Empty>No updates yet.</Empty>}
                  </div>
                </section>
                <section className="panel">
                  <div className="panel-head">
                    <h2>Last payload</h2>
                  </div>
                  <div className="panel-body">{p.last_payload ? <JsonView value={p.last_payload} /> : <Empty>None.</Empty>}</div>
                </section>
              </div>
              <section className="panel">
                <div className="panel-head">
                  <h2>Status history</h2>
                  <span className="hint">newest first · {fmtNum(p.history.length)} shown</span>
                </div>
                {p.history.length === 0 ? (
                  <Empty>No updates yet.</Empty>
                ) : (
                  <div className="table-wrap" style={{ maxHeight: 480, overflowY: 'auto' }}>
                    <table className="data">
                      <thead>
                        <tr>
                          <th>Received</th>
                          <th>Status</th>
                          <th>Payload</th>
                        </tr>
                      </thead>
                      <tbody>
                        {p.history.map((h, i) => (
                          <tr key={`${h.received_at}-${i}`}>
                            <td className="mono nowrap">{fmtTime(h.received_at)}</td>
                            <td>
                              <span className="row" style={{ gap: 6 }}>
                                <span className="bubble-dot" data-status={h.status} style={{ width: 10, height: 10, boxShadow: 'none' }} />
                                {h.status}
                              </span>
                            </td>
                            <td className="mono truncate" style={{ maxWidth: 640, fontSize: 12 }}>
                              {JSON.stringify(h.payload)}
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                )}
              </section>
            </>
          );
        }}
      </QueryState>
    </>
  );
}
