// The one HTTP client. Every API call in the app goes through `request`, so
// the actor header (and, once sign-in lands, the session) is added in one
// place, and every error reaches the UI as an ApiError with the server's
// `{"error": {"code", "message"}}` text.

import type { paths } from './schema';

/** `/api/v1/findings/{id}` -> `/api/v1/findings/${string}`. */
type Filled<S extends string> = S extends `${infer A}{${string}}${infer B}` ? `${A}${string}${Filled<B>}` : S;

/**
 * Every path the server's OpenAPI document lists (with its `{params}` as any
 * string), plus the document itself: a call to a route the server does not
 * have fails the type check.
 */
export type ApiPath = Filled<keyof paths & string> | '/api/openapi.json';

const ACTOR_KEY = 'vigilo.actor';

export function getActor(): string {
  try {
    return localStorage.getItem(ACTOR_KEY)?.trim() ?? '';
  } catch {
    return '';
  }
}

export function setActor(name: string): void {
  try {
    if (name.trim()) localStorage.setItem(ACTOR_KEY, name.trim());
    else localStorage.removeItem(ACTOR_KEY);
  } catch {
    // storage unavailable (private mode): the header is simply not sent
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
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

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  query?: Query;
  /** JSON-encoded unless it is FormData or a string. */
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export function headers(extra?: Record<string, string>): Headers {
  const h = new Headers(extra);
  h.set('Accept', 'application/json');
  const actor = getActor();
  if (actor) h.set('X-Vigilo-Actor', actor);
  return h;
}

/** Turn a failed response into an ApiError carrying the server's message. */
export async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error?.message) {
      return new ApiError(res.status, body.error.code ?? 'error', body.error.message, body.error.details);
    }
  } catch {
    // not JSON
  }
  const message = text.trim().slice(0, 300) || `${res.status} ${res.statusText || 'request failed'}`;
  return new ApiError(res.status, 'http_error', message);
}

export async function request<T>(path: ApiPath, opts: RequestOptions = {}): Promise<T> {
  const h = headers();
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) body = opts.body;
  else if (typeof opts.body === 'string') {
    body = opts.body;
    h.set('Content-Type', opts.contentType ?? 'application/json');
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    h.set('Content-Type', 'application/json');
  }
  let res: Response;
  try {
    res = await fetch(buildUrl(path, opts.query), {
      method: opts.method ?? 'GET',
      headers: h,
      body,
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the Vigilo server. Is it running?');
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  get: <T>(path: ApiPath, query?: Query, signal?: AbortSignal) => request<T>(path, { query, signal }),
  post: <T>(path: ApiPath, body?: unknown, query?: Query) => request<T>(path, { method: 'POST', body, query }),
  patch: <T>(path: ApiPath, body: unknown) => request<T>(path, { method: 'PATCH', body }),
};

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
