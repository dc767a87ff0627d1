-- Connectors: the highest stored offset of each ordered source stream
-- (moved in the transaction that stores its events), messages that could
-- not be ingested, the finding outbox read by sinks and alerts, and each
-- reader's position in it.
CREATE TABLE stream_positions (
    stream   TEXT    NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    location    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    raw         BLOB    NOT NULL,
    meta        TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_source_id ON dead_letters (source, id);

CREATE TABLE finding_changes (
    seq        INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    at         INTEGER NOT NULL
);

CREATE TABLE consumer_positions (
    consumer TEXT    NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;
