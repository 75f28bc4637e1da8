-- flowkv entries on SQLite.
--
-- WITHOUT ROWID: the primary key (name, key) is the table's own b-tree, so a
-- point get is one b-tree descent and a namespace scan is a range of it.
-- Times are unix microseconds (UTC); expires_at NULL never expires.
-- data is the canonical JSON text (store.Canonicalize); data_hash is
-- store.DataHash of it and serves exact `data` search.
CREATE TABLE entries (
  name       TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  data       TEXT    NOT NULL,
  data_hash  TEXT    NOT NULL,
  version    INTEGER NOT NULL,
  flow_uuid  TEXT    NOT NULL DEFAULT '',
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (name, key)
) WITHOUT ROWID;

-- Exact data search, ordered by (name, key) for keyset pages.
CREATE INDEX entries_data ON entries (data_hash, name, key);

-- The reaper's scan of expired entries.
CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;

-- Versions come from one counter bumped inside every write transaction, so a
-- version is never reused for any (name, key), even after delete.
CREATE TABLE version_counter (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO version_counter (id, value) VALUES (1, 0);
