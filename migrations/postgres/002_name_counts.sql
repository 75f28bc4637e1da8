-- Entries per namespace without counting the table: statement-level
-- triggers append one (name, ±n) row per namespace a statement inserted
-- into or deleted from. Appending never contends on a shared counter row
-- (concurrent writers to one namespace do not wait for each other); the
-- reaper folds the rows into one per namespace. The sum includes expired
-- rows not reaped yet; readers subtract those through entries_expiry.
CREATE TABLE name_count_deltas (
  name  text COLLATE "C" NOT NULL,
  delta bigint NOT NULL
);
CREATE INDEX name_count_deltas_name ON name_count_deltas (name);

INSERT INTO name_count_deltas (name, delta) SELECT name, count(*) FROM entries GROUP BY name;

CREATE FUNCTION flowkv_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO name_count_deltas (name, delta) SELECT name, count(*) FROM new_rows GROUP BY name;
  RETURN NULL;
END
$$;

CREATE FUNCTION flowkv_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO name_count_deltas (name, delta) SELECT name, -count(*) FROM old_rows GROUP BY name;
  RETURN NULL;
END
$$;

CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flowkv_count_inserted();

CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION flowkv_count_deleted();
