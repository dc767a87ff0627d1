-- Risk enrichment: who scored each finding (the heuristics or a model) and
-- when, the model's recommended actions, every enrichment attempt with the
-- exact (redacted) prompt and answer, and the cache of answers by content.
ALTER TABLE findings ADD COLUMN enriched_by TEXT NOT NULL DEFAULT 'heuristic';
ALTER TABLE findings ADD COLUMN enriched_at INTEGER;
ALTER TABLE finding_details ADD COLUMN recommended_actions_json TEXT NOT NULL DEFAULT '[]';
CREATE INDEX findings_risk ON findings (risk_score, last_seen);
CREATE INDEX findings_enriched_by ON findings (enriched_by, last_seen);

CREATE TABLE enrichments (
    id              INTEGER PRIMARY KEY,
    finding_id      INTEGER NOT NULL,
    content_hash    TEXT    NOT NULL,
    -- model name, or 'heuristic' when the model could not be used
    enriched_by     TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    risk_score      INTEGER NOT NULL,
    explanation     TEXT    NOT NULL,
    recommended_actions_json TEXT NOT NULL,
    confidence      REAL,
    prompt          TEXT    NOT NULL,
    answer          TEXT,
    fallback_reason TEXT,
    cached          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens   INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX enrichments_finding ON enrichments (finding_id, id);
CREATE INDEX enrichments_content ON enrichments (content_hash, model, id);
