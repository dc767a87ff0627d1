-- A finding's evidence moves into its own row, as a JSON array of event ids
-- in the order they were attached (at most EVIDENCE_CAP of them).
-- Detection rewrites a busy incident's row at every commit anyway; with the
-- evidence in a side table it also read the whole list back (up to 100
-- rows) and inserted into a second b-tree, which made a commit slower as
-- incidents filled their evidence. One row read and one row write now.
ALTER TABLE findings ADD COLUMN evidence_json TEXT NOT NULL DEFAULT '[]';
UPDATE findings SET evidence_json = COALESCE(
    (SELECT json_group_array(event_id)
       FROM (SELECT event_id FROM finding_evidence
              WHERE finding_id = findings.id ORDER BY seq)),
    '[]');
DROP TABLE finding_evidence;
