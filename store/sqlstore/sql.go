package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// live is the condition every read applies: the entry has not expired at
// the query's now (the parameter).
const live = "(expires_at IS NULL OR expires_at > ?)"

// notReserved excludes flowkv's own namespaces (store.ReservedPrefix,
// "_flowkv.") as a range, which indexes serve and which does not depend on
// LIKE's case rules: '/' is the byte after '.'.
const notReserved = "NOT (name >= '_flowkv.' AND name < '_flowkv/')"

// stmts are the prepared statements of the hot paths. Reader statements are
// prepared on the read pool, writer statements on the writer (used inside
// write transactions through Tx.StmtContext).
type stmts struct {
	get, findName, names, readyIndexes           *sql.Stmt
	listFrom, listAfter, listFromTo, listAfterTo *sql.Stmt
	// ReadRanges: [start, ∞) and [start, end), forward and reverse.
	rangeFrom, rangeFromTo, rangeFromRev, rangeFromToRev *sql.Stmt

	// Single-statement writes (no MaxEntriesPerName cap).
	fastUpsert, fastInsert, fastUpdate *sql.Stmt

	lockRow, placeholder, nextVersion, put, putNext, delete, deleteIn, countName, lockName, dropPlaceholder *sql.Stmt
	reap, dropZeroCounts                                                                                    *sql.Stmt
	// Group commit: each write of a batch in a savepoint of its own.
	savepoint, rollbackTo, release *sql.Stmt
	all                            []*sql.Stmt
	// text is each statement's SQL (benchmarks run it raw).
	text map[*sql.Stmt]string
}

func (st *stmts) close() {
	for _, s := range st.all {
		s.Close()
	}
	st.all = nil
}

