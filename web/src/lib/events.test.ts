import { describe, expect, it } from 'vitest';
import { parseEvents } from './events';

describe('parseEvents', () => {
  it('reads arrays, single objects and NDJSON', () => {
    expect(parseEvents('[{"a":1},{"a":2}]')).toHaveLength(2);
    expect(parseEvents('{"a":1}')).toEqual([{ a: 1 }]);
    expect(parseEvents('{"a":1}\n\n{"a":2}\n')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseEvents('  ')).toEqual([]);
  });
  it('names the bad line', () => {
    expect(() => parseEvents('{"a":1}\nnope')).toThrow('line 2');
  });
});
