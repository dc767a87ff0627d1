import { Link } from 'react-router';
import { useCan } from '../api/auth';
import { useNow, usePipelines } from '../api/queries';
import type { Pipeline } from '../api/types';
import { DeadLetters } from '../components/DeadLetters';
import { PipelineBoard } from '../components/PipelineBoard';
import { Empty, QueryState } from '../components/States';
import { fmtAgo, fmtRate, fmtNum } from '../lib/format';

export default function Pipelines() {
  const q = usePipelines();
  const now = useNow(5000);
  // The dead letters are message bytes: events_read, like the events.
  const canReadEvents = useCan()('events_read');
  return (
    <>
      <section className="panel">
        <div className="panel-head">
          <h2>Status board</h2>
          <span className="hint">updates the moment a pipeline reports</span>
        </div>
        <div className="panel-body">
          <QueryState query={q}>
            {() =>
              q.data?.items.length ? <PipelineBoard items={q.data.items} now={now} /> : <Empty>No pipelines have reported yet.</Empty>
            }
          </QueryState>
        </div>
      </section>
      <section className="panel">
        <div className="panel-head">
          <h2>Pipelines</h2>
          <span className="hint mono">
            POST /api/v1/pipelines/&#123;name&#125;/events {'{"status": "running|done|success|error"}'}
          </span>
        </div>
        <QueryState query={q}>
          {() => (
            <div className="table-wrap">
              <table className="data" data-testid="pipelines-table">
                <thead>
                  <tr>
                    <th>Pipeline</th>
                    <th>Kind</th>
                    <th>Status</th>
                    <th>Recent</th>
                    <th className="num">Updates/min</th>
                    <th className="num">Updates</th>
                    <th>Last update</th>
                  </tr>
                </thead>
                <tbody>
                  {(q.data?.items ?? []).map((p) => (
                    <PipelineRow key={p.name} p={p} now={now} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryState>
      </section>
      {canReadEvents && <DeadLetters />}
    </>
  );
}

export function HistoryStrip({ p, max = 20 }: { p: Pipeline; max?: number }) {
  const items = p.history.slice(0, max).reverse();
  return (
    <span className="row" style={{ gap: 2, flexWrap: 'nowrap' }} aria-label={`Last ${items.length} statuses`}>
      {items.map((h, i) => (
        <span
          key={i}
          className="bubble-dot"
          data-status={h.status}
          title={`${h.status} at ${h.received_at}`}
          style={{ width: 8, height: 14, borderRadius: 2, boxShadow: 'none' }}
        />
      ))}
    </span>
  );
}

function PipelineRow({ p, now }: { p: Pipeline; now: number }) {
  return (
    <tr>
      <td className="mono">
        <Link to={`/pipelines/${encodeURIComponent(p.name)}`}>{p.name}</Link>
        {!p.configured && <span className="faint"> · unlisted</span>}
      </td>
      <td>{p.kind}</td>
      <td>
        <span className="row" style={{ gap: 6 }}>
          <span className="bubble-dot" data-status={p.status ?? 'none'} style={{ width: 10, height: 10, boxShadow: 'none' }} />
          {p.status ?? 'no updates'}
        </span>
      </td>
      <td>
        <HistoryStrip p={p} />
      </td>
      <td className="num mono">{fmtRate(p.updates_per_min)}</td>
      <td className="num mono">{fmtNum(p.updates_total)}</td>
      <td className="mono nowrap">{fmtAgo(p.last_update, now)}</td>
    </tr>
  );
}
