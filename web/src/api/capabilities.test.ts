import { describe, expect, it } from 'vitest';
import { capabilitiesOf, hasPath, queryParams } from './capabilities';

const spec = {
  paths: {
    '/api/v1/events': {
      get: { parameters: [{ name: 'kind', in: 'query' }, { name: 'logsource', in: 'query' }, { name: 'x', in: 'header' }] },
    },
  },
};

describe('capabilities', () => {
  it('lists query parameters of an operation', () => {
    expect(queryParams(spec, '/api/v1/events')).toEqual(['kind', 'logsource']);
    expect(queryParams(spec, '/api/v1/nope')).toEqual([]);
    expect(hasPath(spec, '/api/v1/events')).toBe(true);
  });
});

describe('capabilitiesOf', () => {
  it('drops undocumented parameters', () => {
    const c = capabilitiesOf(spec, true);
    expect(c.pick('/api/v1/events', { kind: 'log', q: 'x', logsource: 'a' })).toEqual({ kind: 'log', logsource: 'a' });
    expect(c.supports('/api/v1/events', 'format')).toBe(false);
    expect(c.has('/api/v1/findings/bulk')).toBe(false);
  });
  it('assumes everything without a document', () => {
    const c = capabilitiesOf(undefined, true);
    expect(c.pick('/x', { a: 1 })).toEqual({ a: 1 });
    expect(c.has('/x')).toBe(true);
  });
});
