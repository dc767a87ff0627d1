import { describe, expect, it } from 'vitest';
import { emptyFeed, feedReducer } from './feed';

type Row = { id: number; v?: string };
const reduce = feedReducer<Row>((r) => r.id, 50);

describe('live feed', () => {
  it('inserts at the top when not held', () => {
    let s = reduce(emptyFeed<Row>(), { type: 'reset', items: [{ id: 1 }] });
    s = reduce(s, { type: 'push', items: [{ id: 2 }] });
    expect(s.items.map((r) => r.id)).toEqual([2, 1]);
    expect(s.pending).toEqual([]);
  });
  it('holds new rows behind the pill while the user reads', () => {
    let s = reduce(emptyFeed<Row>(), { type: 'reset', items: [{ id: 1 }] });
    s = reduce(s, { type: 'hold', held: true });
    s = reduce(s, { type: 'push', items: [{ id: 2 }, { id: 3 }] });
    expect(s.items.map((r) => r.id)).toEqual([1]);
    expect(s.pending).toHaveLength(2);
    s = reduce(s, { type: 'flush' });
    expect(s.items.map((r) => r.id)).toEqual([2, 3, 1]);
    expect(s.pending).toEqual([]);
  });
  it('updates shown rows in place even when held', () => {
    let s = reduce(emptyFeed<Row>(), { type: 'reset', items: [{ id: 1, v: 'a' }, { id: 2 }] });
    s = reduce(s, { type: 'hold', held: true });
    s = reduce(s, { type: 'push', items: [{ id: 1, v: 'b' }] });
    expect(s.items).toEqual([{ id: 1, v: 'b' }, { id: 2 }]);
    expect(s.pending).toEqual([]);
  });
  it('caps both lists', () => {
    let s = emptyFeed<Row>();
    s = reduce(s, { type: 'hold', held: true });
    for (let i = 0; i < 1000; i++) s = reduce(s, { type: 'push', items: [{ id: i }] });
    expect(s.pending).toHaveLength(50);
    s = reduce(s, { type: 'hold', held: false });
    expect(s.items).toHaveLength(50);
    expect(s.items[0]!.id).toBe(999);
  });
});
