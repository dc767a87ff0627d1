-- The whole schema of the PostgreSQL backend. Every object is created in
-- the connection's current schema (the `search_path` the pool sets), so
-- one database can hold several independent stores.

-- ------------------------------------------------------------------ events

-- The payload is kept as `json`, not `jsonb`: `json` keeps the text as
-- sent (key order, number spelling, `\u0000` escapes, which `jsonb`
-- rejects), and the `q` search is a substring search of that text.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    kind        TEXT        NOT NULL,
    service     TEXT,
    user_name   TEXT,
    payload     JSON        NOT NULL,
    ls_product  TEXT,
    ls_category TEXT,
    ls_service  TEXT
);
CREATE INDEX events_ts ON events (ts DESC, id DESC);
CREATE INDEX events_kind_ts ON events (kind, ts DESC, id DESC);
CREATE INDEX events_service_ts ON events (service, ts DESC, id DESC);
CREATE INDEX events_user_ts ON events (user_name, ts DESC, id DESC);

-- Per-minute and per-hour event counts, maintained in the transaction that
-- stores the events. A NULL service is events without one.
CREATE TABLE event_rollup_minute (
    minute  TIMESTAMPTZ NOT NULL,
    kind    TEXT        NOT NULL,
    service TEXT,
    count   BIGINT      NOT NULL,
    UNIQUE NULLS NOT DISTINCT (minute, kind, service)
);

CREATE TABLE event_rollup_hour (
    hour    TIMESTAMPTZ NOT NULL,
    kind    TEXT        NOT NULL,
    service TEXT,
    count   BIGINT      NOT NULL,
    UNIQUE NULLS NOT DISTINCT (hour, kind, service)
);

-- The highest stored offset of each ordered source stream.
CREATE TABLE stream_positions (
    stream   TEXT   NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL
);

-- ---------------------------------------------------------------- findings

CREATE TABLE detection_state (
    id        INT    NOT NULL PRIMARY KEY CHECK (id = 1),
    watermark BIGINT NOT NULL
);
INSERT INTO detection_state (id, watermark) VALUES (1, 0);

