import { useCallback, useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useCapabilities } from '../api/capabilities';
import type { EventRecord, Page } from '../api/types';
import { DebouncedInput } from '../components/DebouncedInput';
import { ExportButtons } from '../components/ExportButtons';
import { SavedFilters } from '../components/SavedFilters';
import { LiveFeed, useFeed } from '../components/LiveFeed';
import { Pagination } from '../components/Pagination';
import { Empty, ErrorState, Loading } from '../components/States';
import { EVENT_FILTERS, apiQuery, pageOf, readFilters, writeFilters } from '../lib/filters';
import { fmtTime } from '../lib/format';
import { summary } from '../lib/events';
import { logsourceLabel, logsourceProblem, matchesLogsource } from '../lib/logsource';
import { rangeParams } from '../lib/timeRange';
import { useTimeRange } from '../lib/useTimeRange';
import { useLiveEvent, useRoom } from '../live/socket';

const PAGE_SIZE = 50;
const TAIL_CAP = 200;

function matches(e: EventRecord, f: Record<string, string>): boolean {
  if (f.kind && e.kind !== f.kind) return false;
  if (f.service && e.service !== f.service) return false;
  if (f.user && e.user !== f.user) return false;
  if (f.q && !JSON.stringify(e.payload).toLowerCase().includes(f.q.toLowerCase())) return false;
  return matchesLogsource(e.logsource, f);
}

export default function Events() {
  const [params, setParams] = useSearchParams();
  const [range] = useTimeRange();
  const caps = useCapabilities();
  const logsourceSupported = caps.supports('/api/v1/events', 'product') && caps.ready;
  const paramsKey = params.toString();
  const filters = readFilters(EVENT_FILTERS, params);
  // A value the server would refuse is not sent (the field says why).
  const badLogsource = (['product', 'category', 'logsource_service'] as const).filter((k) => logsourceProblem(filters[k]));
  const page = pageOf(params);
  const live = params.get('live') === '1';
  const set = useCallback(
    (changes: Record<string, string>, opts?: { resetPage?: boolean }) => setParams((prev) => writeFilters(prev, changes, opts)),
    [setParams],
  );
  const query = useMemo(
    () => caps.pick('/api/v1/events', { ...apiQuery(filters, badLogsource), ...rangeParams(range) }) as Record<string, string>,
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [paramsKey, caps.ready],
  );
  const list = useQuery({
    queryKey: ['events', params.toString(), logsourceSupported],
    queryFn: ({ signal }) => api.get<Page<EventRecord>>('/api/v1/events', { ...query, page, page_size: PAGE_SIZE }, signal),
    placeholderData: keepPreviousData,
    enabled: !live && caps.ready,
  });

  const tail = useFeed<EventRecord>((e) => e.id, TAIL_CAP);
  useRoom('events', live);
  useLiveEvent<EventRecord>(
    'event',
    (e) => {
      if (matches(e, filters)) tail.push([e]);
    },
    live,
  );

  return (
    <div className="panel">
      <div className="filters" role="search" aria-label="Event filters">
        <label className="field">
          Kind
          <DebouncedInput value={filters.kind} onCommit={(v) => set({ kind: v })} placeholder="log, metric…" name="kind" />
        </label>
        <label className="field">
          Service
          <DebouncedInput value={filters.service} onCommit={(v) => set({ service: v })} name="service" />
        </label>
        <label className="field">
          User
          <DebouncedInput value={filters.user} onCommit={(v) => set({ user: v })} name="user" />
        </label>
        {logsourceSupported &&
          (
            [
              ['product', 'Product', 'aws, windows…'],
              ['category', 'Category', 'process_creation…'],
              ['logsource_service', 'Log service', 'cloudtrail…'],
            ] as const
          ).map(([key, label, hint]) => (
            <label className="field" key={key} title={logsourceProblem(filters[key]) ?? `Logsource ${label.toLowerCase()} (exact)`}>
              {label}
              <DebouncedInput
                value={filters[key]}
                onCommit={(v) => set({ [key]: v })}
                placeholder={hint}
                name={key}
                aria-invalid={logsourceProblem(filters[key]) ? true : undefined}
              />
            </label>
          ))}
        <label className="field grow">
          Text
          <DebouncedInput type="search" value={filters.q} onCommit={(v) => set({ q: v })} placeholder="search the event body" name="q" />
        </label>
      </div>
      <div className="panel-head">
        <button
          type="button"
          role="switch"
          aria-checked={live}
          className="toggle-switch"
          aria-label="Live tail"
          onClick={() => set({ live: live ? '' : '1' })}
          data-testid="live-tail"
        />
        <span>{live ? 'Live tail (a sample of new events, up to 20/s)' : 'Live tail'}</span>
        <span className="spacer" />
        {!live && list.data && <span className="hint mono">{list.data.total.toLocaleString('en-US')} events</span>}
        {!live && <SavedFilters page="events" />}
        <ExportButtons path="/api/v1/events" query={query} supported={caps.supports('/api/v1/events', 'format')} />
      </div>
      {live ? (
        <LiveFeed
          label="Live events"
          state={tail.state}
          dispatch={tail.dispatch}
          rowKey={(e) => e.id}
          height={560}
          empty={<Empty>Waiting for events…</Empty>}
          renderRow={(e) => (
            <Link to={`/events/${e.id}`} className="feed-item event-row" style={{ color: 'inherit', height: 44 }}>
              <span className="mono faint nowrap">{fmtTime(e.timestamp)}</span>
              <span className="truncate">
                <span className="tag">{e.kind}</span> {logsourceLabel(e.logsource) && <span className="tag mono">{logsourceLabel(e.logsource)}</span>}{' '}
                <span className="mono">{e.service ?? ''}</span> {summary(e)}
              </span>
              <span className="mono faint">#{e.id}</span>
            </Link>
          )}
        />
      ) : list.isPending ? (
        <Loading rows={8} />
      ) : list.isError ? (
        <ErrorState error={list.error} retry={() => void list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <Empty>No events match these filters in this time range.</Empty>
      ) : (
        <>
          <div className="table-wrap" style={{ opacity: list.isPlaceholderData ? 0.6 : 1 }}>
            <table className="data" data-testid="events-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Kind</th>
                  <th>Logsource</th>
                  <th>Service</th>
                  <th>User</th>
                  <th>Summary</th>
                  <th className="num">Id</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((e) => (
                  <tr key={e.id}>
                    <td className="mono nowrap">{fmtTime(e.timestamp)}</td>
                    <td>
                      <span className="tag">{e.kind}</span>
                    </td>
                    <td className="nowrap">
                      {logsourceLabel(e.logsource) ? (
                        <span className="tag mono" data-testid="logsource">
                          {logsourceLabel(e.logsource)}
                        </span>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="mono nowrap">{e.service ?? '—'}</td>
                    <td className="mono nowrap">{e.user ?? '—'}</td>
                    {/* Takes the width left and truncates, so the id column stays in view. */}
                    <td className="truncate" style={{ maxWidth: 0, width: '100%' }} title={summary(e)}>
                      <Link to={`/events/${e.id}`} style={{ color: 'var(--text)' }}>
                        {summary(e)}
                      </Link>
                    </td>
                    <td className="num mono">
                      <Link to={`/events/${e.id}`}>#{e.id}</Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={(p) => set({ page: String(p) }, { resetPage: false })} />
        </>
      )}
    </div>
  );
}
