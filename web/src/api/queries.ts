// Shared queries, and their live updates over the socket.
import { useEffect, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './client';
import type { LiveStats, Pipeline, PipelineEnvelope } from './types';
import { useLiveEvent } from '../live/socket';
import { applyPipelineUpdate } from '../live/pipelines';
import { rolling } from '../live/buffer';

export const PIPELINES_KEY = ['pipelines'] as const;

/** Every pipeline; bubbles change the moment a `pipeline_update` arrives. */
export function usePipelines() {
  const qc = useQueryClient();
  const query = useQuery({
    queryKey: PIPELINES_KEY,
    queryFn: ({ signal }) => api.get<{ items: Pipeline[]; total: number }>('/api/v1/pipelines', undefined, signal),
    refetchInterval: 30_000,
  });
  useLiveEvent<PipelineEnvelope>('pipeline_update', (env) => {
    qc.setQueryData<{ items: Pipeline[]; total: number }>(PIPELINES_KEY, (old) => {
      const items = applyPipelineUpdate(old?.items ?? [], env);
      return { items, total: items.length };
    });
    qc.setQueryData<Pipeline>(['pipeline', env.pipeline], (old) =>
      old ? applyPipelineUpdate([old], env, 1000)[0] : old,
    );
  });
  return query;
}

/** The latest `stats` message and the last `cap` of them (for sparklines). */
export function useLiveStats(cap = 120): { latest: LiveStats | null; receivedAt: number; history: LiveStats[] } {
  const [state, setState] = useState<{ latest: LiveStats | null; receivedAt: number; history: LiveStats[] }>({
    latest: null,
    receivedAt: 0,
    history: [],
  });
  useLiveEvent<LiveStats>('stats', (s) => {
    const receivedAt = Date.now();
    setState((prev) => ({ latest: s, receivedAt, history: rolling(prev.history, s, cap) }));
  });
  return state;
}

/** Re-render every `ms` (relative times, "x s ago"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
