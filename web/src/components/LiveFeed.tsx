import { useCallback, useEffect, useReducer, useRef, useState, type ReactNode } from 'react';
import { emptyFeed, feedReducer, type FeedState } from '../live/feed';

export interface LiveFeedHandle<T> {
  push: (items: T[]) => void;
}

/**
 * A fixed-height live list. New rows insert at the top only while the user
 * is at the top and not pointing at the list; otherwise an "N new" pill
 * collects them, so what the user is reading never moves.
 */
export function useFeed<T>(key: (t: T) => unknown, cap: number) {
  const [reducer] = useState(() => feedReducer(key, cap));
  const [state, dispatch] = useReducer(reducer, undefined, () => emptyFeed<T>());
  const reset = useCallback((items: T[]) => dispatch({ type: 'reset', items }), []);
  const push = useCallback((items: T[]) => dispatch({ type: 'push', items }), []);
  return { state, dispatch, reset, push };
}

export function LiveFeed<T>({
  state,
  dispatch,
  rowKey,
  renderRow,
  empty,
  label,
  height = 360,
}: {
  state: FeedState<T>;
  dispatch: (a: { type: 'hold'; held: boolean } | { type: 'flush' }) => void;
  rowKey: (t: T) => string | number;
  renderRow: (t: T) => ReactNode;
  empty: ReactNode;
  label: string;
  height?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const hover = useRef(false);
  const focused = useRef(false);
  const scrolled = useRef(false);
  const update = useCallback(
    () => dispatch({ type: 'hold', held: hover.current || focused.current || scrolled.current }),
    [dispatch],
  );

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const onScroll = () => {
      const s = el.scrollTop > 4;
      if (s !== scrolled.current) {
        scrolled.current = s;
        update();
      }
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  }, [update]);

  const n = state.pending.length;
  return (
    <div className="feed-wrap">
      {n > 0 && (
        <button
          type="button"
          className="new-pill"
          onClick={() => {
            dispatch({ type: 'flush' });
            if (ref.current) ref.current.scrollTop = 0;
          }}
        >
          ↑ {n >= 50 ? '50+' : n} new
        </button>
      )}
    <div
      className="feed"
      ref={ref}
      style={{ height }}
      role="feed"
      aria-label={label}
      aria-busy={false}
      onMouseEnter={() => {
        hover.current = true;
        update();
      }}
      onMouseLeave={() => {
        hover.current = false;
        update();
      }}
      // A keyboard user reading the list holds it too.
      onFocus={() => {
        focused.current = true;
        update();
      }}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) {
          focused.current = false;
          update();
        }
      }}
    >
      {state.items.length === 0 ? (
        empty
      ) : (
        state.items.map((it) => (
          <article key={rowKey(it)}>
            {renderRow(it)}
          </article>
        ))
      )}
    </div>
    </div>
  );
}
