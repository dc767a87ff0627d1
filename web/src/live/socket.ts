// One Socket.IO connection per tab, shared by every page. Pages listen with
// useLiveEvent (the listener is removed on unmount) and join extra rooms with
// useRoom (reference-counted, re-joined after a reconnect).
import { useEffect, useRef, useSyncExternalStore } from 'react';
import { io, type Socket } from 'socket.io-client';

export type LiveStatus = 'connecting' | 'connected' | 'disconnected';

let socket: Socket | null = null;
let status: LiveStatus = 'connecting';
const statusListeners = new Set<() => void>();
const roomRefs = new Map<string, number>();

function setStatus(s: LiveStatus) {
  status = s;
  statusListeners.forEach((l) => l());
}

function joinedRooms(): string[] {
  return [...roomRefs.entries()].filter(([, n]) => n > 0).map(([r]) => r);
}

export function getSocket(): Socket {
  if (!socket) {
    socket = io({ path: '/socket.io', transports: ['websocket', 'polling'], reconnectionDelayMax: 10_000 });
    socket.on('connect', () => {
      setStatus('connected');
      const rooms = joinedRooms();
      if (rooms.length) socket?.emit('subscribe', { rooms });
    });
    socket.on('disconnect', () => setStatus('disconnected'));
    socket.on('connect_error', () => setStatus('disconnected'));
  }
  return socket;
}

export function useLiveStatus(): LiveStatus {
  return useSyncExternalStore(
    (cb) => {
      getSocket();
      statusListeners.add(cb);
      return () => statusListeners.delete(cb);
    },
    () => status,
    () => status,
  );
}

/** Listen for a server event while mounted. The handler may change between renders. */
export function useLiveEvent<T>(event: string, handler: (payload: T) => void, enabled = true): void {
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => {
    if (!enabled) return;
    const s = getSocket();
    const fn = (payload: T) => ref.current(payload);
    s.on(event, fn);
    return () => {
      s.off(event, fn);
    };
  }, [event, enabled]);
}

/** Join a room (`events`, ...) while mounted and enabled. */
export function useRoom(room: string, enabled = true): void {
  useEffect(() => {
    if (!enabled) return;
    const s = getSocket();
    const n = roomRefs.get(room) ?? 0;
    roomRefs.set(room, n + 1);
    if (n === 0 && s.connected) s.emit('subscribe', { rooms: [room] });
    return () => {
      const left = (roomRefs.get(room) ?? 1) - 1;
      roomRefs.set(room, left);
      if (left === 0) {
        roomRefs.delete(room);
        if (s.connected) s.emit('unsubscribe', { rooms: [room] });
      }
    };
  }, [room, enabled]);
}
