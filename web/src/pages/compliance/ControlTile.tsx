import { Link } from 'react-router';
import { SEVERITIES } from '../../api/types';
import { fmtAgo, fmtNum, fmtTime } from '../../lib/format';
import { STATUS_LABEL, controlPath, type Control, type ControlStatus } from './api';

export function ControlStatusBadge({ status }: { status: ControlStatus }) {
  return (
    <span className={`status control-${status}`} data-testid="control-status">
      {STATUS_LABEL[status]}
    </span>
  );
}

/** Open findings by severity, worst first; nothing when there are none. */
export function OpenBySeverity({ counts }: { counts: Record<string, number> }) {
  const shown = SEVERITIES.filter((s) => (counts[s] ?? 0) > 0);
  if (!shown.length) return <span className="faint none-open">No open findings</span>;
  return (
    <span className="count-badges" aria-label="Open findings by severity">
      {shown.map((s) => (
        <span key={s} className={`sev sev-${s}`} title={`${counts[s]} open ${s} findings`}>
          {fmtNum(counts[s])} {s === 'informational' ? 'info' : s}
        </span>
      ))}
    </span>
  );
}

/** One control as a tile of the grid: a link to its page, coloured by status. */
export function ControlTile({ control: c, now }: { control: Control; now: number }) {
  return (
    <Link
      to={controlPath(c.framework, c.id)}
      className="control-tile"
      data-status={c.status}
      data-control={c.key}
      aria-label={`${c.id} ${c.title}: ${STATUS_LABEL[c.status]}, ${c.open} open findings`}
    >
      <span className="control-tile-head">
        <span className="control-id mono">{c.id}</span>
        <ControlStatusBadge status={c.status} />
      </span>
      <span className="control-title">{c.title}</span>
      <OpenBySeverity counts={c.open_by_severity} />
      <span className="control-meta">
        <span title={c.last_evidence ? fmtTime(c.last_evidence) : undefined}>
          {c.last_evidence ? `Last evidence ${fmtAgo(c.last_evidence, now)}` : 'No evidence yet'}
        </span>
        <span>
          {c.monitored.length} of {c.mapped.length} {c.mapped.length === 1 ? 'rule or check' : 'rules and checks'} monitored
        </span>
      </span>
    </Link>
  );
}
