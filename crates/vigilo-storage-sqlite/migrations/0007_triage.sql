-- Triage: who a finding is assigned to, analysts' tags, why it was closed,
-- and the history of every change.
--
-- The three columns stay on the hot row (migration 0005): a finding without
-- triage holds NULL in each, one byte of record header apiece, so the row
-- detection rewrites at every commit grows by three bytes, and detection's
-- statements never name them. Tags are a JSON array, sorted, NULL when
-- there are none.
ALTER TABLE findings ADD COLUMN assignee TEXT;
ALTER TABLE findings ADD COLUMN workflow_tags_json TEXT;
ALTER TABLE findings ADD COLUMN close_reason TEXT;

-- The assignee filter and grouping. Partial (most findings are unassigned)
-- and without last_seen, so detection's updates, which move last_seen,
-- never rewrite an entry of it.
CREATE INDEX findings_assignee ON findings (assignee) WHERE assignee IS NOT NULL;

-- One row per change (status, assignee, tags, close_reason, note). The
-- `created` entry is not stored: it is the finding's created_at, so a
-- detection commit of thousands of new incidents writes no history.
CREATE TABLE finding_history (
    id         INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    from_value TEXT,
    to_value   TEXT
);
CREATE INDEX finding_history_finding ON finding_history (finding_id, id);
