// Shared test data: a finding as the list and detail routes return it.

/** The public-bucket finding of user mallory, with `overrides` on top. */
export function findingFixture(overrides: Record<string, unknown> = {}) {
  return {
    id: 7,
    rule_id: 'identity.public_bucket',
    rule_title: 'Public storage bucket',
    severity: 'critical',
    status: 'open',
    group: { user: 'mallory' },
    service: 'storage',
    user: 'mallory',
    first_seen: '2026-01-01T00:00:00Z',
    last_seen: '2026-01-01T00:00:00Z',
    event_count: 1,
    evidence: [],
    description: '',
    tags: [],
    risk_score: 100,
    explanation: '',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}
