import { Fragment, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { AlertNotification } from '../../api/types';
import { JsonView } from '../../components/JsonView';
import { fmtTime, humanize } from '../../lib/format';
import { messageOf } from './message';

export function NotificationStatus({ n }: { n: Pick<AlertNotification, 'status' | 'attempts' | 'last_error'> }) {
  return (
    <span className="stack" style={{ gap: 2 }}>
      <span className="row" style={{ gap: 6, flexWrap: 'nowrap' }}>
        <span className={`status status-${n.status}`}>{n.status}</span>
        <span className="faint mono nowrap" title="Delivery tries" style={{ fontSize: 11.5 }}>
          {n.attempts} {n.attempts === 1 ? 'try' : 'tries'}
        </span>
      </span>
      {n.last_error && (
        <span className="mono truncate error-text" style={{ fontSize: 11.5, maxWidth: 260 }} title={n.last_error}>
          {n.last_error}
        </span>
      )}
    </span>
  );
}

function FindingLinks({ ids }: { ids: number[] }) {
  if (!ids.length) return <span className="faint">—</span>;
  const shown = ids.slice(0, 4);
  return (
    <span className="row" style={{ gap: 4 }}>
      {shown.map((id) => (
        <Link key={id} to={`/findings/${id}`} className="mono" onClick={(e) => e.stopPropagation()}>
          #{id}
        </Link>
      ))}
      {ids.length > shown.length && <span className="faint">+{ids.length - shown.length}</span>}
    </span>
  );
}

/** The message as the receiver shows it, then the JSON that was sent. */
export function RenderedBody({ n }: { n: AlertNotification }) {
  const m = messageOf(n.body);
  return (
    <div className="stack notification-body" data-testid="notification-body">
      <div className="message-preview">
        <strong>{m.title || n.title}</strong>
        {m.text && <div style={{ whiteSpace: 'pre-wrap' }}>{m.text}</div>}
        {m.facts.length > 0 && (
          <dl className="kv" style={{ marginTop: 6 }}>
            {m.facts.map(([k, v], i) => (
              <Fragment key={`${k}-${i}`}>
                <dt>{k || '·'}</dt>
                <dd style={{ whiteSpace: 'pre-wrap' }}>{v}</dd>
              </Fragment>
            ))}
          </dl>
        )}
        {m.link && (
          <div className="mono" style={{ fontSize: 12, marginTop: 4 }}>
            {m.link}
          </div>
        )}
      </div>
      <details>
        <summary className="muted" style={{ cursor: 'pointer', fontSize: 12 }}>
          Request body as sent
        </summary>
        <JsonView value={n.body} />
      </details>
      {n.sent_at && <span className="faint" style={{ fontSize: 12 }}>Delivered {fmtTime(n.sent_at)}</span>}
    </div>
  );
}

/**
 * The notification history: time, kind, outcome with tries and the last
 * error, receiver, route, group and findings; a row opens the message
 * (which names the group).
 * `onFilter` makes kind, status and receiver clickable filters.
 */
export function NotificationTable({
  items,
  onFilter,
  compact = false,
}: {
  items: AlertNotification[];
  onFilter?: (key: 'kind' | 'status' | 'receiver' | 'route', value: string) => void;
  /** Without the group and findings columns (a finding's own page). */
  compact?: boolean;
}) {
  const [open, setOpen] = useState<number | null>(null);
  const cols = compact ? 6 : 8;
  const filterable = (key: 'kind' | 'status' | 'receiver' | 'route', value: string, child: ReactNode) =>
    onFilter && value ? (
      <button
        type="button"
        className="sort-btn"
        title={`Only ${humanize(value)}`}
        onClick={(e) => {
          e.stopPropagation();
          onFilter(key, value);
        }}
      >
        {child}
      </button>
    ) : (
      child
    );
  return (
    <div className="table-wrap">
      <table className="data" data-testid="notifications-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Kind</th>
            <th>Status</th>
            <th>Receiver</th>
            <th>Route</th>
            {!compact && <th>Group</th>}
            {!compact && <th>Findings</th>}
            <th>
              <span className="visually-hidden">Message</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((n) => {
            const isOpen = open === n.id;
            const toggle = () => setOpen(isOpen ? null : n.id);
            return (
              <Fragment key={n.id}>
                <tr className="clickable" data-notification-id={n.id} data-status={n.status} onClick={toggle}>
                  <td className="mono nowrap">{fmtTime(n.created_at)}</td>
                  <td>{filterable('kind', n.kind, <span className={`tag kind-${n.kind}`}>{humanize(n.kind)}</span>)}</td>
                  <td>
                    <NotificationStatus n={n} />
                  </td>
                  <td className="mono nowrap">{filterable('receiver', n.receiver, n.receiver)}</td>
                  <td className="mono nowrap">{n.route ? filterable('route', n.route, n.route) : <span className="faint">—</span>}</td>
                  {!compact && (
                    <td className="mono truncate" style={{ maxWidth: 220 }} title={n.group_key}>
                      {n.group_key || <span className="faint">—</span>}
                    </td>
                  )}
                  {!compact && (
                    <td>
                      <FindingLinks ids={n.finding_ids} />
                    </td>
                  )}
                  <td className="nowrap">
                    <button
                      type="button"
                      className="small"
                      aria-expanded={isOpen}
                      aria-label={`${isOpen ? 'Hide' : 'Show'} message of notification ${n.id}`}
                      onClick={(e) => {
                        e.stopPropagation();
                        toggle();
                      }}
                    >
                      {isOpen ? 'Hide' : 'Message'}
                    </button>
                  </td>
                </tr>
                {isOpen && (
                  <tr className="expanded">
                    <td colSpan={cols}>
                      <RenderedBody n={n} />
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
