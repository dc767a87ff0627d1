import { createContext, useCallback, useContext, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { DEFAULT_RANGE, readRange, type TimeRange } from './timeRange';

/** The range used when the URL has none: the signed-in user's preference (set by the shell). */
export const DefaultRangeContext = createContext<TimeRange>(DEFAULT_RANGE);

/** The page's time range, kept in `?from=&to=`. */
export function useTimeRange(): [TimeRange, (r: TimeRange) => void] {
  const [params, setParams] = useSearchParams();
  const fallback = useContext(DefaultRangeContext);
  const from = params.get('from');
  const to = params.get('to');
  const range = useMemo(
    () => readRange(new URLSearchParams({ from: from ?? '', to: to ?? '' }), fallback),
    [from, to, fallback],
  );
  const setRange = useCallback(
    (r: TimeRange) => {
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        next.set('from', r.from);
        next.set('to', r.to);
        next.delete('page');
        return next;
      });
    },
    [setParams],
  );
  return [range, setRange];
}
