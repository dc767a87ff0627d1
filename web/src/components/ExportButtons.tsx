import { apiUrl } from '../api/client';
import { exportUrl } from '../lib/filters';
import { Icon } from './Icon';

/** CSV / NDJSON downloads of every row the current filters select. */
export function ExportButtons({
  path,
  query,
  supported = true,
}: {
  path: string;
  query: Record<string, string>;
  /** False when the server does not document `format` on this list yet. */
  supported?: boolean;
}) {
  if (!supported) {
    const why = 'This server does not offer exports of this list yet';
    return (
      <span className="row" role="group" aria-label="Export">
        <button type="button" className="small" disabled title={why}>
          <Icon name="download" size={14} /> CSV
        </button>
        <button type="button" className="small" disabled title={why}>
          <Icon name="download" size={14} /> NDJSON
        </button>
      </span>
    );
  }
  return (
    <span className="row" role="group" aria-label="Export">
      <a className="btn small" href={apiUrl(exportUrl(path, query, 'csv'))} download>
        <Icon name="download" size={14} /> CSV
      </a>
      <a className="btn small" href={apiUrl(exportUrl(path, query, 'ndjson'))} download>
        <Icon name="download" size={14} /> NDJSON
      </a>
    </span>
  );
}
