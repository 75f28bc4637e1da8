package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/flowkv/flowkv/store"
)

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanDest holds Scan destinations reused across the rows of one query,
// so reading a row allocates only what the Entry keeps.
type scanDest struct {
	name, key, flow  string
	data             []byte
	version          int64
	exp              sql.NullInt64
	created, updated int64
	ptrs             [8]any
}

func newScanDest() *scanDest {
	d := &scanDest{}
	d.ptrs = [8]any{&d.name, &d.key, &d.data, &d.version, &d.flow, &d.exp, &d.created, &d.updated}
	return d
}

// scanEntry reads the columns of cols() into an Entry.
func (s *Store) scanEntry(sc scanner, d *scanDest) (store.Entry, error) {
	d.data = nil // Scan into a nil slice copies into a new one
	if err := sc.Scan(d.ptrs[:]...); err != nil {
		return store.Entry{}, err
	}
	e := store.Entry{Name: d.name, Key: d.key, Data: d.data, Version: d.version, FlowUUID: d.flow,
		CreatedAt: fromMicros(d.created), UpdatedAt: fromMicros(d.updated)}
	if s.dialect == Postgres {
		// JSONB prints its own layout; entries carry canonical JSON.
		c, err := store.Canonicalize(d.data)
		if err != nil {
			return store.Entry{}, err
		}
		e.Data = c
	}
	if d.exp.Valid {
		t := fromMicros(d.exp.Int64)
		e.ExpiresAt = &t
	}
	return e, nil
}

func (s *Store) scanAll(rows *sql.Rows, capHint int) ([]store.Entry, error) {
	defer rows.Close()
	out := make([]store.Entry, 0, capHint)
	d := newScanDest()
	for rows.Next() {
		e, err := s.scanEntry(rows, d)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && e.Name == out[len(out)-1].Name {
			e.Name = out[len(out)-1].Name // share the string
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// FindNameKey returns the live entry (name, key), or not_found. It is one
// prepared point query on the primary key.
func (s *Store) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	if err := s.limits.ValidateNameKey(name, key); err != nil {
		return store.Entry{}, err
	}
	e, err := s.scanEntry(s.st.get.QueryRowContext(ctx, name, key, micros(now())), newScanDest())
	if errors.Is(err, sql.ErrNoRows) {
		return store.Entry{}, store.Errorf(store.CodeNotFound, "no entry %s/%s", name, key)
	}
	if err != nil {
		return store.Entry{}, dbErr("get "+name+"/"+key, err)
	}
	return e, nil
}

// FindName lists the live entries of name in key order, limit (0 =
// default, above the maximum is invalid_argument) from offset.
func (s *Store) FindName(ctx context.Context, name string, limit, offset int) ([]store.Entry, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return nil, err
	}
	limit, err := s.limits.PageLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := store.ValidateOffset(offset); err != nil {
		return nil, err
	}
	rows, err := s.st.findName.QueryContext(ctx, name, micros(now()), limit, offset)
	if err != nil {
		return nil, dbErr("list "+name, err)
	}
	out, err := s.scanAll(rows, min(limit, 128))
	if err != nil {
		return nil, dbErr("list "+name, err)
	}
	return out, nil
}

// prefixEnd returns the smallest string above every string that starts
// with prefix, or "" when there is none: prefix with its last code point
// incremented (UTF-8 byte order is code point order), dropping trailing
// U+10FFFF. The result is valid UTF-8, which PostgreSQL requires.
func prefixEnd(prefix string) string {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not encodable
			r = 0xE000
		}
		return prefix + string(r)
	}
	return ""
}

// List scans the live entries of name whose key starts with prefix, in key
// order, after cursor. The cursor names the namespace it was made for; a
// cursor of another namespace or a forged one is invalid_argument, and
// whatever it holds, the query stays inside (name, prefix).
func (s *Store) List(ctx context.Context, name, prefix, cursor string, limit int) (store.Page, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return store.Page{}, err
	}
	if err := s.limits.ValidatePrefix(prefix); err != nil {
		return store.Page{}, err
	}
	limit, err := s.limits.PageLimit(limit)
	if err != nil {
		return store.Page{}, err
	}
	after, hasAfter := "", false
	if cursor != "" {
		p, err := store.DecodeCursor(cursor, 3)
		if err != nil {
			return store.Page{}, err
		}
		if p[0] != "l" || p[1] != name || !utf8.ValidString(p[2]) {
			return store.Page{}, store.Errorf(store.CodeInvalidArgument, "cursor is not valid for namespace %q", name)
		}
		// A cursor below the prefix (forged) starts at the prefix.
		after, hasAfter = p[2], p[2] >= prefix
	}
	n := micros(now())
	var rows *sql.Rows
	end := prefixEnd(prefix)
	switch {
	case hasAfter && end != "":
		rows, err = s.st.listAfterTo.QueryContext(ctx, name, after, end, n, limit+1)
	case hasAfter:
		rows, err = s.st.listAfter.QueryContext(ctx, name, after, n, limit+1)
	case end != "":
		rows, err = s.st.listFromTo.QueryContext(ctx, name, prefix, end, n, limit+1)
	default:
		rows, err = s.st.listFrom.QueryContext(ctx, name, prefix, n, limit+1)
	}
	if err != nil {
		return store.Page{}, dbErr("list "+name, err)
	}
	out, err := s.scanAll(rows, min(limit+1, 128))
	if err != nil {
		return store.Page{}, dbErr("list "+name, err)
	}
	page := store.Page{Entries: out}
	if len(out) > limit {
		page.Entries = out[:limit]
		page.NextCursor = store.EncodeCursor("l", name, out[limit-1].Key)
	}
	return page, nil
}

