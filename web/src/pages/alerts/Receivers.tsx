import { useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import { errorMessage } from '../../api/client';
import { useCan } from '../../api/auth';
import type { AlertNotification, AlertRoute, Receiver } from '../../api/types';
import { SeverityBadge } from '../../components/Badges';
import { Empty, QueryState } from '../../components/States';
import { useReceivers, useRoutes, useSendTest } from './api';
import { NotificationStatus } from './NotificationTable';

type Outcome = { ok: true; n: AlertNotification } | { ok: false; error: string };

function TestButton({ r }: { r: Receiver }) {
  const send = useSendTest();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  return (
    <div className="stack" style={{ gap: 4 }}>
      <div>
        <button
          type="button"
          className="small"
          disabled={send.isPending}
          aria-label={`Send test to ${r.name}`}
          onClick={() => {
            setOutcome(null);
            send.mutate(r.name, {
              onSuccess: (n) => setOutcome({ ok: true, n }),
              onError: (e) => setOutcome({ ok: false, error: errorMessage(e) }),
            });
          }}
        >
          {send.isPending ? 'Sending…' : 'Send test'}
        </button>
      </div>
      {outcome && (
        <div data-testid={`test-outcome-${r.name}`} role="status">
          {outcome.ok ? (
            <span className="row" style={{ gap: 6 }}>
              <NotificationStatus n={outcome.n} />
              <Link to={`/alerts?kind=test&receiver=${encodeURIComponent(r.name)}`} style={{ fontSize: 12 }}>
                in history
              </Link>
            </span>
          ) : (
            <span className="error-text" style={{ fontSize: 12 }}>
              {outcome.error}
            </span>
          )}
        </div>
      )}
    </div>
  );
}

function ReceiversTable({ items, canTest }: { items: Receiver[]; canTest: boolean }) {
  return (
    <div className="table-wrap">
      <table className="data" data-testid="receivers-table">
        <thead>
          <tr>
            <th>Receiver</th>
            <th>Type</th>
            <th>Target</th>
            <th>Signed</th>
            <th className="num">Retries</th>
            <th>Timeout</th>
            <th>Routes</th>
            {canTest && <th>Test</th>}
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.name} data-receiver={r.name}>
              <td className="mono nowrap">
                <Link to={`/alerts?receiver=${encodeURIComponent(r.name)}`} title="Its notifications">
                  {r.name}
                </Link>
              </td>
              <td>
                <span className={`tag receiver-${r.type}`}>{r.type}</span>
              </td>
              <td className="mono" title="Only the scheme and host are shown: the rest of the URL carries tokens">
                {r.url || <span className="faint">no URL</span>}
              </td>
              <td>{r.type === 'webhook' ? (r.signed ? 'HMAC-SHA256' : <span className="faint">no</span>) : <span className="faint">—</span>}</td>
              <td className="num mono">{r.max_retries}</td>
              <td className="mono">{r.timeout}</td>
              <td>
                {r.routes.length ? (
                  r.routes.map((x) => (
                    <span key={x} className="tag">
                      {x}
                    </span>
                  ))
                ) : (
                  <span className="faint">tests only</span>
                )}
              </td>
              {canTest && (
                <td style={{ minWidth: 150 }}>
                  <TestButton r={r} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Conditions({ r }: { r: AlertRoute }) {
  const parts: ReactNode[] = [];
  if (r.min_severity)
    parts.push(
      <span key="sev" className="row" style={{ gap: 4 }}>
        <SeverityBadge severity={r.min_severity} />
        <span className="faint">or above</span>
      </span>,
    );
  const list = (label: string, xs: string[]) => {
    if (xs.length === 0) return;
    parts.push(
      <span key={label}>
        <span className="faint">{label} </span>
        {xs.map((x) => (
          <span key={x} className="tag">
            {x}
          </span>
        ))}
      </span>,
    );
  };
  list('rule', r.rules);
  list('service', r.services);
  list('tag', r.tags);
  if (!parts.length) return <span className="faint">every finding</span>;
  return (
    <span className="row" style={{ gap: 8 }}>
      {parts}
    </span>
  );
}

function RoutesTable({ items }: { items: AlertRoute[] }) {
  return (
    <div className="table-wrap">
      <table className="data" data-testid="routes-table">
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Route</th>
            <th>Matches</th>
            <th>Receivers</th>
            <th>Then</th>
            <th>Group by</th>
            <th title="group wait / group interval / repeat interval">Timings</th>
          </tr>
        </thead>
        <tbody>
          {items.map((r, i) => (
            <tr key={r.name} data-route={r.name}>
              <td className="num mono faint">{i + 1}</td>
              <td className="mono nowrap">
                <Link to={`/alerts?route=${encodeURIComponent(r.name)}`} title="Its notifications">
                  {r.name}
                </Link>
              </td>
              <td>
                <Conditions r={r} />
              </td>
              <td>
                {r.receivers.map((x) => (
                  <span key={x} className="tag">
                    {x}
                  </span>
                ))}
              </td>
              <td className="nowrap">{r.continue ? 'try the next routes' : <span className="faint">stop</span>}</td>
              <td className="mono">{r.group_by.join(', ') || '—'}</td>
              <td className="mono nowrap" title="group wait / group interval / repeat interval">
                {r.group_wait} / {r.group_interval} / {r.repeat_interval}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Receivers() {
  const receivers = useReceivers();
  const routes = useRoutes();
  const canTest = useCan()('findings_write');
  return (
    <>
      <section className="panel">
        <div className="panel-head">
          <h2>Receivers</h2>
          <span className="hint">from [[alerts.receivers]] in the config file</span>
        </div>
        <QueryState query={receivers} rows={3}>
          {() =>
            receivers.data?.length ? (
              <ReceiversTable items={receivers.data} canTest={canTest} />
            ) : (
              <Empty>No receivers are configured. Add [[alerts.receivers]] (discord, slack or webhook) to the config file.</Empty>
            )
          }
        </QueryState>
      </section>
      <section className="panel">
        <div className="panel-head">
          <h2>Routes</h2>
          <span className="hint">tried in order; the first match wins unless it continues</span>
        </div>
        <QueryState query={routes} rows={3}>
          {() =>
            routes.data?.length ? (
              <RoutesTable items={routes.data} />
            ) : (
              <Empty>No routes are configured: findings notify no one. Add [[alerts.routes]] to the config file.</Empty>
            )
          }
        </QueryState>
      </section>
    </>
  );
}
