import { afterEach, describe, expect, it, vi } from 'vitest';
import { render } from '@testing-library/react';

const handlers = new Map<string, Set<(p: unknown) => void>>();
const emitted: [string, unknown][] = [];
const ioArgs: unknown[][] = [];
const connects: number[] = [];
const fake = {
  connected: true,
  connect: () => connects.push(1),
  on: (ev: string, fn: (p: unknown) => void) => {
    if (!handlers.has(ev)) handlers.set(ev, new Set());
    handlers.get(ev)!.add(fn);
  },
  off: (ev: string, fn: (p: unknown) => void) => handlers.get(ev)?.delete(fn),
  emit: (ev: string, p: unknown) => emitted.push([ev, p]),
};
vi.mock('socket.io-client', () => ({
  io: (...args: unknown[]) => {
    ioArgs.push(args);
    return fake;
  },
}));

const { getSocket, useLiveEvent, useRoom } = await import('./socket');
const { setUnauthenticatedHandler } = await import('../api/client');

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

describe('live socket and the session', () => {
  afterEach(() => vi.restoreAllMocks());

  it('sends cookies with the handshake (same origin: no withCredentials needed)', () => {
    getSocket();
    const opts = ioArgs[0]![0] as { withCredentials?: boolean; path?: string };
    expect(opts.path).toBe('/socket.io');
    expect(opts.withCredentials).toBe(false);
  });

  it('refreshes the session once on an unauthenticated handshake, then sends the user to sign in', async () => {
    const signIn = vi.fn();
    setUnauthenticatedHandler(signIn);
    const refresh = vi.spyOn(globalThis, 'fetch');
    getSocket();
    const fire = () => handlers.get('connect_error')!.forEach((fn) => fn({ message: 'unauthenticated', data: { code: 'unauthenticated' } }));
    // First refusal: the refresh works, connect again.
    refresh.mockResolvedValueOnce(new Response('{"csrf_token":"c"}', { status: 200 }));
    fire();
    await vi.waitFor(() => expect(connects.length).toBe(1));
    expect(signIn).not.toHaveBeenCalled();
    // Refused again with the fresh session: sign in.
    fire();
    expect(signIn).toHaveBeenCalledTimes(1);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('ignores other connection errors (the server is restarting)', () => {
    const signIn = vi.fn();
    setUnauthenticatedHandler(signIn);
    getSocket();
    handlers.get('connect_error')!.forEach((fn) => fn(new Error('xhr poll error')));
    expect(signIn).not.toHaveBeenCalled();
  });
});
