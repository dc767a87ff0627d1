import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, buildUrl, loginPath, parseRetryAfter, rememberSession, setApiBase, setUnauthenticatedHandler } from './client';

const json = (body: unknown, status = 200, headers?: Record<string, string>) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
const unauthenticated = () => json({ error: { code: 'unauthenticated', message: 'sign in first' } }, 401);

function clearCookies() {
  for (const c of document.cookie.split(';')) {
    const name = c.split('=')[0]?.trim();
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
  }
}

let signedOut: ReturnType<typeof vi.fn<() => void>>;
beforeEach(() => {
  signedOut = vi.fn<() => void>();
  setUnauthenticatedHandler(signedOut);
});

afterEach(() => {
  vi.restoreAllMocks();
  clearCookies();
  rememberSession(null);
  setApiBase('');
});

/** fetch answering in turn from `answers`, recording each call. */
function fetchSequence(...answers: (() => Response)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    calls.push({ url: String(input), init: init ?? {} });
    const next = answers.shift();
    if (!next) throw new Error(`unexpected fetch ${String(input)}`);
    return next();
  });
  return { calls, spy };
}

describe('client', () => {
  it('builds query strings, skipping empties', () => {
    expect(buildUrl('/x', { a: 'b', c: '', d: undefined, e: ['1', '2'], f: 3 })).toBe('/x?a=b&e=1%2C2&f=3');
  });

  it('sends cookies and no actor header', async () => {
    const { calls } = fetchSequence(() => json({ ok: 1 }));
    await api.get('/api/v1/findings');
    expect(calls[0]!.init.credentials).toBe('same-origin');
    expect(new Headers(calls[0]!.init.headers).has('X-Vigilo-Actor')).toBe(false);
  });

  it('includes cookies when the API is on another origin', async () => {
    setApiBase('https://vigilo.example.com/');
    const { calls } = fetchSequence(() => json({ ok: 1 }));
    await api.get('/api/v1/findings');
    expect(calls[0]!.url).toBe('https://vigilo.example.com/api/v1/findings');
    expect(calls[0]!.init.credentials).toBe('include');
  });

  it('adds X-CSRF-Token from the vigilo_csrf cookie on unsafe methods only', async () => {
    document.cookie = 'other=1; path=/';
    document.cookie = 'vigilo_csrf=tok%2Ben; path=/';
    const { calls } = fetchSequence(
      () => json({}),
      () => json({}),
      () => json({}),
      () => json({}),
      () => new Response(null, { status: 204 }),
    );
    await api.get('/api/v1/findings');
    await api.post('/api/v1/findings/bulk', { ids: [1] });
    await api.patch('/api/v1/findings/1', { status: 'open' });
    await api.put('/api/v1/auth/me/preferences', {});
    await api.delete('/api/v1/api-keys/3');
    const sent = calls.map((c) => new Headers(c.init.headers).get('X-CSRF-Token'));
    expect(sent).toEqual([null, 'tok+en', 'tok+en', 'tok+en', 'tok+en']);
  });

  it("falls back to the login answer's CSRF token when the cookie is not readable", async () => {
    rememberSession({ csrf_token: 'from-login' });
    const { calls } = fetchSequence(() => json({}));
    await api.post('/api/v1/findings/bulk', { ids: [1] });
    expect(new Headers(calls[0]!.init.headers).get('X-CSRF-Token')).toBe('from-login');
  });

  it('refreshes the session once on a 401 and retries the request', async () => {
    const { calls } = fetchSequence(
      unauthenticated,
      () => json({ token: 't', csrf_token: 'c2', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }),
      () => json({ items: [], total: 0 }),
    );
    const page = await api.get<{ total: number }>('/api/v1/findings');
    expect(page.total).toBe(0);
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/v1/findings',
      'POST /api/v1/auth/refresh',
      'GET /api/v1/findings',
    ]);
    expect(signedOut).not.toHaveBeenCalled();
  });

  it('retries an unsafe request with the refreshed CSRF token', async () => {
    const { calls } = fetchSequence(
      unauthenticated,
      () => json({ token: 't', csrf_token: 'fresh', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 }),
      () => json({ matched: 1, updated: 1 }),
    );
    await api.post('/api/v1/findings/bulk', { ids: [1] });
    expect(new Headers(calls[2]!.init.headers).get('X-CSRF-Token')).toBe('fresh');
    expect(calls[2]!.init.body).toBe('{"ids":[1]}');
  });

  it('sends the user to sign in when the refresh fails', async () => {
    const { calls } = fetchSequence(unauthenticated, unauthenticated);
    const err = await api.get('/api/v1/findings').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(calls).toHaveLength(2);
    expect(signedOut).toHaveBeenCalledTimes(1);
  });

  it('sends the user to sign in when the retry is refused too', async () => {
    fetchSequence(unauthenticated, () => json({ csrf_token: 'c' }), unauthenticated);
    await expect(api.get('/api/v1/findings')).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toHaveBeenCalledTimes(1);
  });

  it('shares one refresh between requests refused at the same time', async () => {
    let refreshes = 0;
    const seen = new Map<string, number>();
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const url = String(input);
      if (url === '/api/v1/auth/refresh') {
        refreshes++;
        await new Promise((r) => setTimeout(r, 10));
        return json({ csrf_token: 'c' });
      }
      const n = (seen.get(url) ?? 0) + 1;
      seen.set(url, n);
      return n === 1 ? unauthenticated() : json({ url });
    });
    const got = await Promise.all([api.get('/api/v1/findings'), api.get('/api/v1/events'), api.get('/api/v1/rules')]);
    expect(got).toHaveLength(3);
    expect(refreshes).toBe(1);
  });

  it('does not refresh on a wrong password', async () => {
    const { calls } = fetchSequence(() => json({ error: { code: 'invalid_credentials', message: 'Wrong username or password.' } }, 401));
    const err = (await api.post('/api/v1/auth/login', { username: 'a', password: 'b' }).catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('invalid_credentials');
    expect(calls).toHaveLength(1);
    expect(signedOut).not.toHaveBeenCalled();
  });

  it("surfaces the API's error message and Retry-After", async () => {
    fetchSequence(() => json({ error: { code: 'too_many_attempts', message: 'Too many attempts.' } }, 429, { 'Retry-After': '30' }));
    const err = (await api.post('/api/v1/auth/login', {}).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('Too many attempts.');
    expect(err.code).toBe('too_many_attempts');
    expect(err.retryAfter).toBe(30);
  });

  it('reads Retry-After as seconds or a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('12', now)).toBe(12);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });

  it('sends the user back where they were after sign-in', () => {
    expect(loginPath({ pathname: '/findings', search: '?status=open', hash: '' })).toBe('/login?next=%2Ffindings%3Fstatus%3Dopen');
    expect(loginPath({ pathname: '/', search: '', hash: '' })).toBe('/login');
  });
});

describe('paths are checked against the OpenAPI document', () => {
  it('accepts documented routes with their parameters filled in', () => {
    // Type-level: never called, only compiled by `npm run typecheck`.
    const typed = () => {
      void api.get('/api/v1/findings/12/history');
      void api.patch('/api/v1/rules/identity.public_bucket', { enabled: false });
      // @ts-expect-error a route the server does not have
      void api.get('/api/v1/nope');
    };
    expect(typeof typed).toBe('function');
  });
});
