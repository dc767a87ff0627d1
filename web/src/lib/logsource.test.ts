import { describe, expect, it } from 'vitest';
import { EVENT_FILTERS, apiQuery, readFilters, writeFilters } from './filters';
import { logsourceLabel, logsourceProblem, matchesLogsource } from './logsource';

describe('logsource filters', () => {
  it('are read from the URL and sent under the API names', () => {
    const params = new URLSearchParams('product=aws&logsource_service=%20cloudtrail%20&service=api&page=2');
    const f = readFilters(EVENT_FILTERS, params);
    expect(f.product).toBe('aws');
    expect(f.category).toBe('');
    expect(f.logsource_service).toBe('cloudtrail');
    expect(apiQuery(f)).toEqual({ product: 'aws', logsource_service: 'cloudtrail', service: 'api' });
  });

  it('are written back with the other filters kept and the page reset', () => {
    const next = writeFilters(new URLSearchParams('product=aws&kind=log&page=3'), { product: '', category: 'iam' });
    expect(next.has('product')).toBe(false);
    expect(next.get('category')).toBe('iam');
    expect(next.get('kind')).toBe('log');
    expect(next.has('page')).toBe(false);
  });

  it('check values as the server does', () => {
    expect(logsourceProblem('process_creation')).toBeNull();
    expect(logsourceProblem('')).toBeNull();
    expect(logsourceProblem('aws cloud')).toMatch(/letters/);
    expect(logsourceProblem('a'.repeat(65))).toMatch(/64/);
  });

  it('label and match events', () => {
    const ls = { product: 'aws', category: null, service: 'cloudtrail' };
    expect(logsourceLabel(ls)).toBe('aws / cloudtrail');
    expect(logsourceLabel(undefined)).toBe('');
    expect(matchesLogsource(ls, { product: 'aws', logsource_service: 'cloudtrail' })).toBe(true);
    expect(matchesLogsource(ls, { category: 'iam' })).toBe(false);
    expect(matchesLogsource(ls, {})).toBe(true);
    expect(matchesLogsource(undefined, { product: 'vigilo' })).toBe(false);
  });
});
