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
