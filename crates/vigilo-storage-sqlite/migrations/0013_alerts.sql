-- Alerts: the state of each notification group (what was sent for which
-- findings, so a restart neither forgets nor repeats), every notification
-- with its delivery outcome, and silences.
CREATE TABLE alert_groups (
    key        TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE alert_notifications (
    id          INTEGER PRIMARY KEY,
    receiver    TEXT    NOT NULL,
    route       TEXT    NOT NULL,
    group_key   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    finding_ids TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    silence_id  INTEGER
);
CREATE INDEX alert_notifications_status ON alert_notifications (status, id);
CREATE INDEX alert_notifications_receiver ON alert_notifications (receiver, id);

-- Which notifications name which finding (the finding page lists them).
CREATE TABLE alert_notification_findings (
    finding_id      INTEGER NOT NULL,
    notification_id INTEGER NOT NULL,
    PRIMARY KEY (finding_id, notification_id)
) WITHOUT ROWID;

CREATE TABLE alert_silences (
    id              INTEGER PRIMARY KEY,
    matchers        TEXT    NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    comment         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expired_at      INTEGER,
    start_announced INTEGER NOT NULL DEFAULT 0,
    end_announced   INTEGER NOT NULL DEFAULT 0
);