// cols is the column list scanEntry reads.
func (s *Store) cols() string {
	if s.dialect == Postgres {
		return "name, key, data::text, version, flow_uuid, expires_at, created_at, updated_at"
	}
	return "name, key, data, version, flow_uuid, expires_at, created_at, updated_at"
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Store) rebind(q string) string {
	if s.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (s *Store) prepare(ctx context.Context) error {
	cols := s.cols()
	pg := s.dialect == Postgres
	var err error
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, s.rebind(q))
		if err == nil {
			s.st.all = append(s.st.all, st)
			s.st.text[st] = s.rebind(q)
		}
		return st
	}
	r, w := s.r, s.w
	s.st.text = map[*sql.Stmt]string{}
	s.st.get = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key = ? AND "+live)
	s.st.readyIndexes = prep(r, "SELECT field FROM query_indexes WHERE name = ? AND state = 'ready' ORDER BY field")
	s.st.findName = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND "+live+" ORDER BY key LIMIT ? OFFSET ?")
	// One lower bound per query (key >= prefix, or key > cursor): SQLite
	// cannot tell which of two bound parameters is tighter and would scan
	// from the looser one.
	s.st.listFrom = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND "+live+" ORDER BY key LIMIT ?")
	s.st.listAfter = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key > ? AND "+live+" ORDER BY key LIMIT ?")
	s.st.listFromTo = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND key < ? AND "+live+" ORDER BY key LIMIT ?")
	s.st.rangeFrom = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND "+live+" ORDER BY key LIMIT ?")
	s.st.rangeFromTo = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND key < ? AND "+live+" ORDER BY key LIMIT ?")
	s.st.rangeFromRev = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND "+live+" ORDER BY key DESC LIMIT ?")
	s.st.rangeFromToRev = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key >= ? AND key < ? AND "+live+" ORDER BY key DESC LIMIT ?")
	s.st.listAfterTo = prep(r, "SELECT "+cols+" FROM entries WHERE name = ? AND key > ? AND key < ? AND "+live+" ORDER BY key LIMIT ?")
	if pg {
		// Trigger-appended counts minus the expired rows not reaped yet.
		s.st.names = prep(r, `SELECT c.name, (c.n - coalesce(x.n, 0))::bigint AS live_count
FROM (SELECT name, sum(delta)::bigint AS n FROM name_count_deltas GROUP BY name) c
LEFT JOIN (SELECT name, count(*) AS n FROM entries WHERE expires_at <= ? GROUP BY name) x ON x.name = c.name
WHERE c.n > 0 AND NOT (c.name >= '_flowkv.' AND c.name < '_flowkv/') AND c.n - coalesce(x.n, 0) > 0
ORDER BY c.name`)
	} else {
		// Trigger-kept counts minus the expired rows not reaped yet.
		s.st.names = prep(r, `SELECT c.name, c.entries - coalesce(x.n, 0) AS live_count
FROM name_counts c LEFT JOIN (
  SELECT name, count(*) AS n FROM entries INDEXED BY entries_expiry WHERE expires_at <= ? GROUP BY name
) x ON x.name = c.name
WHERE c.entries > 0 AND NOT (c.name >= '_flowkv.' AND c.name < '_flowkv/') AND live_count > 0
ORDER BY c.name`)
	}

	forUpdate := ""
	if pg {
		forUpdate = " FOR UPDATE"
	}
	dataCol := "data"
	if pg {
		dataCol = "data::text"
	}
	s.st.lockRow = prep(w, "SELECT "+dataCol+", version, expires_at, created_at FROM entries WHERE name = ? AND key = ?"+forUpdate)
	if pg {
		// An expired, never-visible row that holds the row lock of an
		// absent (name, key) until the transaction ends.
		s.st.placeholder = prep(w, "INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at) VALUES (?, ?, 'null', '', 0, '', 0, 0, 0) ON CONFLICT DO NOTHING")
		s.st.dropPlaceholder = prep(w, "DELETE FROM entries WHERE name = ? AND key = ? AND version = 0")
		s.st.nextVersion = prep(w, "SELECT nextval('entry_version')")
		s.st.lockName = prep(w, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))")
		s.st.put = prep(w, `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
VALUES (?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name, key) DO UPDATE SET data = excluded.data, data_hash = excluded.data_hash, version = excluded.version,
  flow_uuid = excluded.flow_uuid, expires_at = excluded.expires_at, created_at = excluded.created_at, updated_at = excluded.updated_at`)
		s.st.reap = prep(w, "DELETE FROM entries WHERE (name, key) IN (SELECT name, key FROM entries WHERE expires_at <= ? LIMIT ? FOR UPDATE SKIP LOCKED)")
	} else {
		s.st.nextVersion = prep(w, "UPDATE version_counter SET value = max(value + 1, ?) WHERE id = 1 RETURNING value")
		s.st.put = prep(w, `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name, key) DO UPDATE SET data = excluded.data, data_hash = excluded.data_hash, version = excluded.version,
  flow_uuid = excluded.flow_uuid, expires_at = excluded.expires_at, created_at = excluded.created_at, updated_at = excluded.updated_at`)
		s.st.reap = prep(w, "DELETE FROM entries WHERE (name, key) IN (SELECT name, key FROM entries WHERE expires_at <= ? LIMIT ?)")
	}
	// The single-statement writes draw the version inside the statement:
	// PostgreSQL from the sequence (in SET, evaluated after the row lock is
	// held), SQLite from the counter row, which a trigger moves up within
	// the same statement (the writer connection serialises them).
	nextSQL := "(SELECT value FROM version_counter WHERE id = 1) + 1"
	updVersion := "excluded.version"
	dataParam := "?"
	if pg {
		nextSQL = "nextval('entry_version')"
		updVersion = nextSQL
		dataParam = "?::jsonb"
	}
	insertHead := `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
VALUES (?, ?, ` + dataParam + `, ?, ` + nextSQL + `, ?, ?, ?, ?)
ON CONFLICT (name, key) DO UPDATE SET data = excluded.data, data_hash = excluded.data_hash, version = ` + updVersion + `,
  flow_uuid = excluded.flow_uuid, expires_at = excluded.expires_at, updated_at = excluded.updated_at,`
	// Upsert keeps created_at of a live entry, renews it over an expired one.
	s.st.fastUpsert = prep(w, insertHead+`
  created_at = CASE WHEN entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at THEN excluded.created_at ELSE entries.created_at END
RETURNING version, created_at`)
	// Insert overwrites only an expired entry; no row back = already exists.
	s.st.fastInsert = prep(w, insertHead+`
  created_at = excluded.created_at
WHERE entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at
RETURNING version, created_at`)
	// Update (and conditional upsert) of a live entry; no row back = absent
	// or another version.
	s.st.fastUpdate = prep(w, `UPDATE entries SET data = `+dataParam+`, data_hash = ?, version = `+nextSQL+`, flow_uuid = ?, expires_at = ?, updated_at = ?
WHERE name = ? AND key = ? AND `+live+` AND (CAST(? AS BIGINT) = 0 OR version = ?)
RETURNING version, created_at`)
	// putNext writes a row whose (name, key) the transaction has locked
	// (lockAddr), drawing its version inside the statement: no other
	// writer can be waited on, so the draw comes after the lock.
	s.st.putNext = prep(w, `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
VALUES (?, ?, `+dataParam+`, ?, `+nextSQL+`, ?, ?, ?, ?)
ON CONFLICT (name, key) DO UPDATE SET data = excluded.data, data_hash = excluded.data_hash, version = excluded.version,
  flow_uuid = excluded.flow_uuid, expires_at = excluded.expires_at, created_at = excluded.created_at, updated_at = excluded.updated_at
RETURNING version`)
	s.st.savepoint = prep(w, "SAVEPOINT flowkv_write")
	s.st.rollbackTo = prep(w, "ROLLBACK TO SAVEPOINT flowkv_write")
	s.st.release = prep(w, "RELEASE SAVEPOINT flowkv_write")
	s.st.delete = prep(w, "DELETE FROM entries WHERE name = ? AND key = ? AND (CAST(? AS BIGINT) = 0 OR version = ?) RETURNING expires_at")
	s.st.deleteIn = prep(w, "DELETE FROM entries WHERE name = ? AND key = ?")
	if pg {
		s.st.countName = prep(w, `SELECT (coalesce((SELECT sum(delta) FROM name_count_deltas WHERE name = $1), 0)
  - (SELECT count(*) FROM entries WHERE expires_at <= $2 AND name = $1))::bigint`)
		// Folds each namespace's delta rows into one.
		s.st.dropZeroCounts = prep(w, `WITH gone AS (DELETE FROM name_count_deltas RETURNING name, delta)
INSERT INTO name_count_deltas (name, delta) SELECT name, sum(delta) FROM gone GROUP BY name HAVING sum(delta) <> 0`)
	} else {
		s.st.countName = prep(w, `SELECT coalesce((SELECT entries FROM name_counts WHERE name = ?1), 0)
  - (SELECT count(*) FROM entries INDEXED BY entries_expiry WHERE expires_at <= ?2 AND name = ?1)`)
		s.st.dropZeroCounts = prep(w, "DELETE FROM name_counts WHERE entries <= 0")
	}
	if err != nil {
		s.st.close()
		return dbErr("prepare statements", err)
	}
	return nil
}
