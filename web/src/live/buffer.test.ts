import { describe, expect, it } from 'vitest';
import { appendPoint, pushCapped, rolling, type Point } from './buffer';

describe('pushCapped', () => {
  it('keeps newest first and caps', () => {
    let list: number[] = [];
    for (let i = 0; i < 500; i++) list = pushCapped(list, [i], 50);
    expect(list).toHaveLength(50);
    expect(list[0]).toBe(499);
    expect(list[49]).toBe(450);
  });
  it('replaces an item with the same key (an updated finding)', () => {
    const list = [{ id: 1, v: 'a' }, { id: 2, v: 'b' }];
    const next = pushCapped(list, [{ id: 2, v: 'c' }], 50, (x) => x.id);
    expect(next).toEqual([{ id: 2, v: 'c' }, { id: 1, v: 'a' }]);
  });
});

describe('appendPoint', () => {
  const minute = 60_000;
  it('sums samples of one bucket', () => {
    let pts: Point[] = [];
    pts = appendPoint(pts, { time: 0, value: 2 }, minute, 10 * minute);
    pts = appendPoint(pts, { time: 30_000, value: 3 }, minute, 10 * minute);
    expect(pts).toEqual([{ time: 0, value: 5 }]);
  });
  it('never holds more than the window', () => {
    let pts: Point[] = [];
    for (let s = 0; s < 6 * 3600; s++) pts = appendPoint(pts, { time: s * 1000, value: 1 }, minute, 60 * minute);
    expect(pts.length).toBeLessThanOrEqual(61);
    expect(pts[pts.length - 1]!.value).toBe(60);
  });
  it('adds late samples to their bucket', () => {
    let pts: Point[] = [{ time: 0, value: 1 }, { time: minute, value: 1 }];
    pts = appendPoint(pts, { time: 10, value: 4 }, minute, 10 * minute);
    expect(pts[0]!.value).toBe(5);
  });
});

describe('rolling', () => {
  it('keeps the last n', () => {
    let l: number[] = [];
    for (let i = 0; i < 100; i++) l = rolling(l, i, 10);
    expect(l).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
  });
});
