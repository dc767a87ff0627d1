// Bounded buffers for live data: a tab left open for hours keeps a fixed
// amount of memory however much arrives.

/** Prepend newest-first items, dropping duplicates by key and capping the length. */
export function pushCapped<T>(list: readonly T[], items: readonly T[], cap: number, key?: (t: T) => unknown): T[] {
  if (items.length === 0) return list.slice(0, cap);
  if (!key) return [...items, ...list].slice(0, cap);
  const seen = new Set<unknown>();
  const out: T[] = [];
  for (const item of [...items, ...list]) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
    if (out.length >= cap) break;
  }
  return out;
}

export interface Point {
  time: number;
  value: number;
}

/**
 * Add a live sample to a time series (oldest first): samples in the same
 * bucket are summed into the last point, and points older than the window
 * are dropped, so the array never holds more than window / bucket points.
 */
export function appendPoint(points: readonly Point[], sample: Point, bucketMs: number, windowMs: number): Point[] {
  const start = Math.floor(sample.time / bucketMs) * bucketMs;
  const out = points.slice();
  const last = out[out.length - 1];
  if (last && last.time === start) {
    out[out.length - 1] = { time: start, value: last.value + sample.value };
  } else if (!last || last.time < start) {
    out.push({ time: start, value: sample.value });
  } else {
    // A sample for an older bucket: add it where it belongs, if still shown.
    const i = out.findIndex((p) => p.time === start);
    if (i >= 0) out[i] = { time: start, value: out[i]!.value + sample.value };
  }
  const cutoff = sample.time - windowMs;
  const maxPoints = Math.ceil(windowMs / bucketMs) + 1;
  let first = 0;
  while (first < out.length && out[first]!.time < cutoff) first++;
  const kept = out.slice(first);
  return kept.length > maxPoints ? kept.slice(kept.length - maxPoints) : kept;
}

/** A rolling window of the last `cap` samples (e.g. events/s sparkline). */
export function rolling<T>(list: readonly T[], item: T, cap: number): T[] {
  const out = list.length >= cap ? list.slice(list.length - cap + 1) : list.slice();
  out.push(item);
  return out;
}
