-- flowkv entries on PostgreSQL.
--
-- name and key use the "C" collation: byte order, the same order as SQLite
-- and DynamoDB, and prefix ranges that use the primary key index.
-- Times are unix microseconds (UTC); expires_at NULL never expires.
-- data is JSONB; data_hash is store.DataHash of the canonical JSON and
-- serves exact `data` search.
CREATE TABLE entries (
  name       text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  data       jsonb  NOT NULL,
  data_hash  text COLLATE "C" NOT NULL,
  version    bigint NOT NULL,
  flow_uuid  text   NOT NULL DEFAULT '',
  expires_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (name, key)
);

-- Exact data search, ordered by (name, key) for keyset pages.
CREATE INDEX entries_data ON entries (data_hash, name, key);

-- The reaper's scan of expired entries.
CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;

-- Versions come from one sequence, so a version is never reused for any
-- (name, key), even after delete and re-insert.
CREATE SEQUENCE entry_version AS bigint;
