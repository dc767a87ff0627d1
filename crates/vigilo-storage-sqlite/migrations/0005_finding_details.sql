-- A finding's row splits in two: what detection changes at every commit
-- (counts, times, status) and the small group stay in `findings`, and
-- what it writes once (the rule's texts, the evidence list) moves to
-- `finding_details`, one row per finding under the same id.
--
-- A busy incident is rewritten once per detection commit, and SQLite
-- rewrites a whole row to change one column of it: with the rule's texts
-- and up to 100 evidence ids in it, a row took about 1.1 KB, three or four
-- to a page, and every busy incident dirtied a page of its own (written to
-- the WAL, then again at checkpoint). A hot row takes about 190 bytes,
-- twenty to a page, and the details are written again only when the
-- evidence grows (until its cap) or the rule's texts change.
--
-- `evidence_len`: the ids in `finding_details.evidence_json`, so an update
-- knows without reading the list whether it may still grow.
-- `details_fp`: a fingerprint of the rule's texts as last written (0:
-- unknown, as for the rows moved here), so an update knows without
-- reading them whether they changed.
CREATE TABLE finding_details (
    finding_id    INTEGER PRIMARY KEY,
    rule_title    TEXT NOT NULL,
    description   TEXT NOT NULL,
    tags_json     TEXT NOT NULL,
    explanation   TEXT NOT NULL,
    evidence_json TEXT NOT NULL
);
INSERT INTO finding_details
    (finding_id, rule_title, description, tags_json, explanation, evidence_json)
SELECT id, rule_title, description, tags_json, explanation, evidence_json
FROM findings;

ALTER TABLE findings ADD COLUMN evidence_len INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN details_fp INTEGER NOT NULL DEFAULT 0;
UPDATE findings SET evidence_len = json_array_length(evidence_json);

ALTER TABLE findings DROP COLUMN rule_title;
ALTER TABLE findings DROP COLUMN description;
ALTER TABLE findings DROP COLUMN tags_json;
ALTER TABLE findings DROP COLUMN explanation;
ALTER TABLE findings DROP COLUMN evidence_json;
