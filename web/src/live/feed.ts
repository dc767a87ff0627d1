// State of a live feed that never moves what the user is reading: while the
// user is at the top, new rows go straight in; once they scroll down or
// hover the list, new rows wait behind an "N new" pill. Rows already shown
// are updated in place. Both lists are capped.
import { pushCapped } from './buffer';

export interface FeedState<T> {
  items: T[];
  pending: T[];
  held: boolean;
}

export type FeedAction<T> =
  | { type: 'reset'; items: T[] }
  | { type: 'push'; items: T[] }
  | { type: 'hold'; held: boolean }
  | { type: 'flush' };

export function feedReducer<T>(key: (t: T) => unknown, cap: number) {
  return (state: FeedState<T>, action: FeedAction<T>): FeedState<T> => {
    switch (action.type) {
      case 'reset':
        return { items: action.items.slice(0, cap), pending: [], held: state.held };
      case 'hold':
        if (!action.held && state.pending.length && state.held) {
          // Released at the top: show what was waiting.
          return { items: pushCapped(state.items, state.pending, cap, key), pending: [], held: false };
        }
        return { ...state, held: action.held };
      case 'flush':
        return { items: pushCapped(state.items, state.pending, cap, key), pending: [], held: state.held };
      case 'push': {
        let items = state.items;
        const fresh: T[] = [];
        for (const it of action.items) {
          const k = key(it);
          const i = items.findIndex((x) => key(x) === k);
          if (i >= 0) {
            if (items === state.items) items = items.slice();
            items[i] = it;
          } else fresh.push(it);
        }
        if (!fresh.length) return { ...state, items };
        if (state.held) return { ...state, items, pending: pushCapped(state.pending, fresh, cap, key) };
        return { ...state, items: pushCapped(items, fresh, cap, key) };
      }
    }
  };
}

export const emptyFeed = <T,>(): FeedState<T> => ({ items: [], pending: [], held: false });
