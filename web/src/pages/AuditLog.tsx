import { useCallback } from 'react';
import { useSearchParams } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { AuditEntry, Page } from '../api/types';
import { DebouncedInput } from '../components/DebouncedInput';
import { Pagination } from '../components/Pagination';
import { RequirePermission } from '../components/RequirePermission';
import { Empty, ErrorState, Loading } from '../components/States';
import { pageOf, writeFilters } from '../lib/filters';
import { fmtTime, humanize } from '../lib/format';

const PAGE_SIZE = 50;

export default function AuditLog() {
  return (
    <RequirePermission permission="audit_read">
      <AuditLogPage />
    </RequirePermission>
  );
}

function details(d: AuditEntry['details']): string {
  if (!d || Object.keys(d).length === 0) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function AuditLogPage() {
  const [params, setParams] = useSearchParams();
  const action = params.get('action') ?? '';
  const actor = params.get('actor') ?? '';
  const page = pageOf(params);
  const set = useCallback(
    (changes: Record<string, string>, opts?: { resetPage?: boolean }) => setParams((prev) => writeFilters(prev, changes, opts)),
    [setParams],
  );
  const log = useQuery({
    queryKey: ['audit-log', action, actor, page],
    queryFn: ({ signal }) =>
      api.get<Page<AuditEntry>>('/api/v1/audit-log', { page, page_size: PAGE_SIZE, action, actor }, signal),
    placeholderData: keepPreviousData,
  });

  return (
    <section className="panel">
      <div className="filters" role="search" aria-label="Audit log filters">
        <label className="field">
          Action
          <DebouncedInput value={action} onCommit={(v) => set({ action: v })} placeholder="login_failed" name="action" />
        </label>
        <label className="field">
          Actor
          <DebouncedInput value={actor} onCommit={(v) => set({ actor: v })} placeholder="username" name="actor" />
        </label>
        <span className="spacer" />
        <span className="hint faint" style={{ fontSize: 12, alignSelf: 'center' }}>
          sign-ins, account and key changes, rule changes
        </span>
      </div>
      {log.isPending ? (
        <Loading rows={8} />
      ) : log.isError ? (
        <ErrorState error={log.error} retry={() => void log.refetch()} />
      ) : log.data.items.length === 0 ? (
        <Empty>No audit entries match.</Empty>
      ) : (
        <>
          <div className="table-wrap" style={{ opacity: log.isPlaceholderData ? 0.6 : 1 }}>
            <table className="data" data-testid="audit-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Address</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {log.data.items.map((e) => (
                  <tr key={e.id}>
                    <td className="mono nowrap">{fmtTime(e.time)}</td>
                    <td className="mono nowrap">{e.actor ?? '—'}</td>
                    <td>
                      <button
                        type="button"
                        className="sort-btn"
                        title={`Only ${humanize(e.action)}`}
                        onClick={() => set({ action: e.action })}
                      >
                        <span className={`tag${e.action.includes('fail') || e.action.includes('denied') ? ' tag-bad' : ''}`}>{e.action}</span>
                      </button>
                    </td>
                    <td className="mono">{e.target ?? '—'}</td>
                    <td className="mono nowrap">{e.address ?? '—'}</td>
                    <td className="mono truncate faint" style={{ maxWidth: 0, width: '40%' }} title={details(e.details)}>
                      {details(e.details) || '—'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination page={page} pageSize={PAGE_SIZE} total={log.data.total} onPage={(p) => set({ page: String(p) }, { resetPage: false })} />
        </>
      )}
    </section>
  );
}
