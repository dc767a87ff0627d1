import { describe, expect, it } from 'vitest';
import { hasPath, queryParams } from './capabilities';

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
