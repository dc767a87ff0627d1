-- Vigilo schema for SQLite. Every timestamp is an integer count of
-- microseconds since the Unix epoch (UTC); rollup minutes are epoch seconds
-- of the minute's start.

-- Raw events. `id` is the rowid. Indexes are kept few on purpose: insert
-- speed matters most here, and counts come from `event_rollup`.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    ts          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    service     TEXT,
    user        TEXT,
    payload     TEXT    NOT NULL
);
-- Newest-first listing (the index holds the rowid, so ties order by id).
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_service_ts ON events (service, ts) WHERE service IS NOT NULL;
CREATE INDEX events_user_ts ON events (user, ts) WHERE user IS NOT NULL;

-- Events per minute, kind and service. A missing service is stored as
-- has_service = 0 with service = '' so it takes part in the primary key.
CREATE TABLE event_rollup (
    minute      INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    has_service INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (minute, kind, has_service, service)
) WITHOUT ROWID;

CREATE TABLE findings (
    id           INTEGER PRIMARY KEY,
    incident_key TEXT    NOT NULL UNIQUE,
    rule_id      TEXT    NOT NULL,
    rule_title   TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    group_json   TEXT    NOT NULL,
    service      TEXT,
    user         TEXT,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    event_count  INTEGER NOT NULL,
    description  TEXT    NOT NULL,
    tags_json    TEXT    NOT NULL,
    risk_score   INTEGER NOT NULL,
    explanation  TEXT    NOT NULL,
    note         TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX findings_last_seen ON findings (last_seen);
CREATE INDEX findings_status_last_seen ON findings (status, last_seen);
CREATE INDEX findings_severity_last_seen ON findings (severity, last_seen);
CREATE INDEX findings_rule_last_seen ON findings (rule_id, last_seen);
CREATE INDEX findings_service_last_seen ON findings (service, last_seen) WHERE service IS NOT NULL;
CREATE INDEX findings_user_last_seen ON findings (user, last_seen) WHERE user IS NOT NULL;

-- Evidence in the order it was attached; at most EVIDENCE_CAP rows per finding.
CREATE TABLE finding_evidence (
    finding_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    PRIMARY KEY (finding_id, seq)
) WITHOUT ROWID;
CREATE INDEX finding_evidence_event ON finding_evidence (event_id);

-- New findings per minute of first_seen, severity, rule and service.
CREATE TABLE finding_rollup (
    minute      INTEGER NOT NULL,
    severity    TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    has_service INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (minute, severity, rule_id, has_service, service)
) WITHOUT ROWID;

CREATE TABLE rule_matches (
    rule_id TEXT    NOT NULL PRIMARY KEY,
    count   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE detection_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    watermark INTEGER NOT NULL
);
INSERT INTO detection_state (id, watermark) VALUES (1, 0);

CREATE TABLE iam_audits (
    id           INTEGER PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    source       TEXT,
    input_format TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    report       TEXT    NOT NULL
);
CREATE INDEX iam_audits_created_at ON iam_audits (created_at);
