import { useState } from 'react';
import type { DeadLetter } from '../api/types';
import { useDeadLetters } from '../pages/alerts/api';
import { fmtNum, fmtTime } from '../lib/format';
import { JsonView } from './JsonView';
import { Pagination } from './Pagination';
import { Empty, QueryState } from './States';

const PAGE_SIZE = 20;

export function fmtBytes(n: number): string {
  if (n < 1024) return `${fmtNum(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function hasMeta(meta: unknown): boolean {
  return typeof meta === 'object' && meta !== null && Object.keys(meta).length > 0;
}

function DeadLetterRow({ d, open, toggle }: { d: DeadLetter; open: boolean; toggle: () => void }) {
  const clipped = d.preview.length < d.size;
  return (
    <>
      <tr className="clickable" onClick={toggle} data-dead-letter-id={d.id}>
        <td className="mono nowrap">{fmtTime(d.received_at)}</td>
        <td>
          <span className="tag">{d.source}</span>
        </td>
        <td className="mono truncate" style={{ maxWidth: 200 }} title={d.location}>
          {d.location}
        </td>
        <td className="truncate error-text" style={{ maxWidth: 280 }} title={d.reason}>
          {d.reason}
        </td>
        <td className="num mono nowrap">{fmtBytes(d.size)}</td>
        <td className="mono truncate faint" style={{ maxWidth: 0, width: '30%' }} title={d.preview}>
          {d.preview || '(empty)'}
        </td>
        <td className="nowrap">
          <button
            type="button"
            className="small"
            aria-expanded={open}
            aria-label={`${open ? 'Hide' : 'Show'} dead letter ${d.id}`}
            onClick={(e) => {
              e.stopPropagation();
              toggle();
            }}
          >
            {open ? 'Hide' : 'Show'}
          </button>
        </td>
      </tr>
      {open && (
        <tr className="expanded">
          <td colSpan={7}>
            <div className="stack" style={{ gap: 8 }} data-testid="dead-letter-detail">
              <div>
                <strong>Reason</strong>
                <div className="error-text" style={{ whiteSpace: 'pre-wrap' }}>
                  {d.reason}
                </div>
              </div>
              <div>
                <strong>Message</strong>
                {clipped && <span className="faint"> (first {fmtNum(d.preview.length)} characters of {fmtBytes(d.size)})</span>}
                <pre className="preview-text">{d.preview || '(empty)'}</pre>
              </div>
              {hasMeta(d.meta) && (
                <div>
                  <strong>Key, headers and details</strong>
                  <JsonView value={d.meta} />
                </div>
              )}
              <div>
                <a href={`data:application/octet-stream;base64,${d.raw_base64}`} download={`dead-letter-${d.id}.bin`}>
                  Download the raw bytes
                </a>
              </div>
            </div>
          </td>
        </tr>
      )}
    </>
  );
}

/**
 * Messages the broker sources could not ingest: counts per source, then the
 * most recent with their reason; a row opens the full preview.
 */
export function DeadLetters() {
  const [source, setSource] = useState('');
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<number | null>(null);
  const q = useDeadLetters(source, page, PAGE_SIZE);
  const counts = Object.entries(q.data?.counts ?? {});
  const total = counts.reduce((n, [, c]) => n + c, 0);
  const pick = (s: string) => {
    setSource(s);
    setPage(1);
  };

  return (
    <section className="panel" data-testid="dead-letters" aria-labelledby="dead-letters-title">
      <div className="panel-head" style={{ flexWrap: 'wrap' }}>
        <h2 id="dead-letters-title">Dead letters</h2>
        <div className="count-badges" role="group" aria-label="Dead letters per source" data-testid="dead-letter-counts">
          {counts.length > 0 && (
            <button type="button" className="small count-badge" aria-pressed={source === ''} onClick={() => pick('')}>
              all <span className="n">{fmtNum(total)}</span>
            </button>
          )}
          {counts.map(([s, n]) => (
            <button
              key={s}
              type="button"
              className={`small count-badge${n > 0 ? ' bad' : ''}`}
              aria-pressed={source === s}
              data-source={s}
              onClick={() => pick(source === s ? '' : s)}
            >
              {s} <span className="n">{fmtNum(n)}</span>
            </button>
          ))}
        </div>
        <span className="spacer" />
        <span className="hint">messages a source could not ingest, kept with their bytes</span>
      </div>
      <QueryState query={q} rows={3}>
        {() =>
          !q.data?.items.length ? (
            <Empty>
              {source
                ? `No dead letters from ${source}.`
                : 'No dead letters. A message a Kafka or RabbitMQ source cannot read lands here with the reason, and its partition or queue moves on.'}
            </Empty>
          ) : (
            <>
              <div className="table-wrap" style={{ opacity: q.isPlaceholderData ? 0.6 : 1 }}>
                <table className="data" data-testid="dead-letters-table">
                  <thead>
                    <tr>
                      <th>Received</th>
                      <th>Source</th>
                      <th>Location</th>
                      <th>Reason</th>
                      <th className="num">Size</th>
                      <th>Preview</th>
                      <th>
                        <span className="visually-hidden">Details</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {q.data.items.map((d) => (
                      <DeadLetterRow key={d.id} d={d} open={open === d.id} toggle={() => setOpen(open === d.id ? null : d.id)} />
                    ))}
                  </tbody>
                </table>
              </div>
              {q.data.total > PAGE_SIZE && <Pagination page={page} pageSize={PAGE_SIZE} total={q.data.total} onPage={setPage} />}
            </>
          )
        }
      </QueryState>
    </section>
  );
}
