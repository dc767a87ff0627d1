// Grafana-style time ranges: `now`, `now-15m`, `now-7d`, or an absolute RFC 3339
// time. The URL keeps what the user picked (`?from=now-1h&to=now`); API calls
// get absolute times resolved at query time.

export interface TimeRange {
  from: string;
  to: string;
}

export const DEFAULT_RANGE: TimeRange = { from: 'now-1h', to: 'now' };

export const QUICK_RANGES: { label: string; from: string }[] = [
  { label: 'Last 15 minutes', from: 'now-15m' },
  { label: 'Last 1 hour', from: 'now-1h' },
  { label: 'Last 6 hours', from: 'now-6h' },
  { label: 'Last 24 hours', from: 'now-24h' },
  { label: 'Last 7 days', from: 'now-7d' },
  { label: 'Last 30 days', from: 'now-30d' },
];

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const RELATIVE = /^now(?:-(\d+)([smhdw]))?$/;

/** Whether `value` is a time this module understands. */
export function isValidTime(value: string): boolean {
  return parseTime(value, 0) !== null;
}

/** Resolve `now-1h` / RFC 3339 to epoch ms, or null when it is neither. */
export function parseTime(value: string, now: number): number | null {
  const v = value.trim();
  const rel = RELATIVE.exec(v);
  if (rel) {
    if (!rel[1] || !rel[2]) return now;
    return now - Number(rel[1]) * (UNIT_MS[rel[2]] ?? 0);
  }
  // Absolute times must carry a date; Date.parse alone accepts too much.
  if (!/^\d{4}-\d{2}-\d{2}/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

export function isRelative(range: TimeRange): boolean {
  return range.to.trim() === 'now';
}

/** Absolute bounds (ms) of a range; falls back to the default for bad input. */
export function resolveRange(range: TimeRange, now: number = Date.now()): { from: number; to: number } {
  let from = parseTime(range.from, now);
  let to = parseTime(range.to, now);
  if (from === null || to === null || from >= to) {
    from = parseTime(DEFAULT_RANGE.from, now) as number;
    to = now;
  }
  return { from, to };
}

/** Query parameters for the API: RFC 3339 bounds. */
export function rangeParams(range: TimeRange, now: number = Date.now()): { from: string; to: string } {
  const r = resolveRange(range, now);
  return { from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() };
}

/** The range in the URL, else `fallback` (the user's preferred default). */
export function readRange(params: URLSearchParams, fallback: TimeRange = DEFAULT_RANGE): TimeRange {
  const from = params.get('from');
  const to = params.get('to');
  if (from && to && isValidTime(from) && isValidTime(to)) return { from, to };
  if (from && !to && isValidTime(from)) return { from, to: 'now' };
  return fallback;
}

/** A preference's `24h` as a range ending now; the default range when it is not one. */
export function preferredRange(pref: string | null | undefined): TimeRange {
  return pref && /^\d+[smhdw]$/.test(pref) ? { from: `now-${pref}`, to: 'now' } : DEFAULT_RANGE;
}

/** Human label: "Last 1 hour", or the absolute bounds. */
export function rangeLabel(range: TimeRange): string {
  if (range.to === 'now') {
    const quick = QUICK_RANGES.find((q) => q.from === range.from);
    if (quick) return quick.label;
    const rel = RELATIVE.exec(range.from);
    if (rel && rel[1] && rel[2]) {
      const names: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
      const n = Number(rel[1]);
      return `Last ${n} ${names[rel[2]]}${n === 1 ? '' : 's'}`;
    }
  }
  return `${shortTime(range.from)} → ${shortTime(range.to)}`;
}

function shortTime(v: string): string {
  if (v.startsWith('now')) return v;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return v;
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}

export type Bucket = 'minute' | 'hour' | 'day';

/** A bucket width that keeps a chart between ~15 and ~1500 points. */
export function bucketFor(spanMs: number): Bucket {
  if (spanMs <= 6 * UNIT_MS.h!) return 'minute';
  if (spanMs <= 14 * UNIT_MS.d!) return 'hour';
  return 'day';
}

export const BUCKET_MS: Record<Bucket, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** `YYYY-MM-DDTHH:mm` for <input type="datetime-local"> in local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Parse a datetime-local value (local time) to RFC 3339 UTC, or null. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}
