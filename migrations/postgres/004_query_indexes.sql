-- Declared query indexes (flowkv index create NAME FIELD): one row per
-- namespace and field. The indexes themselves are expression indexes on
-- entries restricted to the namespace (WHERE name = '…'), built
-- CONCURRENTLY and named qx_ + a hash of (name, field) + _n, _s, _r; state
-- is 'building' until they are built, then 'ready'.
CREATE TABLE query_indexes (
  name       text COLLATE "C" NOT NULL,
  field      text COLLATE "C" NOT NULL,
  state      text   NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (name, field)
);