CREATE TABLE findings (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_key        TEXT        NOT NULL UNIQUE,
    rule_id             TEXT        NOT NULL,
    rule_title          TEXT        NOT NULL,
    severity            TEXT        NOT NULL,
    -- informational 0 .. critical 4, for sorting and maxima.
    severity_rank       SMALLINT    NOT NULL,
    status              TEXT        NOT NULL,
    group_values        JSONB       NOT NULL,
    service             TEXT,
    user_name           TEXT,
    first_seen          TIMESTAMPTZ NOT NULL,
    last_seen           TIMESTAMPTZ NOT NULL,
    event_count         BIGINT      NOT NULL,
    evidence            BIGINT[]    NOT NULL,
    description         TEXT        NOT NULL,
    tags                TEXT[]      NOT NULL,
    risk_score          SMALLINT    NOT NULL,
    explanation         TEXT        NOT NULL,
    note                TEXT,
    assignee            TEXT,
    workflow_tags       TEXT[]      NOT NULL,
    close_reason        TEXT,
    recommended_actions TEXT[]      NOT NULL,
    enriched_by         TEXT        NOT NULL,
    enriched_at         TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX findings_last_seen ON findings (last_seen DESC, id DESC);
CREATE INDEX findings_rule ON findings (rule_id, last_seen);
CREATE INDEX findings_status ON findings (status, last_seen);
CREATE INDEX findings_severity ON findings (severity, last_seen);
CREATE INDEX findings_risk ON findings (risk_score, last_seen);

-- `have` followed by the ids of `add` it does not hold yet, each once, in
-- the order attached, at most `cap` of them.
CREATE FUNCTION vigilo_append_evidence(have BIGINT[], add BIGINT[], cap INT)
RETURNS BIGINT[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN cardinality(have) >= cap OR cardinality(add) = 0 THEN have
        ELSE COALESCE((
            SELECT array_agg(id ORDER BY pos)
            FROM (
                SELECT id, MIN(pos) AS pos
                FROM (
                    SELECT h.id, h.ord AS pos FROM unnest(have) WITH ORDINALITY AS h (id, ord)
                    UNION ALL
                    SELECT a.id, a.ord + 2147483648 FROM unnest(add) WITH ORDINALITY AS a (id, ord)
                ) AS each_id
                GROUP BY id
                ORDER BY MIN(pos)
                LIMIT cap
            ) AS kept
        ), '{}')
    END
$$;

-- The strings of a JSON array, in order (for batched writes of text lists).
CREATE FUNCTION vigilo_text_array(items JSONB)
RETURNS TEXT[] LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(array_agg(e.value ORDER BY e.ord), '{}')
    FROM jsonb_array_elements_text(items) WITH ORDINALITY AS e (value, ord)
$$;

-- New findings per minute of first_seen, severity, rule and service.
CREATE TABLE finding_rollup (
    minute    TIMESTAMPTZ NOT NULL,
    severity  TEXT        NOT NULL,
    rule_id   TEXT        NOT NULL,
    service   TEXT,
    count     BIGINT      NOT NULL,
    last_seen TIMESTAMPTZ,
    UNIQUE NULLS NOT DISTINCT (minute, severity, rule_id, service)
);

CREATE TABLE rule_matches (
    rule_id TEXT   NOT NULL PRIMARY KEY,
    count   BIGINT NOT NULL
);

CREATE TABLE finding_history (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id BIGINT      NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,
    action     TEXT        NOT NULL,
    from_value TEXT,
    to_value   TEXT
);
CREATE INDEX finding_history_finding ON finding_history (finding_id, id);

-- The outbox: finding changes that sinks and the alerter read in order.
CREATE TABLE finding_changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id BIGINT      NOT NULL,
    kind       TEXT        NOT NULL,
    status     TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE consumer_positions (
    consumer TEXT   NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL
);

CREATE TABLE dead_letters (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT        NOT NULL,
    location    TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    raw         BYTEA       NOT NULL,
    meta        JSONB       NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dead_letters_source ON dead_letters (source, id);

-- ------------------------------------------------------------- the rest

CREATE TABLE iam_audits (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at   TIMESTAMPTZ NOT NULL,
    source       TEXT,
    input_format TEXT        NOT NULL,
    summary      JSONB       NOT NULL,
    report       JSONB       NOT NULL
);
CREATE INDEX iam_audits_created ON iam_audits (created_at DESC, id DESC);

CREATE TABLE rule_states (
    rule_id    TEXT        NOT NULL PRIMARY KEY,
    enabled    BOOLEAN     NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE pipelines (
    name          TEXT   NOT NULL PRIMARY KEY,
    updates_total BIGINT NOT NULL
);

CREATE TABLE pipeline_updates (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline    TEXT        NOT NULL,
    status      TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    payload     JSONB       NOT NULL
);
CREATE INDEX pipeline_updates_pipeline ON pipeline_updates (pipeline, id);

-- ----------------------------------------------------------------- metrics

-- Per-minute and per-hour rollups of numeric payload fields: count, sum,
-- extremes and a mergeable quantile sketch (`vigilo_storage::sketch`),
-- per group: `service` (value: the service), `none` (events without a
-- service, value ''), `metric_name` and `source_id`.
CREATE TABLE metric_rollup_minute (
    field       TEXT             NOT NULL,
    group_kind  TEXT             NOT NULL,
    minute      TIMESTAMPTZ      NOT NULL,
    group_value TEXT             NOT NULL,
    count       BIGINT           NOT NULL,
    sum         DOUBLE PRECISION NOT NULL,
    min         DOUBLE PRECISION NOT NULL,
    max         DOUBLE PRECISION NOT NULL,
    sketch      BYTEA            NOT NULL,
    PRIMARY KEY (field, group_kind, minute, group_value)
);

CREATE TABLE metric_rollup_hour (
    field       TEXT             NOT NULL,
    group_kind  TEXT             NOT NULL,
    hour        TIMESTAMPTZ      NOT NULL,
    group_value TEXT             NOT NULL,
    count       BIGINT           NOT NULL,
    sum         DOUBLE PRECISION NOT NULL,
    min         DOUBLE PRECISION NOT NULL,
    max         DOUBLE PRECISION NOT NULL,
    sketch      BYTEA            NOT NULL,
    PRIMARY KEY (field, group_kind, hour, group_value)
);

-- Every group the metric rollups have seen (not `none`).
CREATE TABLE metric_groups (
    group_kind  TEXT NOT NULL,
    group_value TEXT NOT NULL,
    PRIMARY KEY (group_kind, group_value)
);

-- ---------------------------------------------------------------- accounts

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT        NOT NULL,
    role          TEXT        NOT NULL,
    email         TEXT,
    source        TEXT        NOT NULL,
    oidc_subject  TEXT,
    password_hash TEXT,
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ,
    preferences   JSONB
);
-- Usernames are unique ignoring case.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);

CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT        NOT NULL,
    prefix       TEXT        NOT NULL,
    hash         TEXT        NOT NULL,
    scopes       TEXT[]      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT        NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE sessions (
    id           TEXT        NOT NULL,
    user_id      BIGINT      NOT NULL,
    refresh_hash TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    refreshed_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    address      TEXT,
    CONSTRAINT sessions_id PRIMARY KEY (id)
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time    TIMESTAMPTZ NOT NULL,
    actor   TEXT        NOT NULL,
    action  TEXT        NOT NULL,
    target  TEXT,
    address TEXT,
    details JSONB       NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- -------------------------------------------------------------- enrichment

CREATE TABLE enrichments (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id          BIGINT           NOT NULL,
    content_hash        TEXT             NOT NULL,
    enriched_by         TEXT             NOT NULL,
    model               TEXT             NOT NULL,
    risk_score          SMALLINT         NOT NULL,
    explanation         TEXT             NOT NULL,
    recommended_actions TEXT[]           NOT NULL,
    confidence          DOUBLE PRECISION,
    prompt              TEXT             NOT NULL,
    answer              TEXT,
    fallback_reason     TEXT,
    cached              BOOLEAN          NOT NULL,
    prompt_tokens       BIGINT           NOT NULL,
    completion_tokens   BIGINT           NOT NULL,
    created_at          TIMESTAMPTZ      NOT NULL
);
CREATE INDEX enrichments_finding ON enrichments (finding_id, id);
CREATE INDEX enrichments_content ON enrichments (content_hash, model, id);
CREATE INDEX findings_enriched_by ON findings (enriched_by, last_seen);

-- ------------------------------------------------------------------ alerts

CREATE TABLE alert_groups (
    key        TEXT        NOT NULL PRIMARY KEY,
    state      JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert_notifications (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receiver    TEXT        NOT NULL,
    route       TEXT        NOT NULL,
    group_key   TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    finding_ids BIGINT[]    NOT NULL,
    status      TEXT        NOT NULL,
    attempts    BIGINT      NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ,
    title       TEXT        NOT NULL,
    body        JSONB       NOT NULL,
    silence_id  BIGINT
);
CREATE INDEX alert_notifications_status ON alert_notifications (status, id);
CREATE INDEX alert_notifications_receiver ON alert_notifications (receiver, id);
CREATE INDEX alert_notifications_findings ON alert_notifications USING GIN (finding_ids);

CREATE TABLE alert_silences (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers        JSONB       NOT NULL,
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,
    created_by      TEXT        NOT NULL,
    comment         TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expired_at      TIMESTAMPTZ,
    start_announced BOOLEAN     NOT NULL DEFAULT FALSE,
    end_announced   BOOLEAN     NOT NULL DEFAULT FALSE
);
