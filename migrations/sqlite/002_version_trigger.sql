-- Single-statement writes draw their version as the counter + 1 inside the
-- statement; these triggers move the counter up to every version written,
-- in the same implicit transaction, so the next write draws a higher one.
CREATE TRIGGER entries_version_insert AFTER INSERT ON entries
WHEN NEW.version > (SELECT value FROM version_counter WHERE id = 1)
BEGIN
  UPDATE version_counter SET value = NEW.version WHERE id = 1;
END;

CREATE TRIGGER entries_version_update AFTER UPDATE OF version ON entries
WHEN NEW.version > (SELECT value FROM version_counter WHERE id = 1)
BEGIN
  UPDATE version_counter SET value = NEW.version WHERE id = 1;
END;
