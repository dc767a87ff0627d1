-- Per-minute rollups of the numeric fields named in `metrics.fields`,
-- written in the same transaction as the events they come from.
--
-- One row per (minute, field, group): `group_kind` is `service` (the
-- event's service in `group_value`), `none` (events without a service,
-- `group_value` = ''), `metric_name` or `source_id` (the event's top-level
-- field of that name). Every value is in exactly one `service`/`none` row,
-- so those rows together hold every value; it may also be in a
-- `metric_name` and a `source_id` row.
--
-- `sketch` is a DDSketch (vigilo_storage::sketch, 1% relative accuracy)
-- of the values: minutes merge into hours and days exactly.
--
-- The key leads with field and group kind, so a series reads one
-- contiguous range of the table and never the other fields' rows.
CREATE TABLE metric_rollup (
    field       TEXT    NOT NULL,
    group_kind  TEXT    NOT NULL,
    minute      INTEGER NOT NULL,
    group_value TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL    NOT NULL,
    min         REAL    NOT NULL,
    max         REAL    NOT NULL,
    sketch      BLOB    NOT NULL,
    PRIMARY KEY (field, group_kind, minute, group_value)
) WITHOUT ROWID;

-- Every group value the rollups have seen, for the explorer's pickers.
CREATE TABLE metric_groups (
    group_kind  TEXT NOT NULL,
    group_value TEXT NOT NULL,
    PRIMARY KEY (group_kind, group_value)
) WITHOUT ROWID;
