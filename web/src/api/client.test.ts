import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, buildUrl, setActor } from './client';

afterEach(() => {
  vi.restoreAllMocks();
  localStorage.clear();
});

describe('client', () => {
  it('builds query strings, skipping empties', () => {
    expect(buildUrl('/x', { a: 'b', c: '', d: undefined, e: ['1', '2'], f: 3 })).toBe('/x?a=b&e=1%2C2&f=3');
  });

  it('sends the actor header from the user menu', async () => {
    setActor('alice');
    const spy = vi.spyOn(globalThis, 'fetch').mockResolvedValue(new Response('{"ok":1}', { status: 200 }));
    await api.get('/api/v1/findings');
    const init = spy.mock.calls[0]![1]!;
    expect(new Headers(init.headers).get('X-Vigilo-Actor')).toBe('alice');
  });

  it("surfaces the API's error message", async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      new Response('{"error":{"code":"invalid_query","message":"invalid query parameter: page"}}', { status: 400 }),
    );
    const err = await api.get('/api/v1/findings').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe('invalid query parameter: page');
    expect((err as ApiError).code).toBe('invalid_query');
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
