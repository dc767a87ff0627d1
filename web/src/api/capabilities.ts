// What the running server supports, read from its OpenAPI document once, so
// the UI only sends parameters the server documents (e.g. `logsource` on
// the events list once it lands).
import { useQuery } from '@tanstack/react-query';
import { api } from './client';

interface Spec {
  paths?: Record<string, Record<string, { parameters?: { name?: string; in?: string }[] }>>;
}

export function queryParams(spec: Spec, path: string, method = 'get'): string[] {
  const op = spec.paths?.[path]?.[method];
  return (op?.parameters ?? []).filter((p) => p.in === 'query' && p.name).map((p) => p.name as string);
}

export function hasPath(spec: Spec, path: string): boolean {
  return !!spec.paths?.[path];
}

export function useSpec() {
  return useQuery({
    queryKey: ['openapi'],
    queryFn: ({ signal }) => api.get<Spec>('/api/openapi.json', undefined, signal),
    staleTime: Infinity,
    retry: false,
  });
}

/** Whether the server documents query parameter `name` on GET `path`. */
export function useSupportsParam(path: string, name: string): boolean {
  const spec = useSpec();
  return spec.data ? queryParams(spec.data, path).includes(name) : false;
}

export interface Capabilities {
  /** The document has been read (or could not be: then everything is assumed). */
  ready: boolean;
  supports: (path: string, param: string) => boolean;
  has: (path: string) => boolean;
  /** Drop query parameters GET `path` does not document. */
  pick: <Q extends Record<string, unknown>>(path: string, query: Q) => Partial<Q>;
}

export function capabilitiesOf(spec: Spec | undefined, ready: boolean): Capabilities {
  return {
    ready,
    supports: (path, param) => (spec ? queryParams(spec, path).includes(param) : true),
    has: (path) => (spec ? hasPath(spec, path) : true),
    pick: (path, query) => {
      if (!spec) return query;
      const allowed = new Set(queryParams(spec, path));
      return Object.fromEntries(Object.entries(query).filter(([k]) => allowed.has(k))) as Partial<typeof query>;
    },
  };
}

/** What the running server documents; until it is known, `ready` is false. */
export function useCapabilities(): Capabilities {
  const spec = useSpec();
  return capabilitiesOf(spec.data, !spec.isPending);
}
