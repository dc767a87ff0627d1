-- Events partitioned by event time, one partition a day (UTC), so that
-- retention drops whole days instead of deleting rows. The partitions of
-- the coming days are created ahead of time by the storage's upkeep
-- (`vigilo_events_YYYYMMDD`); an event of a day that has none (far past,
-- far future, or stored before the upgrade) goes to the DEFAULT partition,
-- so an insert never fails for lack of a partition.
--
-- A unique index of a partitioned table must hold the partition key, so
-- `id` is no longer a primary key of its own: ids come from one sequence,
-- which makes them unique, and `(id, ts)` is the primary key that finds an
-- event by id in every partition.

ALTER TABLE events RENAME TO events_before_partitioning;
ALTER INDEX events_ts RENAME TO events_before_partitioning_ts;
ALTER INDEX events_kind_ts RENAME TO events_before_partitioning_kind_ts;
ALTER INDEX events_service_ts RENAME TO events_before_partitioning_service_ts;
ALTER INDEX events_user_ts RENAME TO events_before_partitioning_user_ts;

-- Ids go on from the last one the identity column handed out.
CREATE SEQUENCE event_ids AS BIGINT;
DO $$
DECLARE
    old_seq TEXT := pg_get_serial_sequence('events_before_partitioning', 'id');
    last    BIGINT;
    called  BOOLEAN;
BEGIN
    EXECUTE format('SELECT last_value, is_called FROM %s', old_seq) INTO last, called;
    PERFORM setval('event_ids', last, called);
END
$$;

CREATE TABLE events (
    id          BIGINT      NOT NULL DEFAULT nextval('event_ids'),
    ts          TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    kind        TEXT        NOT NULL,
    service     TEXT,
    user_name   TEXT,
    payload     JSON        NOT NULL,
    ls_product  TEXT,
    ls_category TEXT,
    ls_service  TEXT,
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);
ALTER SEQUENCE event_ids OWNED BY events.id;

CREATE TABLE vigilo_events_default PARTITION OF events DEFAULT;

CREATE INDEX events_ts ON events (ts DESC, id DESC);
CREATE INDEX events_kind_ts ON events (kind, ts DESC, id DESC);
CREATE INDEX events_service_ts ON events (service, ts DESC, id DESC);
CREATE INDEX events_user_ts ON events (user_name, ts DESC, id DESC);

-- Stored rows keep their ids; they land in the DEFAULT partition, which
-- retention empties in batches.
INSERT INTO events (id, ts, received_at, kind, service, user_name, payload,
                    ls_product, ls_category, ls_service)
SELECT id, ts, received_at, kind, service, user_name, payload,
       ls_product, ls_category, ls_service
FROM events_before_partitioning ORDER BY id;

DROP TABLE events_before_partitioning;

-- Retention's bookkeeping: `events_horizon` is the events cutoff applied
-- so far, rounded up to its minute (events before it may have expired,
-- none after it has).
CREATE TABLE retention_state (
    id             INT NOT NULL PRIMARY KEY CHECK (id = 1),
    events_horizon TIMESTAMPTZ
);
INSERT INTO retention_state (id, events_horizon) VALUES (1, NULL);
