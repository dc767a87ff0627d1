import type { Pipeline, PipelineEnvelope } from '../api/types';

export const PIPELINE_HISTORY_CAP = 20;

/**
 * Apply a live `pipeline_update` to the pipeline list: the bubble's status
 * changes at once, the history keeps at most `cap` entries, and a pipeline
 * the list did not know yet is added.
 */
export function applyPipelineUpdate(list: readonly Pipeline[], env: PipelineEnvelope, cap = PIPELINE_HISTORY_CAP): Pipeline[] {
  const name = String(env.pipeline ?? '');
  if (!name) return list.slice();
  const at = env.received_at ?? new Date().toISOString();
  const { received_at: _r, ...payload } = env;
  const update = { status: env.status, received_at: at, payload };
  const i = list.findIndex((p) => p.name === name);
  if (i < 0) {
    return [
      ...list,
      {
        name,
        configured: false,
        kind: 'agent',
        status: env.status,
        last_update: at,
        updates_total: 1,
        updates_per_min: 1,
        history: [update],
        last_payload: payload,
      },
    ];
  }
  const p = list[i]!;
  const history = [update, ...p.history].slice(0, cap);
  const next: Pipeline = {
    ...p,
    status: env.status,
    last_update: at,
    updates_total: p.updates_total + 1,
    updates_per_min: Math.max(p.updates_per_min, perMinute(history, Date.parse(at))),
    history,
    last_payload: payload,
  };
  const out = list.slice();
  out[i] = next;
  return out;
}

/** Updates in the minute before `now`, as far as the kept history tells. */
export function perMinute(history: readonly { received_at: string }[], now: number): number {
  return history.filter((h) => {
    const t = Date.parse(h.received_at);
    return t > now - 60_000 && t <= now;
  }).length;
}

export function statusLabel(status: string | null | undefined): string {
  return status ?? 'no updates';
}
