import { describe, expect, it } from 'vitest';
import { applyPipelineUpdate } from './pipelines';
import type { Pipeline } from '../api/types';

const base: Pipeline = {
  name: 'rule.ingestion',
  configured: true,
  kind: 'topic',
  status: 'running',
  last_update: null,
  updates_total: 3,
  updates_per_min: 1,
  history: [],
  last_payload: null,
};

describe('applyPipelineUpdate', () => {
  it('changes the status and prepends history', () => {
    const out = applyPipelineUpdate([base], {
      status: 'error',
      pipeline: 'rule.ingestion',
      received_at: '2026-01-01T00:00:00Z',
      reason: 'x',
    });
    expect(out[0]!.status).toBe('error');
    expect(out[0]!.updates_total).toBe(4);
    expect(out[0]!.updates_per_min).toBe(1);
    expect(out[0]!.history[0]).toEqual({
      status: 'error',
      received_at: '2026-01-01T00:00:00Z',
      payload: { status: 'error', pipeline: 'rule.ingestion', reason: 'x' },
    });
  });
  it('caps the history', () => {
    let list = [base];
    for (let i = 0; i < 100; i++) list = applyPipelineUpdate(list, { status: 'running', pipeline: 'rule.ingestion' });
    expect(list[0]!.history).toHaveLength(20);
  });
  it('adds unknown pipelines', () => {
    const out = applyPipelineUpdate([base], { status: 'done', pipeline: 'delta.pipeline' });
    expect(out.map((p) => p.name)).toEqual(['rule.ingestion', 'delta.pipeline']);
    expect(out[1]!.configured).toBe(false);
  });
});
