// The one HTTP client. Every API call in the app goes through `request`, so
// the session is handled in one place: cookies are sent, unsafe methods carry
// the CSRF token, a 401 refreshes the session once and retries, and a session
// that cannot be refreshed sends the user to the sign-in page. Every error
// reaches the UI as an ApiError with the server's `{"error": {"code",
// "message"}}` text.

import type { paths } from './schema';
import type { Session } from './types';

/** `/api/v1/findings/{id}` -> `/api/v1/findings/${string}`. */
type Filled<S extends string> = S extends `${infer A}{${string}}${infer B}` ? `${A}${string}${Filled<B>}` : S;

/**
 * Every path the server's OpenAPI document lists (with its `{params}` as any
 * string), plus the document itself: a call to a route the server does not
 * have fails the type check.
 */
export type ApiPath = Filled<keyof paths & string> | '/api/openapi.json';

// ---------- where the API is ----------

let base = ((import.meta.env.VITE_VIGILO_API as string | undefined) ?? '').replace(/\/+$/, '');

/** The API's origin when it is not the page's (`VITE_VIGILO_API` at build time); '' for same origin. */
export function apiBase(): string {
  return base;
}

/** For tests and embedding: point the client at another origin ('' for the page's). */
export function setApiBase(url: string): void {
  base = url.replace(/\/+$/, '');
}

/** Whether the API lives on another origin than the page (cookies then need `include`). */
export function isCrossOrigin(): boolean {
  if (!base) return false;
  try {
    return new URL(base, window.location.href).origin !== window.location.origin;
  } catch {
    return false;
  }
}

/** Absolute URL of an API path (for links such as exports). */
export function apiUrl(path: string): string {
  return base + path;
}

function credentials(): RequestCredentials {
  return isCrossOrigin() ? 'include' : 'same-origin';
}

// ---------- CSRF ----------

const CSRF_COOKIE = 'vigilo_csrf';
// The login answer's copy: the cookie is not readable when the API is on
// another origin.
let csrfFromSession = '';

function readCookie(name: string): string {
  if (typeof document === 'undefined') return '';
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return '';
}

export function csrfToken(): string {
  return readCookie(CSRF_COOKIE) || csrfFromSession;
}

/** Keep what a login, setup or refresh answer carries that the client needs. */
export function rememberSession(s: Pick<Session, 'csrf_token'> | null): void {
  csrfFromSession = s?.csrf_token ?? '';
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// ---------- signing in again ----------

/** `/login?next=<where the user is>` (the page to return to after sign-in). */
export function loginPath(loc: { pathname: string; search: string; hash: string } = window.location): string {
  if (loc.pathname === '/login') return `${loc.pathname}${loc.search}`;
  const next = `${loc.pathname}${loc.search}${loc.hash}`;
  return next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`;
}

let unauthenticated: () => void = () => {
  if (window.location.pathname !== '/login') window.location.assign(loginPath());
};

/** What happens when the session is gone (the app navigates with its router). */
export function setUnauthenticatedHandler(fn: () => void): void {
  unauthenticated = fn;
}

export function goToLogin(): void {
  if (typeof window !== 'undefined' && window.location.pathname === '/login') return;
  unauthenticated();
}

let refreshing: Promise<boolean> | null = null;

/**
 * POST /api/v1/auth/refresh with the refresh cookie; one request however many
 * callers ask at once. True when a new session was issued.
 */
export function refreshSession(): Promise<boolean> {
  if (refreshing) return refreshing;
  const p = (async () => {
    try {
      const h = new Headers({ Accept: 'application/json' });
      const csrf = csrfToken();
      if (csrf) h.set('X-CSRF-Token', csrf);
      const res = await fetch(apiUrl('/api/v1/auth/refresh'), { method: 'POST', headers: h, credentials: credentials() });
      if (!res.ok) return false;
      const s = (await res.json().catch(() => null)) as Session | null;
      if (s?.csrf_token) rememberSession(s);
      return true;
    } catch {
      return false;
    }
  })();
  refreshing = p;
  void p.finally(() => {
    if (refreshing === p) refreshing = null;
  });
  return p;
}

/** Routes whose 401 is an answer (wrong password, no session) rather than an expired session. */
const NO_REFRESH = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/setup', '/api/v1/auth/config', '/api/v1/auth/logout']);

// ---------- requests ----------

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Seconds to wait, from `Retry-After` (429). */
  readonly retryAfter: number | null;
  constructor(status: number, code: string, message: string, details?: unknown, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

export type Query = Record<string, string | number | boolean | undefined | null | readonly string[]>;

export function buildUrl(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) {
      if (v.length) q.set(k, v.join(','));
    } else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface RequestOptions {
  method?: Method;
  query?: Query;
  /** JSON-encoded unless it is FormData or a string. */
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export function headers(method: Method = 'GET', extra?: Record<string, string>): Headers {
  const h = new Headers(extra);
  h.set('Accept', 'application/json');
  if (UNSAFE.has(method)) {
    const csrf = csrfToken();
    if (csrf) h.set('X-CSRF-Token', csrf);
  }
  return h;
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - now) / 1000));
}

/** Turn a failed response into an ApiError carrying the server's message. */
export async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error?.message) {
      return new ApiError(res.status, body.error.code ?? 'error', body.error.message, body.error.details, retryAfter);
    }
  } catch {
    // not JSON
  }
  const message = text.trim().slice(0, 300) || `${res.status} ${res.statusText || 'request failed'}`;
  return new ApiError(res.status, 'http_error', message, undefined, retryAfter);
}

async function send(path: string, opts: RequestOptions): Promise<Response> {
  const method = opts.method ?? 'GET';
  const h = headers(method);
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) body = opts.body;
  else if (typeof opts.body === 'string') {
    body = opts.body;
    h.set('Content-Type', opts.contentType ?? 'application/json');
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    h.set('Content-Type', 'application/json');
  }
  try {
    return await fetch(apiUrl(buildUrl(path, opts.query)), {
      method,
      headers: h,
      body,
      signal: opts.signal,
      credentials: credentials(),
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the Vigilo server. Is it running?');
  }
}

export async function request<T>(path: ApiPath, opts: RequestOptions = {}): Promise<T> {
  let res = await send(path, opts);
  if (res.status === 401 && !NO_REFRESH.has(path)) {
    // The session expired: refresh it once and try again.
    if (await refreshSession()) res = await send(path, opts);
    if (res.status === 401) goToLogin();
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: ApiPath, query?: Query, signal?: AbortSignal) => request<T>(path, { query, signal }),
  post: <T>(path: ApiPath, body?: unknown, query?: Query) => request<T>(path, { method: 'POST', body, query }),
  patch: <T>(path: ApiPath, body: unknown) => request<T>(path, { method: 'PATCH', body }),
  put: <T>(path: ApiPath, body: unknown) => request<T>(path, { method: 'PUT', body }),
  delete: <T = void>(path: ApiPath) => request<T>(path, { method: 'DELETE' }),
};

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
