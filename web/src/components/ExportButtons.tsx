import { exportUrl } from '../lib/filters';

/** CSV / NDJSON downloads of every row the current filters select. */
export function ExportButtons({ path, query }: { path: string; query: Record<string, string> }) {
  return (
    <span className="row" role="group" aria-label="Export">
      <a className="btn small" href={exportUrl(path, query, 'csv')} download>
        ⤓ CSV
      </a>
      <a className="btn small" href={exportUrl(path, query, 'ndjson')} download>
        ⤓ NDJSON
      </a>
    </span>
  );
}
