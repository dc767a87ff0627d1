import { describe, expect, it } from 'vitest';
import { fmtAgo, fmtCompact, fmtDuration, fmtNum } from './format';

describe('format', () => {
  it('numbers', () => {
    expect(fmtNum(1234567)).toBe('1,234,567');
    expect(fmtNum(null)).toBe('—');
    expect(fmtCompact(1520)).toBe('1.5k');
    expect(fmtCompact(2_300_000)).toBe('2.3M');
  });
  it('ages and durations', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    expect(fmtAgo('2026-01-01T00:09:50Z', now)).toBe('10 s ago');
    expect(fmtAgo('2026-01-01T00:00:00Z', now)).toBe('10 min ago');
    expect(fmtAgo(null, now)).toBe('never');
    expect(fmtDuration(250)).toBe('250 ms');
    expect(fmtDuration(2500)).toBe('2.5 s');
  });
});
