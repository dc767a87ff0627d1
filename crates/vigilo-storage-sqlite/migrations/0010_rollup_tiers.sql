-- Coarser tiers of the event rollups, written in the same transaction as
-- `event_rollup` (one upsert per distinct key per batch), so a query over a
-- long range reads whole hours from an hour tier and only its partial first
-- and last hour from a minute tier. Buckets are aligned to their size since
-- the epoch (`hour` is the epoch second of the hour's start).
--
-- Per minute and kind, without service: timelines of short ranges and the
-- edges of long ones.
CREATE TABLE event_rollup_kind (
    minute INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (minute, kind)
) WITHOUT ROWID;

-- Per hour and kind, without service: timelines, summaries and totals.
CREATE TABLE event_rollup_kind_hour (
    hour  INTEGER NOT NULL,
    kind  TEXT    NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, kind)
) WITHOUT ROWID;

-- Per hour, kind and service (as in `event_rollup`: a missing service is
-- has_service = 0, service = ''): the services table and per-service
-- counts over long ranges.
--
-- A batch of live traffic touches as many of these rows as of
-- `event_rollup` (one per service), so they are not written per batch for
-- recent hours: every hour before `event_index_state.up_to` ('event_hours')
-- is sealed and has all its rows here (events that arrive for it later
-- are upserted with their batch); later hours have none, and queries read
-- them from `event_rollup`. A batch moves the seal to the hour before the
-- current one (wall clock), summing the minute rows of the hours it seals,
-- in its transaction.
CREATE TABLE event_rollup_hour (
    hour        INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    has_service INTEGER NOT NULL,
    service     TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, has_service, service)
) WITHOUT ROWID;

INSERT INTO event_rollup_kind (minute, kind, count)
    SELECT minute, kind, SUM(count) FROM event_rollup GROUP BY minute, kind;

INSERT INTO event_rollup_kind_hour (hour, kind, count)
    SELECT minute - (((minute % 3600) + 3600) % 3600) AS h, kind, SUM(count)
    FROM event_rollup GROUP BY h, kind;

INSERT INTO event_rollup_hour (hour, kind, has_service, service, count)
    SELECT minute - (((minute % 3600) + 3600) % 3600) AS h, kind, has_service, service, SUM(count)
    FROM event_rollup GROUP BY h, kind, has_service, service;

-- Every backfilled hour is sealed.
INSERT INTO event_index_state (name, up_to)
    SELECT 'event_hours', COALESCE(MAX(hour) + 3600, 0) FROM event_rollup_hour;

-- The metric rollups by hour: `metric_rollup`'s key with the hour's start
-- for the minute, sketches merged. Written with the minute rows (in the
-- batches that write them, see metrics.rs). Sketches cannot be merged in
-- SQL, so the backfill from the minute rows runs in the storage's
-- `migrate` while this marker is present, and removes it in the same
-- transaction.
CREATE TABLE metric_rollup_hour (
    field       TEXT    NOT NULL,
    group_kind  TEXT    NOT NULL,
    hour        INTEGER NOT NULL,
    group_value TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL    NOT NULL,
    min         REAL    NOT NULL,
    max         REAL    NOT NULL,
    sketch      BLOB    NOT NULL,
    PRIMARY KEY (field, group_kind, hour, group_value)
) WITHOUT ROWID;

INSERT INTO event_index_state (name, up_to) VALUES ('metric_hours_backfill', 0);
