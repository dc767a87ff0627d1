import { describe, expect, it } from 'vitest';
import { parseEvents, summary } from './events';
import type { EventRecord } from '../api/types';

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

describe('summary', () => {
  const ev = (payload: Record<string, unknown>): EventRecord => ({
    id: 1,
    timestamp: '',
    received_at: '',
    kind: 'x',
    payload,
  });
  it('prefers the message', () => {
    expect(summary(ev({ message: 'upstream timed out', level: 'ERROR' }))).toBe('upstream timed out');
  });
  it('names the event type with its fields', () => {
    expect(summary(ev({ kind: 'audit', user: 'a', event_type: 'login', outcome: 'failure' }))).toBe('login outcome=failure');
  });
  it('lists own scalar fields otherwise', () => {
    expect(summary(ev({ timestamp: 't', kind: 'metric', metric_name: 'cpu', value: 93.5, tags: {} }))).toBe('metric_name=cpu value=93.5');
  });
});
