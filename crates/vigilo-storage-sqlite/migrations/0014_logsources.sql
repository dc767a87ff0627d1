-- Event logsources (Sigma's product, category and service), interned: a
-- few distinct logsources are shared by millions of events, so each event
-- stores a small integer. An unnamed dimension is '' here (UNIQUE treats
-- NULLs as distinct). Row 1 is the default, `product: vigilo`; the column
-- default makes it the logsource of events stored before this migration
-- without rewriting them.
CREATE TABLE logsources (
    id       INTEGER PRIMARY KEY,
    product  TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    service  TEXT NOT NULL DEFAULT '',
    UNIQUE (product, category, service)
);

INSERT INTO logsources (id, product) VALUES (1, 'vigilo');

ALTER TABLE events ADD COLUMN logsource INTEGER NOT NULL DEFAULT 1;
