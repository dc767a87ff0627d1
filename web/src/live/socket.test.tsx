import { describe, expect, it, vi } from 'vitest';
import { render } from '@testing-library/react';

const handlers = new Map<string, Set<(p: unknown) => void>>();
const emitted: [string, unknown][] = [];
const fake = {
  connected: true,
  on: (ev: string, fn: (p: unknown) => void) => {
    if (!handlers.has(ev)) handlers.set(ev, new Set());
    handlers.get(ev)!.add(fn);
  },
  off: (ev: string, fn: (p: unknown) => void) => handlers.get(ev)?.delete(fn),
  emit: (ev: string, p: unknown) => emitted.push([ev, p]),
};
vi.mock('socket.io-client', () => ({ io: () => fake }));

const { useLiveEvent, useRoom } = await import('./socket');

function Listener({ onMsg, room }: { onMsg: (p: unknown) => void; room?: string }) {
  useLiveEvent('finding', onMsg);
  useRoom(room ?? 'events', !!room);
  return null;
}

describe('live socket hooks', () => {
  it('removes listeners on unmount', () => {
    const got: unknown[] = [];
    const view = render(<Listener onMsg={(p) => got.push(p)} />);
    handlers.get('finding')!.forEach((fn) => fn({ id: 1 }));
    expect(got).toEqual([{ id: 1 }]);
    view.unmount();
    expect(handlers.get('finding')!.size).toBe(0);
  });

  it('joins a room once however many components ask, and leaves with the last', () => {
    emitted.length = 0;
    const a = render(<Listener onMsg={() => {}} room="events" />);
    const b = render(<Listener onMsg={() => {}} room="events" />);
    expect(emitted.filter(([e]) => e === 'subscribe')).toEqual([['subscribe', { rooms: ['events'] }]]);
    a.unmount();
    expect(emitted.some(([e]) => e === 'unsubscribe')).toBe(false);
    b.unmount();
    expect(emitted.filter(([e]) => e === 'unsubscribe')).toEqual([['unsubscribe', { rooms: ['events'] }]]);
  });
});
