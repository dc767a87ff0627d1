// Queries and mutations of the alerting API (/api/v1/alerts/...) and the
// dead letters, shared by the Alerts page, the finding page and the
// pipelines page.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Query } from '../../api/client';
import type { AlertNotification, AlertRoute, DeadLetterPage, NotificationPage, Receiver, Silence, SilenceBody } from '../../api/types';

export const ALERTS_KEY = ['alerts'] as const;

/** The notification history, newest first, with the filters the API takes. */
export function useNotifications(filters: Query, page: number, pageSize: number) {
  return useQuery({
    queryKey: [...ALERTS_KEY, 'notifications', filters, page, pageSize],
    queryFn: ({ signal }) =>
      api.get<NotificationPage>('/api/v1/alerts/notifications', { ...filters, page, page_size: pageSize }, signal),
    placeholderData: keepPreviousData,
    refetchInterval: 15_000,
  });
}

/** The notifications about one finding. */
export function useFindingNotifications(findingId: string, page: number, pageSize: number, enabled = true) {
  return useQuery({
    queryKey: [...ALERTS_KEY, 'notifications', 'finding', findingId, page, pageSize],
    queryFn: ({ signal }) =>
      api.get<NotificationPage>(
        `/api/v1/findings/${encodeURIComponent(findingId)}/notifications`,
        { page, page_size: pageSize },
        signal,
      ),
    placeholderData: keepPreviousData,
    enabled,
    retry: false,
  });
}

export function useReceivers() {
  return useQuery({
    queryKey: [...ALERTS_KEY, 'receivers'],
    queryFn: ({ signal }) => api.get<Receiver[]>('/api/v1/alerts/receivers', undefined, signal),
    staleTime: 60_000,
  });
}

export function useRoutes() {
  return useQuery({
    queryKey: [...ALERTS_KEY, 'routes'],
    queryFn: ({ signal }) => api.get<AlertRoute[]>('/api/v1/alerts/routes', undefined, signal),
    staleTime: 60_000,
  });
}

export function useSilences() {
  return useQuery({
    queryKey: [...ALERTS_KEY, 'silences'],
    queryFn: ({ signal }) => api.get<Silence[]>('/api/v1/alerts/silences', undefined, signal),
    // A pending silence becomes active, an active one expires: keep states fresh.
    refetchInterval: 30_000,
  });
}

/** POST /api/v1/alerts/receivers/{name}/test: one try, answered with the stored notification. */
export function useSendTest() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => api.post<AlertNotification>(`/api/v1/alerts/receivers/${encodeURIComponent(name)}/test`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [...ALERTS_KEY, 'notifications'] }),
  });
}

export function useCreateSilence() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: SilenceBody) => api.post<Silence>('/api/v1/alerts/silences', body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [...ALERTS_KEY, 'silences'] }),
  });
}

export function useExpireSilence() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => api.delete<Silence>(`/api/v1/alerts/silences/${id}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [...ALERTS_KEY, 'silences'] }),
  });
}

export const DEAD_LETTERS_KEY = ['dead-letters'] as const;

/** Recent dead letters (optionally of one source) and the counts per source. */
export function useDeadLetters(source: string, page: number, pageSize: number) {
  return useQuery({
    queryKey: [...DEAD_LETTERS_KEY, source, page, pageSize],
    queryFn: ({ signal }) =>
      api.get<DeadLetterPage>('/api/v1/dead-letters', { source: source || undefined, page, page_size: pageSize }, signal),
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
}
