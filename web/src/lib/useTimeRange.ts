import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { readRange, type TimeRange } from './timeRange';

/** The page's time range, kept in `?from=&to=`. */
export function useTimeRange(): [TimeRange, (r: TimeRange) => void] {
  const [params, setParams] = useSearchParams();
  const from = params.get('from');
  const to = params.get('to');
  const range = useMemo(() => readRange(new URLSearchParams({ from: from ?? '', to: to ?? '' })), [from, to]);
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
