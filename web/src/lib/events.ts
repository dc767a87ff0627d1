import type { EventRecord } from '../api/types';

/** A JSON array, one JSON object, or NDJSON. */
export function parseEvents(text: string): unknown[] {
  const t = text.trim();
  if (!t) return [];
  try {
    const v: unknown = JSON.parse(t);
    return Array.isArray(v) ? v : [v];
  } catch {
    return t
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l, i) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          throw new Error(`Events: line ${i + 1} is not JSON`);
        }
      });
  }
}

const WELL_KNOWN = new Set(['timestamp', '@timestamp', 'ts', 'kind', 'service', 'user', 'user_id', 'username']);

/** One line that says what the event is: its message, or its own fields. */
export function summary(e: EventRecord): string {
  const p = e.payload;
  for (const k of ['message', 'msg', 'event_type', 'action', 'event']) {
    const v = p[k];
    if (typeof v === 'string' && v) {
      const rest = k === 'message' || k === 'msg' ? '' : ` ${fields(p, new Set([k]))}`;
      return `${v}${rest}`.trim();
    }
  }
  return fields(p, new Set());
}

function fields(p: Record<string, unknown>, skip: Set<string>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (WELL_KNOWN.has(k) || skip.has(k) || v === null || typeof v === 'object') continue;
    parts.push(`${k}=${String(v)}`);
    if (parts.length >= 6) break;
  }
  const s = parts.join(' ');
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

