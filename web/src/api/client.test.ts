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
