// URL <-> filter state. Each list page declares its filter keys once; the URL
// is the only source of truth, so a reload or a shared link shows the same
// rows. Lists (severity=high,critical) are comma-joined like the API expects.

export type FilterKind = 'string' | 'list';
export type FilterSpec = Record<string, FilterKind>;

export type FilterValues<S extends FilterSpec> = {
  [K in keyof S]: S[K] extends 'list' ? string[] : string;
};

export function readFilters<S extends FilterSpec>(spec: S, params: URLSearchParams): FilterValues<S> {
  const out: Record<string, string | string[]> = {};
  for (const [key, kind] of Object.entries(spec)) {
    const raw = params.get(key) ?? '';
    out[key] =
      kind === 'list'
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : raw.trim();
  }
  return out as FilterValues<S>;
}

/**
 * Apply a change to the URL's parameters: empty values are removed, every
 * other parameter (time range, page, ...) is kept unless `resetPage`.
 */
export function writeFilters(
  params: URLSearchParams,
  changes: Record<string, string | string[] | undefined | null>,
  { resetPage = true }: { resetPage?: boolean } = {},
): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    const text = Array.isArray(value) ? value.join(',') : (value ?? '');
    if (text === '') next.delete(key);
    else next.set(key, text);
  }
  if (resetPage && !('page' in changes)) next.delete('page');
  return next;
}

/** The API query for a list: non-empty filters, lists comma-joined. */
export function apiQuery(
  values: Record<string, string | string[]>,
  skip: readonly string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (skip.includes(key)) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    if (text !== '') out[key] = text;
  }
  return out;
}

export function toggle(list: readonly string[], value: string): string[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

export function pageOf(params: URLSearchParams): number {
  const n = Number(params.get('page') ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** A URL to the list route with the same filters and `format`. */
export function exportUrl(path: string, query: Record<string, string>, format: 'csv' | 'ndjson'): string {
  const q = new URLSearchParams(query);
  q.delete('page');
  q.delete('page_size');
  q.set('format', format);
  return `${path}?${q.toString()}`;
}

export const FINDING_FILTERS = {
  severity: 'list',
  status: 'list',
  assignee: 'string',
  tag: 'string',
  q: 'string',
  rule_id: 'string',
  service: 'string',
  user: 'string',
  risk_min: 'string',
  risk_max: 'string',
  enriched_by: 'string',
  sort: 'string',
  order: 'string',
} as const satisfies FilterSpec;

/** A risk bound as typed: a whole number clamped to 0–100, or '' (no bound) when it is not a number. */
export function riskBound(text: string): string {
  const t = text.trim();
  if (t === '' || !/^-?\d+(\.\d+)?$/.test(t)) return '';
  return String(Math.max(0, Math.min(100, Math.round(Number(t)))));
}

export const EVENT_FILTERS = {
  kind: 'string',
  service: 'string',
  user: 'string',
  product: 'string',
  category: 'string',
  logsource_service: 'string',
  q: 'string',
} as const satisfies FilterSpec;
