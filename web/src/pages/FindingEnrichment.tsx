import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { fmtTime } from '../lib/format';

/** One stored enrichment attempt (GET /api/v1/findings/{id}/enrichments). */
export type EnrichmentRecord = components['schemas']['EnrichmentView'];

/** The "Enrich" action and what the last enrichment sent and received. */
export function FindingEnrichment({
  id,
  enrichedBy,
  actions,
  canEnrich,
}: {
  id: string;
  enrichedBy: string;
  actions: string[];
  canEnrich: boolean;
}) {
  const qc = useQueryClient();
  const records = useQuery({
    queryKey: ['finding', id, 'enrichments'],
    queryFn: ({ signal }) =>
      api.get<{ items: EnrichmentRecord[] }>(`/api/v1/findings/${encodeURIComponent(id)}/enrichments`, undefined, signal),
    retry: false,
  });
  const enrich = useMutation({
    mutationFn: () => api.post<unknown>(`/api/v1/findings/${encodeURIComponent(id)}/enrich`, {}),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['finding', id] });
      void qc.invalidateQueries({ queryKey: ['findings'] });
    },
  });
  const last = records.data?.items[0];
  return (
    <div className="stack" data-testid="enrichment">
      <div className="row" style={{ gap: 8, alignItems: 'center' }}>
        <span className="hint" data-testid="enriched-by">
          Scored by {enrichedBy === 'heuristic' ? 'the heuristics' : enrichedBy}
        </span>
        {canEnrich && (
          <button type="button" className="btn" disabled={enrich.isPending} onClick={() => enrich.mutate()}>
            {enrich.isPending ? 'Enriching…' : 'Enrich'}
          </button>
        )}
      </div>
      {enrich.isError && <div className="banner error">{errorMessage(enrich.error)}</div>}
      {actions.length > 0 && (
        <div>
          <strong>Recommended actions</strong>
          <ul data-testid="recommended-actions" style={{ margin: '4px 0 0' }}>
            {actions.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </div>
      )}
      {last && (
        <div data-testid="last-enrichment">
          <div className="hint">
            Last enrichment {fmtTime(last.created_at)} with {last.model}
            {last.cached ? ' (from the cache, no request)' : ''}
            {last.confidence != null ? `, confidence ${Math.round(last.confidence * 100)}%` : ''}
          </div>
          {last.fallback_reason && (
            <div className="banner" data-testid="fallback-reason">
              Kept the heuristic score: {last.fallback_reason}
            </div>
          )}
          <details>
            <summary>Prompt sent (redacted)</summary>
            <pre className="code" data-testid="prompt" style={{ whiteSpace: 'pre-wrap', maxHeight: 320, overflow: 'auto' }}>
              {last.prompt}
            </pre>
          </details>
          {last.answer && (
            <details>
              <summary>Answer received</summary>
              <pre className="code" data-testid="answer" style={{ whiteSpace: 'pre-wrap' }}>
                {last.answer}
              </pre>
            </details>
          )}
        </div>
      )}
    </div>
  );
}
