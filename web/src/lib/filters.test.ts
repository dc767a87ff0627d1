import { describe, expect, it } from 'vitest';
import { FINDING_FILTERS, apiQuery, exportUrl, pageOf, readFilters, toggle, writeFilters } from './filters';

describe('filters in the URL', () => {
  it('reads lists and strings', () => {
    const f = readFilters(FINDING_FILTERS, new URLSearchParams('severity=high,critical&q=%20root%20&page=3'));
    expect(f.severity).toEqual(['high', 'critical']);
    expect(f.status).toEqual([]);
    expect(f.q).toBe('root');
    expect(f.user).toBe('');
  });

  it('writes changes, drops empties, keeps the time range and resets the page', () => {
    const p = new URLSearchParams('from=now-24h&to=now&page=4&user=alice');
    const next = writeFilters(p, { severity: ['high'], user: '' });
    expect(next.get('severity')).toBe('high');
    expect(next.has('user')).toBe(false);
    expect(next.get('from')).toBe('now-24h');
    expect(next.has('page')).toBe(false);
  });

  it('keeps the page when asked to', () => {
    const next = writeFilters(new URLSearchParams('page=2'), { page: '3' });
    expect(next.get('page')).toBe('3');
  });

  it('round-trips', () => {
    const before = { severity: ['low', 'medium'], q: 'x y' };
    const params = writeFilters(new URLSearchParams(), before);
    const after = readFilters(FINDING_FILTERS, new URLSearchParams(params.toString()));
    expect(after.severity).toEqual(before.severity);
    expect(after.q).toBe('x y');
  });

  it('builds API queries and export links', () => {
    const q = apiQuery({ severity: ['high', 'critical'], user: '', q: 'a' }, ['q']);
    expect(q).toEqual({ severity: 'high,critical' });
    expect(exportUrl('/api/v1/findings', { ...q, page: '2' }, 'csv')).toBe(
      '/api/v1/findings?severity=high%2Ccritical&format=csv',
    );
  });

  it('toggles and pages', () => {
    expect(toggle(['a'], 'b')).toEqual(['a', 'b']);
    expect(toggle(['a', 'b'], 'a')).toEqual(['b']);
    expect(pageOf(new URLSearchParams('page=0'))).toBe(1);
    expect(pageOf(new URLSearchParams('page=7'))).toBe(7);
  });
});
