-- fetch({flowUuid}) finds what a flow stored: an index seek already in
-- (name, key) order, instead of a scan of the table. Entries written
-- outside flows share the '' key of this index.
CREATE INDEX entries_flow ON entries (flow_uuid, name, key);
