-- Rules switched off (or back on) through the API. A rule without a row is
-- enabled; the row outlives reloads and restarts, and names the rule by its
-- rule_id, so a rule that comes back after being removed keeps its state.
CREATE TABLE rule_states (
    rule_id    TEXT    PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;
