-- Event-table indexes are kept few: insert speed matters most there, and
-- counts come from `event_rollup`.
-- - kind: few distinct values; listings walk events_ts newest first and
--   stop at the page.
-- - user: no index. Users are many, and an index led by user makes every
--   batch dirty one index page per distinct user (measured: it more than
--   halved insert throughput, and got worse as the table grew). A user
--   filter walks events_ts newest first, bounded by from/to when given.
DROP INDEX IF EXISTS events_user_ts;
