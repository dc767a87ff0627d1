// An event's Sigma logsource (product, category, service): how the explorer
// shows it and filters on it. The URL keys are the API's query parameters,
// so a shared link and the request agree.

export type Logsource = { product?: string | null; category?: string | null; service?: string | null };

/** URL and API keys of the logsource filters (`service` is the event's own field). */
export const LOGSOURCE_KEYS = ['product', 'category', 'logsource_service'] as const;
export type LogsourceFilter = Partial<Record<(typeof LOGSOURCE_KEYS)[number], string>>;

const VALUE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Why a filter value would be refused by the server, or null when it is fine. */
export function logsourceProblem(value: string): string | null {
  if (value === '' || VALUE.test(value)) return null;
  return value.length > 64 ? 'at most 64 characters' : 'letters, digits, _ - . only';
}

/** `aws / cloudtrail`: the named dimensions in order, or '' when none is. */
export function logsourceLabel(ls?: Logsource | null): string {
  if (!ls) return '';
  return [ls.product, ls.category, ls.service].filter((v): v is string => !!v).join(' / ');
}

/** Whether an event's logsource passes the filters (exact match on each one set). */
export function matchesLogsource(ls: Logsource | null | undefined, f: LogsourceFilter): boolean {
  const pairs: [string | undefined, string | null | undefined][] = [
    [f.product, ls?.product],
    [f.category, ls?.category],
    [f.logsource_service, ls?.service],
  ];
  return pairs.every(([want, got]) => !want || want === got);
}
