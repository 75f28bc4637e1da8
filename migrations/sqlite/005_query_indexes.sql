-- Declared query indexes (flowkv index create NAME FIELD): one row per
-- namespace and field. The index itself is an expression index on entries,
-- restricted to the namespace (WHERE name = '…'), named qx_ + a hash of
-- (name, field); state is 'building' until it is built, then 'ready'.
CREATE TABLE query_indexes (
  name       TEXT    NOT NULL,
  field      TEXT    NOT NULL,
  state      TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (name, field)
) WITHOUT ROWID;
