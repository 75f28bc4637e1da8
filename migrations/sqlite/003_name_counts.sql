-- Entries per namespace, kept by triggers in the writing statement's own
-- transaction, so Names and the MaxEntriesPerName check read one row per
-- namespace instead of counting the table. The count includes expired rows
-- the reaper has not deleted yet; readers subtract those through the
-- entries_expiry index. Rows at 0 are skipped by readers and removed by
-- the reaper.
CREATE TABLE name_counts (
  name    TEXT    NOT NULL PRIMARY KEY,
  entries INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO name_counts (name, entries) SELECT name, count(*) FROM entries GROUP BY name;

CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
BEGIN
  INSERT INTO name_counts (name, entries) VALUES (NEW.name, 1)
    ON CONFLICT (name) DO UPDATE SET entries = entries + 1;
END;

CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
BEGIN
  UPDATE name_counts SET entries = entries - 1 WHERE name = OLD.name;
END;
