import { useCallback, useMemo, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import { useCapabilities } from '../api/capabilities';
import { useCan } from '../api/auth';
import { SavedFilters } from '../components/SavedFilters';
import type { BulkSet, CloseReason, Finding, FindingGroup, FindingStatus, LiveFinding, Page } from '../api/types';
import type { components } from '../api/schema';
import { CLOSE_REASONS, SEVERITIES, STATUSES } from '../api/types';
import { RiskScore, SeverityBadge, StatusBadge, Tags } from '../components/Badges';
import { DebouncedInput } from '../components/DebouncedInput';
import { ExportButtons } from '../components/ExportButtons';
import { Pagination } from '../components/Pagination';
import { Empty, ErrorState, Loading } from '../components/States';
import { FINDING_FILTERS, apiQuery, pageOf, readFilters, riskBound, toggle, writeFilters } from '../lib/filters';
import { fmtAgo, fmtNum, fmtTime, humanize } from '../lib/format';
import { rangeParams } from '../lib/timeRange';
import { useTimeRange } from '../lib/useTimeRange';
import { useNow } from '../api/queries';
import { useLiveEvent } from '../live/socket';

const PAGE_SIZE = 50;
const GROUPS = ['rule', 'service', 'user', 'assignee'] as const;
/** Most findings one bulk enrichment takes (POST /api/v1/findings/enrich). */
export const MAX_ENRICH = 100;

type BulkEnrichResult = components['schemas']['BulkEnrichResult'];

export default function Findings() {
  const [params, setParams] = useSearchParams();
  const [range] = useTimeRange();
  const paramsKey = params.toString();
  const filters = readFilters(FINDING_FILTERS, params);
  const page = pageOf(params);
  const group = params.get('group') ?? '';
  const qc = useQueryClient();
  const now = useNow(10_000);
  const caps = useCapabilities();
  const canGroup = caps.has('/api/v1/findings/groups');
  const canBulk = caps.has('/api/v1/findings/bulk');
  const canEnrich = caps.has('/api/v1/findings/enrich');
  const can = (p: string) => caps.supports('/api/v1/findings', p);
  // Triage (selection, bulk changes) only for those who may change findings.
  const canTriage = useCan()('findings_write');

  const set = useCallback(
    (changes: Record<string, string | string[]>, opts?: { resetPage?: boolean }) =>
      setParams((prev) => writeFilters(prev, changes, opts)),
    [setParams],
  );

  // Only the parameters the server documents are sent (it refuses unknown ones).
  const filterQuery = useMemo(
    () => caps.pick('/api/v1/findings', apiQuery(filters, ['sort', 'order'])) as Record<string, string>,
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [paramsKey, caps.ready],
  );
  const listQuery = useMemo(
    () => caps.pick('/api/v1/findings', { ...apiQuery(filters), ...rangeParams(range) }) as Record<string, string>,
    // rangeParams resolves relative times: recompute with the range and filters.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [paramsKey, caps.ready],
  );

  const list = useQuery({
    queryKey: ['findings', 'list', params.toString()],
    queryFn: ({ signal }) =>
      api.get<Page<Finding>>('/api/v1/findings', { ...listQuery, page, page_size: PAGE_SIZE }, signal),
    placeholderData: keepPreviousData,
    enabled: caps.ready && !(group && canGroup),
  });
  const groups = useQuery({
    queryKey: ['findings', 'groups', params.toString()],
    queryFn: ({ signal }) =>
      api.get<{ by: string; items: FindingGroup[]; total: number }>(
        '/api/v1/findings/groups',
        { ...filterQuery, ...rangeParams(range), by: group, page, page_size: PAGE_SIZE },
        signal,
      ),
    enabled: caps.ready && !!group && canGroup,
  });

  // New findings never reshuffle the table; a counter offers a refresh.
  const [fresh, setFresh] = useState(0);
  // Changes to rows on screen are applied in place (no row moves).
  useLiveEvent<LiveFinding>('finding', (f) => {
    if (f.change === 'created') {
      setFresh((n) => n + 1);
      return;
    }
    qc.setQueryData<Page<Finding>>(['findings', 'list', paramsKey], (old) => {
      if (!old || !old.items.some((x) => x.id === f.id)) return old;
      const { change: _change, ...rest } = f;
      return { ...old, items: old.items.map((x) => (x.id === f.id ? { ...x, ...rest, evidence: x.evidence } : x)) };
    });
  });
  // Too many changes at once (or a bulk change elsewhere): offer a refresh.
  useLiveEvent<{ created?: number; updated?: number }>('findings_summary', (s) => {
    setFresh((n) => n + Math.max(1, s.created ?? 0));
  });
  const refresh = () => {
    setFresh(0);
    void qc.invalidateQueries({ queryKey: ['findings'] });
  };

  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [allMatchingPicked, setAllMatching] = useState(false);
  // A bulk change by filter takes the list's filters but not the risk range or the scorer:
  // with those set, only the selected rows can be changed.
  const filterableInBulk = !filters.risk_min && !filters.risk_max && !filters.enriched_by;
  const allMatching = allMatchingPicked && filterableInBulk;
  const items = list.data?.items ?? [];
  const allOnPage = items.length > 0 && items.every((f) => selected.has(f.id));
  // What the last bulk change or enrichment did (shown once its selection is cleared).
  const [notice, setNotice] = useState<string | null>(null);
  const clearSelection = () => {
    setSelected(new Set());
    setAllMatching(false);
  };

  // "Scored by" offers the heuristic and every scorer on this page.
  const scorers = useMemo(() => {
    const seen = new Set<string>(['heuristic']);
    for (const f of list.data?.items ?? []) if (f.enriched_by) seen.add(f.enriched_by);
    if (filters.enriched_by) seen.add(filters.enriched_by);
    return [...seen].sort();
  }, [list.data, filters.enriched_by]);

  const sort = filters.sort || 'last_seen';
  const order = filters.order || 'desc';
  const sortBy = (key: string) => {
    if (sort === key) set({ sort: key, order: order === 'desc' ? 'asc' : 'desc' });
    else set({ sort: key, order: 'desc' });
  };
  const exportQuery = { ...listQuery };

  return (
    <div className="panel">
      <div className="filters" role="search" aria-label="Finding filters">
        <div className="field">
          <span className="muted" style={{ fontSize: 12, fontWeight: 500 }}>
            Severity
          </span>
          <div className="chips" role="group" aria-label="Severity">
            {SEVERITIES.map((s) => (
              <button
                key={s}
                type="button"
                className="chip small"
                aria-pressed={filters.severity.includes(s)}
                onClick={() => set({ severity: toggle(filters.severity, s) })}
              >
                {s === 'informational' ? 'info' : s}
              </button>
            ))}
          </div>
        </div>
        <div className="field">
          <span className="muted" style={{ fontSize: 12, fontWeight: 500 }}>
            Status
          </span>
          <div className="chips" role="group" aria-label="Status">
            {STATUSES.map((s) => (
              <button
                key={s}
                type="button"
                className="chip small"
                aria-pressed={filters.status.includes(s)}
                onClick={() => set({ status: toggle(filters.status, s) })}
              >
                {s}
              </button>
            ))}
          </div>
        </div>
        <span className="filters-break" aria-hidden="true" />
        {can('q') && (
        <label className="field grow">
          Search
          <DebouncedInput
            type="search"
            value={filters.q}
            onCommit={(v) => set({ q: v })}
            placeholder="title, rule, user, service, note…"
            name="q"
          />
        </label>
        )}
        <label className="field">
          Rule
          <DebouncedInput value={filters.rule_id} onCommit={(v) => set({ rule_id: v })} placeholder="id or prefix*" name="rule_id" />
        </label>
        <label className="field">
          Service
          <DebouncedInput value={filters.service} onCommit={(v) => set({ service: v })} name="service" />
        </label>
        <label className="field">
          User
          <DebouncedInput value={filters.user} onCommit={(v) => set({ user: v })} name="user" />
        </label>
        {can('assignee') && (
          <label className="field">
            Assignee
            <DebouncedInput value={filters.assignee} onCommit={(v) => set({ assignee: v })} placeholder="name or none" name="assignee" />
          </label>
        )}
        {can('tag') && (
          <label className="field">
            Tag
            <DebouncedInput value={filters.tag} onCommit={(v) => set({ tag: v })} name="tag" />
          </label>
        )}
        {can('risk_min') && can('risk_max') && (
          <fieldset className="field-group risk-range">
            <legend>Risk (0–100)</legend>
            <div className="row" style={{ gap: 4, flexWrap: 'nowrap' }}>
              <DebouncedInput
                type="number"
                min={0}
                max={100}
                inputMode="numeric"
                value={filters.risk_min}
                onCommit={(v) => set({ risk_min: riskBound(v) })}
                placeholder="min"
                name="risk_min"
                aria-label="Lowest risk score"
              />
              <span className="faint" aria-hidden="true">
                –
              </span>
              <DebouncedInput
                type="number"
                min={0}
                max={100}
                inputMode="numeric"
                value={filters.risk_max}
                onCommit={(v) => set({ risk_max: riskBound(v) })}
                placeholder="max"
                name="risk_max"
                aria-label="Highest risk score"
              />
            </div>
          </fieldset>
        )}
        {can('enriched_by') && (
          <label className="field">
            Scored by
            <DebouncedInput
              value={filters.enriched_by}
              onCommit={(v) => set({ enriched_by: v })}
              placeholder="any scorer"
              name="enriched_by"
              list="finding-scorers"
            />
            <datalist id="finding-scorers">
              {scorers.map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          </label>
        )}
      </div>

      <div className="panel-head">
        {canGroup && (
        <div className="segmented" role="group" aria-label="View">
          <button type="button" aria-pressed={!group} onClick={() => set({ group: '' })}>
            List
          </button>
          {canGroup && GROUPS.map((g) => (
            <button key={g} type="button" aria-pressed={group === g} onClick={() => set({ group: g })}>
              By {g}
            </button>
          ))}
        </div>
        )}
        <span className="spacer" />
        {fresh > 0 && (
          <button type="button" className="small primary" onClick={refresh}>
            {fresh >= 100 ? '99+' : fresh} new · refresh
          </button>
        )}
        {hasFilters(filters) && (
          <button
            type="button"
            className="small ghost"
            onClick={() =>
              setParams((prev) => {
                const next = new URLSearchParams();
                for (const k of ['from', 'to', 'group']) if (prev.get(k)) next.set(k, prev.get(k)!);
                return next;
              })
            }
          >
            Clear filters
          </button>
        )}
        <SavedFilters page="findings" />
        <ExportButtons path="/api/v1/findings" query={exportQuery} supported={can('format')} />
      </div>

      {group && canGroup ? (
        <>
          <GroupTable query={groups} by={group} onPick={(key) => pickGroup(set, group, key)} now={now} />
          {groups.data && groups.data.total > PAGE_SIZE && (
            <Pagination
              page={page}
              pageSize={PAGE_SIZE}
              total={groups.data.total}
              onPage={(p) => set({ page: String(p) }, { resetPage: false })}
            />
          )}
        </>
      ) : (
        <>
          {canTriage && (selected.size > 0 || allMatching) && (
            <BulkBar
              count={allMatching ? (list.data?.total ?? 0) : selected.size}
              allMatching={allMatching}
              canSelectAll={canBulk && filterableInBulk && allOnPage && (list.data?.total ?? 0) > items.length}
              canBulk={canBulk}
              canEnrich={canEnrich}
              total={list.data?.total ?? 0}
              onSelectAll={() => setAllMatching(true)}
              onClear={clearSelection}
              target={allMatching ? { filter: bulkFilter(filters, range) } : { ids: [...selected] }}
              onDone={(outcome) => {
                clearSelection();
                setNotice(outcome);
                void qc.invalidateQueries({ queryKey: ['findings'] });
              }}
            />
          )}
          {notice && !(selected.size > 0 || allMatching) && (
            <div className="bulkbar" role="status" data-testid="bulk-outcome">
              <span>{notice}</span>
              <span className="spacer" />
              <button type="button" className="small ghost" onClick={() => setNotice(null)}>
                Dismiss
              </button>
            </div>
          )}
          {list.isPending ? (
            <Loading rows={6} />
          ) : list.isError ? (
            <ErrorState error={list.error} retry={() => void list.refetch()} />
          ) : items.length === 0 ? (
            <Empty>No findings match these filters in this time range.</Empty>
          ) : (
            <div className="table-wrap" style={{ opacity: list.isPlaceholderData ? 0.6 : 1 }}>
              <table className="data" data-testid="findings-table">
                <thead>
                  <tr>
                    {canTriage && (
                    <th style={{ width: 32 }}>
                      <input
                        type="checkbox"
                        aria-label="Select every finding on this page"
                        checked={allOnPage}
                        onChange={() => {
                          setAllMatching(false);
                          setSelected(allOnPage ? new Set() : new Set(items.map((f) => f.id)));
                        }}
                      />
                    </th>
                    )}
                    <th>
                      <SortHeader k="severity" label="Severity" sort={sort} order={order} onSort={sortBy} />
                    </th>
                    <th>Finding</th>
                    <th>Status</th>
                    <th>
                      <span className="th-sorts">
                        <SortHeader k="risk_score" label="Risk" sort={sort} order={order} onSort={sortBy} />
                        <span className="faint" aria-hidden="true">
                          ·
                        </span>
                        <SortHeader k="enriched_at" label="Scored" sort={sort} order={order} onSort={sortBy} />
                      </span>
                    </th>
                    <th>Who</th>
                    <th>Assignee</th>
                    <th className="num">Events</th>
                    <th>
                      <SortHeader k="last_seen" label="Last seen" sort={sort} order={order} onSort={sortBy} />
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((f) => (
                    <FindingRow
                      key={f.id}
                      f={f}
                      now={now}
                      checked={allMatching || selected.has(f.id)}
                      onCheck={() => {
                        setAllMatching(false);
                        setSelected((prev) => {
                          const next = new Set(prev);
                          if (next.has(f.id)) next.delete(f.id);
                          else next.add(f.id);
                          return next;
                        });
                      }}
                      search={params.toString()}
                      selectable={canTriage}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {list.data && list.data.total > 0 && (
            <Pagination
              page={page}
              pageSize={PAGE_SIZE}
              total={list.data.total}
              onPage={(p) => set({ page: String(p) }, { resetPage: false })}
            />
          )}
        </>
      )}
    </div>
  );
}

function hasFilters(f: ReturnType<typeof readFilters<typeof FINDING_FILTERS>>): boolean {
  return Object.entries(f).some(([k, v]) => k !== 'sort' && k !== 'order' && (Array.isArray(v) ? v.length : v));
}

function bulkFilter(f: ReturnType<typeof readFilters<typeof FINDING_FILTERS>>, range: { from: string; to: string }) {
  const out: Record<string, string | string[]> = { ...rangeParams(range) };
  for (const [k, v] of Object.entries(f)) {
    if (k === 'sort' || k === 'order') continue;
    if (Array.isArray(v) ? v.length : v) out[k] = v;
  }
  return out;
}

function pickGroup(set: (c: Record<string, string | string[]>) => void, by: string, key: string | null | undefined) {
  const field = by === 'rule' ? 'rule_id' : by;
  set({ group: '', [field]: key ?? (by === 'assignee' ? 'none' : '') });
}

function SortHeader({
  k,
  label,
  sort,
  order,
  onSort,
}: {
  k: string;
  label: string;
  sort: string;
  order: string;
  onSort: (k: string) => void;
}) {
  const active = sort === k;
  return (
    <button
      type="button"
      className="sort-btn"
      onClick={() => onSort(k)}
      aria-label={`Sort by ${label}`}
      aria-sort={active ? (order === 'asc' ? 'ascending' : 'descending') : undefined}
    >
      {label} {active ? (order === 'asc' ? '▲' : '▼') : <span className="faint">↕</span>}
    </button>
  );
}

function FindingRow({
  f,
  checked,
  onCheck,
  now,
  search,
  selectable,
}: {
  f: Finding;
  checked: boolean;
  onCheck: () => void;
  now: number;
  search: string;
  selectable: boolean;
}) {
  const navigate = useNavigate();
  const who = [f.user, f.service].filter(Boolean).join(' · ') || Object.values(f.group).join(' · ');
  const open = () => navigate({ pathname: `/findings/${f.id}`, search: search ? `?${search}` : '' });
  return (
    <tr className={`clickable${checked ? ' selected' : ''}`} onClick={open} data-finding-id={f.id}>
      {selectable && (
        <td onClick={(e) => e.stopPropagation()}>
          <input type="checkbox" aria-label={`Select finding ${f.id}`} checked={checked} onChange={onCheck} />
        </td>
      )}
      <td>
        <SeverityBadge severity={f.severity} />
      </td>
      <td className="cell-title">
        <Link
          to={{ pathname: `/findings/${f.id}`, search: search ? `?${search}` : '' }}
          onClick={(e) => e.stopPropagation()}
          style={{ color: 'var(--text)', fontWeight: 500 }}
        >
          {f.rule_title}
        </Link>
        <div className="mono faint truncate" style={{ fontSize: 11.5 }}>
          #{f.id} · {f.rule_id}
          {f.workflow_tags?.length ? ' ' : ''}
          <Tags tags={f.workflow_tags} />
        </div>
      </td>
      <td>
        <StatusBadge status={f.status} />
        {f.close_reason && <div className="faint" style={{ fontSize: 11.5 }}>{humanize(f.close_reason)}</div>}
      </td>
      <td>
        <RiskScore score={f.risk_score} />
        <div
          className="faint truncate"
          style={{ fontSize: 11.5, maxWidth: 150 }}
          data-testid="scored-by"
          title={f.enriched_at ? `Scored by ${f.enriched_by} at ${fmtTime(f.enriched_at)}` : 'Scored by the heuristics at detection'}
        >
          {f.enriched_by || 'heuristic'}
          {f.enriched_at ? ` · ${fmtAgo(f.enriched_at, now)}` : ''}
        </div>
      </td>
      <td className="mono truncate" style={{ maxWidth: 200 }} title={who}>
        {who || '—'}
      </td>
      <td className="truncate" style={{ maxWidth: 120 }}>
        {f.assignee || <span className="faint">—</span>}
      </td>
      <td className="num mono">{fmtNum(f.event_count)}</td>
      <td className="mono nowrap" title={fmtTime(f.last_seen)}>
        {fmtAgo(f.last_seen, now)}
      </td>
    </tr>
  );
}

type BulkTarget = { ids: number[] } | { filter: Record<string, string | string[]> };

function BulkBar({
  count,
  allMatching,
  canSelectAll,
  total,
  onSelectAll,
  onClear,
  target,
  onDone,
  canBulk,
  canEnrich,
}: {
  canBulk: boolean;
  /** The server offers POST /api/v1/findings/enrich. */
  canEnrich: boolean;
  count: number;
  allMatching: boolean;
  canSelectAll: boolean;
  total: number;
  onSelectAll: () => void;
  onClear: () => void;
  target: BulkTarget;
  /** The change was made: `outcome` says what happened. */
  onDone: (outcome: string) => void;
}) {
  const [status, setStatus] = useState<FindingStatus | ''>('');
  const [reason, setReason] = useState<CloseReason>('false_positive');
  const [assignee, setAssignee] = useState('');
  const [tag, setTag] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const bulk = useMutation({
    mutationFn: async (set: BulkSet) => {
      if (canBulk) return api.post<{ matched: number; updated: number }>('/api/v1/findings/bulk', { ...target, set });
      // A server without the bulk route: one PATCH per selected finding.
      const ids = 'ids' in target ? target.ids : [];
      await Promise.all(ids.map((id) => api.patch(`/api/v1/findings/${id}`, set)));
      return { matched: ids.length, updated: ids.length };
    },
    onSuccess: (r) => {
      onDone(`Updated ${fmtNum(r.updated)} of ${fmtNum(r.matched)} findings.`);
    },
    onError: (e) => setMessage(errorMessage(e)),
  });
  const ids = 'ids' in target ? target.ids : [];
  const [enrichError, setEnrichError] = useState<string | null>(null);
  const enrich = useMutation({
    mutationFn: () => api.post<BulkEnrichResult>('/api/v1/findings/enrich', { ids }),
    onMutate: () => {
      setEnrichError(null);
      setMessage(null);
    },
    onSuccess: (r) => {
      onDone(enrichSummary(r));
    },
    // 409 when enrichment is not configured: the server's message says so.
    onError: (e) => setEnrichError(errorMessage(e)),
  });
  const enrichWhy =
    ids.length === 0
      ? 'Enrich works on selected findings, not on every match'
      : ids.length > MAX_ENRICH
        ? `Select at most ${MAX_ENRICH} findings to enrich`
        : 'Ask the configured model for a risk score of each selected finding';
  const closing = status === 'resolved' || status === 'suppressed';
  return (
    <div className="bulkbar" role="region" aria-label="Bulk actions" data-testid="bulk-bar">
      <strong>{fmtNum(count)} selected</strong>
      {canSelectAll && !allMatching && (
        <button type="button" className="small ghost" onClick={onSelectAll}>
          Select all {fmtNum(total)} matching
        </button>
      )}
      <button type="button" className="small ghost" onClick={onClear}>
        Clear
      </button>
      <span className="spacer" />
      <label className="row" style={{ gap: 4 }}>
        <span className="visually-hidden">New status</span>
        <select value={status} onChange={(e) => setStatus(e.target.value as FindingStatus | '')} aria-label="New status">
          <option value="">Set status…</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      {closing && (
        <select value={reason} onChange={(e) => setReason(e.target.value as CloseReason)} aria-label="Close reason">
          {CLOSE_REASONS.map((r) => (
            <option key={r} value={r}>
              {humanize(r)}
            </option>
          ))}
        </select>
      )}
      <button
        type="button"
        className="small primary"
        disabled={!status || bulk.isPending}
        onClick={() => status && bulk.mutate(closing ? { status, close_reason: reason } : { status })}
      >
        Apply status
      </button>
      <input
        value={assignee}
        onChange={(e) => setAssignee(e.target.value)}
        placeholder="assignee"
        aria-label="Assign to"
        style={{ width: 110 }}
      />
      <button type="button" className="small" disabled={bulk.isPending} onClick={() => bulk.mutate({ assignee: assignee.trim() })}>
        {assignee.trim() ? 'Assign' : 'Unassign'}
      </button>
      <input value={tag} onChange={(e) => setTag(e.target.value)} placeholder="tag" aria-label="Tag" style={{ width: 100 }} />
      <button
        type="button"
        className="small"
        disabled={!tag.trim() || bulk.isPending}
        onClick={() => bulk.mutate({ add_tags: [tag.trim()] })}
      >
        Add tag
      </button>
      {canEnrich && (
        <button
          type="button"
          className="small"
          disabled={enrich.isPending || ids.length === 0 || ids.length > MAX_ENRICH}
          title={enrichWhy}
          onClick={() => enrich.mutate()}
        >
          {enrich.isPending ? 'Enriching…' : 'Enrich'}
        </button>
      )}
      {enrichError && (
        <div className="banner error" role="alert" style={{ width: '100%' }} data-testid="enrich-error">
          {enrichError}
        </div>
      )}
      {message && (
        <span role="status" className="muted" style={{ fontSize: 12, width: '100%' }}>
          {message}
        </span>
      )}
    </div>
  );
}

/** "Enriched 3 findings: 2 scored by gpt-4o-mini, 1 kept the heuristic score (timeout)…" */
export function enrichSummary(r: BulkEnrichResult): string {
  const byModel = new Map<string, number>();
  const kept: string[] = [];
  let missing = 0;
  let done = 0;
  for (const item of r.items) {
    if (!item.found || !item.enrichment) {
      missing += 1;
      continue;
    }
    done += 1;
    const e = item.enrichment;
    if (e.fallback_reason || e.enriched_by === 'heuristic') kept.push(e.fallback_reason ?? 'no model answer');
    else byModel.set(e.enriched_by, (byModel.get(e.enriched_by) ?? 0) + 1);
  }
  const parts: string[] = [];
  for (const [model, n] of byModel) parts.push(`${fmtNum(n)} scored by ${model}`);
  if (kept.length) parts.push(`${fmtNum(kept.length)} kept the heuristic score (${[...new Set(kept)].join('; ')})`);
  if (missing) parts.push(`${fmtNum(missing)} not found`);
  return `Enriched ${fmtNum(done)} ${done === 1 ? 'finding' : 'findings'}${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

function GroupTable({
  query,
  by,
  onPick,
  now,
}: {
  query: ReturnType<typeof useQuery<{ by: string; items: FindingGroup[]; total: number }>>;
  by: string;
  onPick: (key: string | null | undefined) => void;
  now: number;
}) {
  if (query.isPending) return <Loading rows={5} />;
  if (query.isError) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  if (!query.data.items.length) return <Empty>No findings to group.</Empty>;
  return (
    <div className="table-wrap">
      <table className="data" data-testid="groups-table">
        <thead>
          <tr>
            <th>{by === 'rule' ? 'Rule' : by[0]!.toUpperCase() + by.slice(1)}</th>
            <th>Worst</th>
            <th className="num">Findings</th>
            <th className="num">Open</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {query.data.items.map((g) => (
            <tr key={g.key ?? '∅'} className="clickable" onClick={() => onPick(g.key)}>
              <td>
                <button type="button" className="sort-btn" onClick={() => onPick(g.key)} style={{ textAlign: 'left' }}>
                  {g.title && g.title !== g.key ? <span style={{ fontWeight: 500 }}>{g.title} </span> : null}
                  <span className="mono">{g.key ?? (by === 'assignee' ? 'unassigned' : '(none)')}</span>
                </button>
              </td>
              <td>
                <SeverityBadge severity={g.max_severity} />
              </td>
              <td className="num mono">{fmtNum(g.count)}</td>
              <td className="num mono">{fmtNum(g.open)}</td>
              <td className="mono nowrap">{fmtAgo(g.last_seen, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
