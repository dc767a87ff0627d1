// One Socket.IO connection per tab, shared by every page. Pages listen with
// useLiveEvent (the listener is removed on unmount) and join extra rooms with
// useRoom (reference-counted, re-joined after a reconnect).
import { useEffect, useRef, useSyncExternalStore } from 'react';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { apiBase, goToLogin, isCrossOrigin, refreshSession } from '../api/client';

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

/** Whether a `connect_error` is the server refusing a handshake without a valid session. */
export function isAuthError(err: unknown): boolean {
  const e = err as { message?: string; data?: { code?: string } } | null;
  const code = e?.data?.code ?? e?.message;
  return code === 'unauthenticated' || code === 'invalid_token';
}

/** Handshake options: the browser sends the session cookie (cross-origin only with withCredentials). */
export function socketOptions(): Partial<ManagerOptions & SocketOptions> {
  return {
    path: '/socket.io',
    transports: ['websocket', 'polling'],
    reconnectionDelayMax: 10_000,
    withCredentials: isCrossOrigin(),
  };
}

// One refresh per run of refused handshakes; a second refusal signs out.
let refreshTried = false;

export function getSocket(): Socket {
  if (!socket) {
    const base = apiBase();
    const s = base ? io(base, socketOptions()) : io(socketOptions());
    socket = s;
    s.on('connect', () => {
      refreshTried = false;
      setStatus('connected');
      const rooms = joinedRooms();
      if (rooms.length) s.emit('subscribe', { rooms });
    });
    s.on('disconnect', () => setStatus('disconnected'));
    s.on('connect_error', (err: unknown) => {
      setStatus('disconnected');
      if (!isAuthError(err)) return;
      // A refused handshake is not retried by socket.io: refresh the
      // session and connect again, or sign in.
      if (refreshTried) {
        goToLogin();
        return;
      }
      refreshTried = true;
      void refreshSession().then((ok) => {
        if (ok) s.connect();
        else goToLogin();
      });
    });
  }
  return socket;
}

/** Connect again with the current cookies (after signing in). */
export function reconnectSocket(): void {
  if (!socket) return;
  refreshTried = false;
  socket.disconnect();
  setStatus('connecting');
  socket.connect();
}

/** Close the connection (signing out); the next page that listens opens a new one. */
export function closeSocket(): void {
  socket?.disconnect();
  socket?.removeAllListeners();
  socket = null;
  setStatus('connecting');
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
