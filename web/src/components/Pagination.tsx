import { fmtNum } from '../lib/format';

export function Pagination({
  page,
  pageSize,
  total,
  onPage,
}: {
  page: number;
  pageSize: number;
  total: number;
  onPage: (p: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  return (
    <nav className="pager" aria-label="Pagination">
      <span className="mono">
        {fmtNum(first)}–{fmtNum(last)} of {fmtNum(total)}
      </span>
      <span className="spacer" />
      <button type="button" className="small" onClick={() => onPage(1)} disabled={page <= 1} aria-label="First page">
        «
      </button>
      <button type="button" className="small" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        Previous
      </button>
      <span>
        Page {fmtNum(page)} of {fmtNum(pages)}
      </span>
      <button type="button" className="small" onClick={() => onPage(page + 1)} disabled={page >= pages}>
        Next
      </button>
      <button
        type="button"
        className="small"
        onClick={() => onPage(pages)}
        disabled={page >= pages}
        aria-label="Last page"
      >
        »
      </button>
    </nav>
  );
}
