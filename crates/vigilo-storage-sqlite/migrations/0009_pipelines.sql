-- The pipeline hub: each pipeline's status reports (a bounded history per
-- pipeline, trimmed on insert) and its report count since it first reported.
CREATE TABLE pipelines (
    name          TEXT    NOT NULL PRIMARY KEY,
    updates_total INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE pipeline_updates (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    payload     TEXT    NOT NULL
);
CREATE INDEX pipeline_updates_pipeline_id ON pipeline_updates (pipeline, id);