// fetchSQL validates q and builds its query ("" when q matches nothing).
func (s *Store) fetchSQL(q store.FetchQuery) (query string, args []any, limit int, err error) {
	limit, err = s.limits.PageLimit(q.Limit)
	if err != nil {
		return "", nil, 0, err
	}
	if err := store.ValidateOffset(q.Offset); err != nil {
		return "", nil, 0, err
	}
	if q.Offset > 0 && q.Cursor != "" {
		return "", nil, 0, store.Errorf(store.CodeInvalidArgument, "offset and cursor cannot be combined")
	}
	if q.Names != nil && len(q.Names) == 0 {
		return "", nil, 0, nil
	}
	var where strings.Builder
	args = make([]any, 0, 8)
	where.WriteString(live)
	args = append(args, micros(now()))
	if q.Name != "" {
		if err := s.limits.ValidateName(q.Name); err != nil {
			return "", nil, 0, err
		}
		where.WriteString(" AND name = ?")
		args = append(args, q.Name)
	} else {
		where.WriteString(" AND " + notReserved)
	}
	if q.Key != "" {
		if err := s.limits.ValidateKey(q.Key); err != nil {
			return "", nil, 0, err
		}
		where.WriteString(" AND key = ?")
		args = append(args, q.Key)
	}
	if q.KeyPrefix != "" {
		if err := s.limits.ValidatePrefix(q.KeyPrefix); err != nil {
			return "", nil, 0, err
		}
		where.WriteString(" AND key >= ?")
		args = append(args, q.KeyPrefix)
		if end := prefixEnd(q.KeyPrefix); end != "" {
			where.WriteString(" AND key < ?")
			args = append(args, end)
		}
	}
	if q.FlowUUID != "" {
		if !utf8.ValidString(q.FlowUUID) {
			return "", nil, 0, store.Errorf(store.CodeInvalidArgument, "flowUuid is not valid UTF-8")
		}
		where.WriteString(" AND flow_uuid = ?")
		args = append(args, q.FlowUUID)
	}
	if q.Data != nil {
		c, err := s.limits.PrepareData(q.Data)
		if err != nil {
			return "", nil, 0, err
		}
		where.WriteString(" AND data_hash = ?")
		args = append(args, store.DataHash(c))
	}
	if q.Names != nil {
		where.WriteString(" AND name IN (")
		for i, n := range q.Names {
			if !utf8.ValidString(n) {
				return "", nil, 0, store.Errorf(store.CodeInvalidArgument, "names[%d] is not valid UTF-8", i)
			}
			if i > 0 {
				where.WriteString(", ")
			}
			where.WriteString("?")
			args = append(args, n)
		}
		where.WriteString(")")
	}
	if q.Cursor != "" {
		p, err := store.DecodeCursor(q.Cursor, 3)
		if err != nil {
			return "", nil, 0, err
		}
		if p[0] != "f" || !utf8.ValidString(p[1]) || !utf8.ValidString(p[2]) {
			return "", nil, 0, store.Errorf(store.CodeInvalidArgument, "cursor is not valid")
		}
		switch {
		case q.Name == "":
			where.WriteString(" AND (name, key) > (?, ?)")
			args = append(args, p[1], p[2])
		case p[1] == q.Name:
			// Within one namespace the position is a key bound the
			// primary key range serves directly.
			where.WriteString(" AND key > ?")
			args = append(args, p[2])
		case p[1] > q.Name:
			return "", nil, 0, nil // the cursor is past the namespace
		}
	}
	from := "entries"
	if q.Data != nil && s.dialect == SQLite {
		// Without ANALYZE statistics SQLite prefers the primary key for
		// name = ? (a scan of the whole namespace, filtering data_hash)
		// over entries_data, which seeks the matching entries already in
		// (name, key) order. PostgreSQL's planner picks the index itself.
		from = "entries INDEXED BY entries_data"
	} else if q.FlowUUID != "" && s.dialect == SQLite {
		// The same for a flow's entries (entries_flow, migration 004).
		from = "entries INDEXED BY entries_flow"
	}
	query = "SELECT " + s.cols() + " FROM " + from + " WHERE " + where.String() + " ORDER BY name, key LIMIT ?"
	args = append(args, limit+1)
	if q.Offset > 0 {
		query += " OFFSET ?"
		args = append(args, q.Offset)
	}
	return s.rebind(query), args, limit, nil
}

