import { Link } from 'react-router';
import type { Pipeline } from '../api/types';
import { fmtAgo } from '../lib/format';
import { statusLabel } from '../live/pipelines';

/** Coloured status bubbles, one per pipeline; the colour follows the last update. */
export function PipelineBoard({ items, now }: { items: Pipeline[]; now: number }) {
  return (
    <div className="board" data-testid="pipeline-board">
      {items.map((p) => (
        <Link
          key={p.name}
          to={`/pipelines/${encodeURIComponent(p.name)}`}
          className="bubble"
          data-pipeline={p.name}
          data-status={p.status ?? 'none'}
          title={`${p.name}: ${statusLabel(p.status)}`}
        >
          <span className="bubble-dot" data-status={p.status ?? 'none'} aria-hidden="true" />
          <span style={{ minWidth: 0 }}>
            <span className="bubble-name truncate" style={{ display: 'block' }}>
              {p.name}
            </span>
            <span className="bubble-meta">
              {statusLabel(p.status)}
              {p.last_update ? ` · ${fmtAgo(p.last_update, now)}` : ''}
            </span>
          </span>
        </Link>
      ))}
    </div>
  );
}
