import { useCallback } from 'react';
import { useSearchParams } from 'react-router';
import { NOTIFICATION_KINDS, NOTIFICATION_STATUSES } from '../../api/types';
import { DebouncedInput } from '../../components/DebouncedInput';
import { Pagination } from '../../components/Pagination';
import { Empty, ErrorState, Loading } from '../../components/States';
import { apiQuery, pageOf, readFilters, writeFilters } from '../../lib/filters';
import { humanize } from '../../lib/format';
import { useNotifications, useReceivers } from './api';
import { NotificationTable } from './NotificationTable';

const PAGE_SIZE = 50;

const SPEC = { q: 'string', receiver: 'string', route: 'string', status: 'string', kind: 'string', finding_id: 'string' } as const;

/** Every notification decided, with its outcome; the filters live in the URL. */
export function Notifications() {
  const [params, setParams] = useSearchParams();
  const f = readFilters(SPEC, params);
  const page = pageOf(params);
  const set = useCallback(
    (changes: Record<string, string>, opts?: { resetPage?: boolean }) => setParams((prev) => writeFilters(prev, changes, opts)),
    [setParams],
  );
  const receivers = useReceivers();
  const list = useNotifications(apiQuery(f), page, PAGE_SIZE);
  const filtered = Object.values(f).some(Boolean);

  return (
    <section className="panel">
      <div className="filters" role="search" aria-label="Notification filters">
        <label className="field grow">
          Search
          <DebouncedInput value={f.q} onCommit={(v) => set({ q: v })} placeholder="title, text, group, error" name="q" />
        </label>
        <label className="field">
          Receiver
          <select value={f.receiver} onChange={(e) => set({ receiver: e.target.value })} name="receiver">
            <option value="">any</option>
            {(receivers.data ?? []).map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
              </option>
            ))}
            {f.receiver && !receivers.data?.some((r) => r.name === f.receiver) && <option value={f.receiver}>{f.receiver}</option>}
          </select>
        </label>
        <label className="field">
          Status
          <select value={f.status} onChange={(e) => set({ status: e.target.value })} name="status">
            <option value="">any</option>
            {NOTIFICATION_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Kind
          <select value={f.kind} onChange={(e) => set({ kind: e.target.value })} name="kind">
            <option value="">any</option>
            {NOTIFICATION_KINDS.map((k) => (
              <option key={k} value={k}>
                {humanize(k)}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Finding
          <DebouncedInput
            value={f.finding_id}
            onCommit={(v) => set({ finding_id: v.replace(/^#/, '').trim() })}
            placeholder="id"
            name="finding_id"
            inputMode="numeric"
            style={{ width: 80 }}
          />
        </label>
        {f.route && (
          <span className="tag" style={{ alignSelf: 'center', display: 'inline-flex', alignItems: 'center', gap: 4 }}>
            route {f.route}
            <button type="button" className="ghost small" style={{ padding: '0 2px' }} aria-label="Any route" onClick={() => set({ route: '' })}>
              ×
            </button>
          </span>
        )}
        {filtered && (
          <button
            type="button"
            className="ghost small"
            onClick={() => set({ q: '', receiver: '', route: '', status: '', kind: '', finding_id: '' })}
          >
            Clear
          </button>
        )}
      </div>
      {list.isPending ? (
        <Loading rows={8} />
      ) : list.isError ? (
        <ErrorState error={list.error} retry={() => void list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <Empty>
          {filtered
            ? 'No notifications match these filters.'
            : 'No notifications yet. They appear here as findings reach a route, silences start and end, or a receiver is tested.'}
        </Empty>
      ) : (
        <>
          <div style={{ opacity: list.isPlaceholderData ? 0.6 : 1 }}>
            <NotificationTable items={list.data.items} onFilter={(k, v) => set({ [k]: v })} />
          </div>
          <Pagination page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={(p) => set({ page: String(p) }, { resetPage: false })} />
        </>
      )}
    </section>
  );
}
