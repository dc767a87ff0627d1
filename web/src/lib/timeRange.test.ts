import { describe, expect, it } from 'vitest';
import {
  bucketFor,
  parseTime,
  rangeLabel,
  rangeParams,
  readRange,
  resolveRange,
} from './timeRange';

const NOW = Date.parse('2026-01-10T12:00:00Z');

describe('parseTime', () => {
  it('reads relative times', () => {
    expect(parseTime('now', NOW)).toBe(NOW);
    expect(parseTime('now-15m', NOW)).toBe(NOW - 15 * 60_000);
    expect(parseTime('now-7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTime(' now-1h ', NOW)).toBe(NOW - 3_600_000);
  });
  it('reads RFC 3339', () => {
    expect(parseTime('2026-01-01T00:00:00Z', NOW)).toBe(Date.parse('2026-01-01T00:00:00Z'));
  });
  it('refuses junk', () => {
    expect(parseTime('now-1y', NOW)).toBeNull();
    expect(parseTime('yesterday', NOW)).toBeNull();
    expect(parseTime('12', NOW)).toBeNull();
    expect(parseTime('', NOW)).toBeNull();
  });
});

describe('ranges', () => {
  it('resolves to absolute bounds', () => {
    expect(rangeParams({ from: 'now-1h', to: 'now' }, NOW)).toEqual({
      from: '2026-01-10T11:00:00.000Z',
      to: '2026-01-10T12:00:00.000Z',
    });
  });
  it('falls back to the default when from is after to', () => {
    const r = resolveRange({ from: 'now', to: 'now-1h' }, NOW);
    expect(r).toEqual({ from: NOW - 3_600_000, to: NOW });
  });
  it('reads the URL, ignoring bad values', () => {
    expect(readRange(new URLSearchParams('from=now-24h&to=now'))).toEqual({ from: 'now-24h', to: 'now' });
    expect(readRange(new URLSearchParams('from=bogus&to=now'))).toEqual({ from: 'now-1h', to: 'now' });
    expect(readRange(new URLSearchParams('from=now-7d'))).toEqual({ from: 'now-7d', to: 'now' });
  });
  it('labels quick, relative and absolute ranges', () => {
    expect(rangeLabel({ from: 'now-15m', to: 'now' })).toBe('Last 15 minutes');
    expect(rangeLabel({ from: 'now-2d', to: 'now' })).toBe('Last 2 days');
    expect(rangeLabel({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' })).toBe(
      '2026-01-01 00:00 → 2026-01-02 00:00',
    );
  });
  it('picks buckets by span', () => {
    expect(bucketFor(3_600_000)).toBe('minute');
    expect(bucketFor(86_400_000)).toBe('hour');
    expect(bucketFor(30 * 86_400_000)).toBe('day');
  });
});