// Fetch lists live entries matching q in (name, key) order. Data is matched
// through the indexed data_hash of its canonical form. Cursors are keyset
// positions: the filters of q always apply, so a forged cursor can only
// move within q's results. Offset and Cursor together are invalid_argument.
func (s *Store) Fetch(ctx context.Context, q store.FetchQuery) (store.Page, error) {
	query, args, limit, err := s.fetchSQL(q)
	if err != nil || query == "" {
		return store.Page{}, err
	}
	rows, err := s.fetchQuery(ctx, query, args)
	if err != nil {
		return store.Page{}, dbErr("fetch", err)
	}
	out, err := s.scanAll(rows, min(limit+1, 128))
	if err != nil {
		return store.Page{}, dbErr("fetch", err)
	}
	page := store.Page{Entries: out}
	if len(out) > limit {
		page.Entries = out[:limit]
		last := out[limit-1]
		page.NextCursor = store.EncodeCursor("f", last.Name, last.Key)
	}
	return page, nil
}

// maxFetchStmts bounds the cache of prepared Fetch shapes.
const maxFetchStmts = 64

// fetchQuery runs a Fetch query through a prepared statement cached by its
// text (the shapes are few: one per combination of filters), or directly
// when the cache is full or the query lists many names.
func (s *Store) fetchQuery(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	if len(query) > 2048 {
		return s.r.QueryContext(ctx, query, args...)
	}
	s.fetchMu.Lock()
	st := s.fetchStmts[query]
	if st == nil && len(s.fetchStmts) < maxFetchStmts && !s.closed.Load() {
		var err error
		st, err = s.r.PrepareContext(ctx, query)
		if err != nil {
			s.fetchMu.Unlock()
			return nil, err
		}
		s.fetchStmts[query] = st
	}
	s.fetchMu.Unlock()
	if st == nil {
		return s.r.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// Names lists namespaces with their live entry counts, reserved namespaces
// excluded, by name. It counts every live entry (a scan of the table), so
// it is meant for the browser, not for hot paths.
func (s *Store) Names(ctx context.Context) ([]store.NameCount, error) {
	rows, err := s.st.names.QueryContext(ctx, micros(now()))
	if err != nil {
		return nil, dbErr("count names", err)
	}
	defer rows.Close()
	out := []store.NameCount{}
	for rows.Next() {
		var nc store.NameCount
		if err := rows.Scan(&nc.Name, &nc.Count); err != nil {
			return nil, dbErr("count names", err)
		}
		out = append(out, nc)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("count names", err)
	}
	return out, nil
}

// jsonText is data as the driver takes it: TEXT on SQLite, cast to JSONB on
// PostgreSQL.
func jsonText(d json.RawMessage) string { return string(d) }

// ReadRanges reads each range with one indexed query; several ranges are
// read in one transaction, so they see one snapshot (SQLite's WAL reader,
// PostgreSQL's REPEATABLE READ).
func (s *Store) ReadRanges(ctx context.Context, name string, ranges []store.KeyRange) ([][]store.Entry, error) {
	if err := s.limits.ValidateRanges(name, ranges); err != nil {
		return nil, err
	}
	out := make([][]store.Entry, len(ranges))
	n := micros(now())
	read := func(stmt func(*sql.Stmt) *sql.Stmt) error {
		for i, r := range ranges {
			if r.End != "" && r.End <= r.Start {
				out[i] = []store.Entry{}
				continue
			}
			var rows *sql.Rows
			var err error
			switch {
			case r.End == "" && !r.Reverse:
				rows, err = stmt(s.st.rangeFrom).QueryContext(ctx, name, r.Start, n, r.Limit)
			case r.End == "":
				rows, err = stmt(s.st.rangeFromRev).QueryContext(ctx, name, r.Start, n, r.Limit)
			case !r.Reverse:
				rows, err = stmt(s.st.rangeFromTo).QueryContext(ctx, name, r.Start, r.End, n, r.Limit)
			default:
				rows, err = stmt(s.st.rangeFromToRev).QueryContext(ctx, name, r.Start, r.End, n, r.Limit)
			}
			if err != nil {
				return err
			}
			if out[i], err = s.scanAll(rows, min(r.Limit, 64)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ranges) <= 1 {
		if err := read(func(st *sql.Stmt) *sql.Stmt { return st }); err != nil {
			return nil, dbErr("read ranges of "+name, err)
		}
		return out, nil
	}
	var opts *sql.TxOptions
	if s.dialect == Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, dbErr("read ranges of "+name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := read(func(st *sql.Stmt) *sql.Stmt { return tx.StmtContext(ctx, st) }); err != nil {
		return nil, dbErr("read ranges of "+name, err)
	}
	return out, nil
}
