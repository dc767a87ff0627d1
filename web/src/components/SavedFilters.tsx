import { useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { errorMessage } from '../api/client';
import { hasPreferences, useMe, usePreferences, useSavePreferences } from '../api/auth';
import type { SavedFilter } from '../api/types';

/** URL parameters that are not part of a filter: the time range, paging, the live tail. */
const NOT_FILTER = new Set(['from', 'to', 'page', 'live']);

/** The filter part of a page's query string (what a saved filter stores). */
export function filterQuery(params: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!NOT_FILTER.has(k) && v !== '') out.set(k, v);
  return out.toString();
}

/** The page's parameters with `query` as its filter, keeping the time range. */
export function applyFilterQuery(params: URLSearchParams, query: string): URLSearchParams {
  const next = new URLSearchParams(query);
  for (const k of NOT_FILTER) next.delete(k);
  for (const k of ['from', 'to']) {
    const v = params.get(k);
    if (v) next.set(k, v);
  }
  return next;
}

/** Add or replace (same page and name) a saved filter. */
export function withSaved(list: SavedFilter[], f: SavedFilter): SavedFilter[] {
  return [...list.filter((x) => !(x.page === f.page && x.name === f.name)), f];
}

/** Save the current filter under a name; pick a saved one to apply it. Signed-in users only. */
export function SavedFilters({ page }: { page: SavedFilter['page'] }) {
  const me = useMe().data;
  const enabled = hasPreferences(me);
  const prefs = usePreferences(enabled);
  const save = useSavePreferences();
  const [params, setParams] = useSearchParams();
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState('');
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!naming) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setNaming(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setNaming(false);
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [naming]);

  if (!enabled || !prefs.data) return null;
  const mine = prefs.data.saved_filters.filter((f) => f.page === page);
  const current = filterQuery(params);

  return (
    <div className="saved-filters popover-anchor" ref={ref}>
      {mine.length > 0 && (
        <select
          value=""
          aria-label="Saved filters"
          className="small"
          onChange={(e) => {
            const f = mine.find((x) => x.name === e.target.value);
            if (f) setParams((prev) => applyFilterQuery(prev, f.query));
          }}
          data-testid="saved-filters"
        >
          <option value="">Saved filters…</option>
          {mine.map((f) => (
            <option key={f.name} value={f.name}>
              {f.name}
            </option>
          ))}
        </select>
      )}
      <button
        type="button"
        className="small"
        disabled={!current}
        title={current ? 'Save these filters under a name' : 'Set some filters first'}
        onClick={() => {
          setName('');
          setNaming((o) => !o);
        }}
        aria-expanded={naming}
      >
        Save filter
      </button>
      {naming && (
        <form
          className="popover stack"
          role="dialog"
          aria-label="Save filter"
          onSubmit={(e) => {
            e.preventDefault();
            const n = name.trim();
            if (!n || !prefs.data) return;
            save.mutate(
              { ...prefs.data, saved_filters: withSaved(prefs.data.saved_filters, { name: n, page, query: current }) },
              { onSuccess: () => setNaming(false) },
            );
          }}
        >
          <label className="field">
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={80} placeholder="high and open" autoFocus />
          </label>
          <span className="mono faint truncate" style={{ fontSize: 11.5 }} title={current}>
            {current}
          </span>
          {save.isError && <div className="banner error">{errorMessage(save.error)}</div>}
          <button type="submit" className="primary small" disabled={!name.trim() || save.isPending}>
            Save
          </button>
        </form>
      )}
    </div>
  );
}
