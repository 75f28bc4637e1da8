package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowkv/flowkv/store"
)

// row is the stored state of one (name, key) inside a write transaction.
type row struct {
	data    []byte
	version int64
	expires sql.NullInt64
	created int64
	// placeholder marks PostgreSQL's lock-holding row for an absent key.
	placeholder bool
}

// liveAt reports whether r is a visible entry at n (unix µs).
func (r *row) liveAt(n int64) bool {
	return r != nil && !r.placeholder && r.version > 0 && (!r.expires.Valid || r.expires.Int64 > n)
}

// inTx runs fn in a write transaction through the committer (see
// submit): on SQLite on the single writer connection with BEGIN IMMEDIATE;
// on PostgreSQL at READ COMMITTED with the rows it touches locked (see
// lockAddr), retried on deadlock or serialization failure. Batched with
// other writes, fn runs inside a savepoint of its own; fn must run its
// statements with the ctx it is given.
func (s *Store) inTx(ctx context.Context, step string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return dbErr(step, mapDriverErr(s.submit(ctx, false, fn)))
}

// txAttempts bounds the tries of a transaction that PostgreSQL aborted for
// a deadlock or serialization failure.
const txAttempts = 5

func retryPause(attempt int) time.Duration { return time.Duration(attempt) * 5 * time.Millisecond }

// txRetry runs fn in a transaction of its own, retried while retryable.
func (s *Store) txRetry(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil || attempt == txAttempts {
			return err
		}
		time.Sleep(retryPause(attempt))
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// on returns st to run inside tx, or st itself when tx is nil (a write
// running alone, in autocommit mode).
func on(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx == nil {
		return st
	}
	return tx.StmtContext(ctx, st)
}

// retryable reports PostgreSQL deadlocks and serialization failures.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// mapDriverErr turns driver errors caused by the input into coded errors.
func mapDriverErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "22P05", "22021": // \u0000 in JSONB text, bad encoding
			return store.Errorf(store.CodeInvalidArgument, "data holds a character PostgreSQL cannot store (\\u0000)")
		case "54000":
			return store.Errorf(store.CodeTooLarge, "data is too large for PostgreSQL")
		}
	}
	return err
}

// lockAddr reads the stored row of (name, key) inside tx, whether live or
// expired; nil when absent. On PostgreSQL the row is locked FOR UPDATE and,
// when hold is set and no row exists, an expired placeholder row is
// inserted so that the absent key stays locked too (insert-if-absent and
// check-absent hold until commit). SQLite's immediate transaction already
// excludes every other writer.
func (s *Store) lockAddr(ctx context.Context, tx *sql.Tx, name, key string, hold bool) (*row, error) {
	lock := tx.StmtContext(ctx, s.st.lockRow)
	for i := 0; i < 20; i++ {
		var r row
		err := lock.QueryRowContext(ctx, name, key).Scan(&r.data, &r.version, &r.expires, &r.created)
		if err == nil {
			r.placeholder = r.version == 0
			return &r, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if !hold || s.dialect != Postgres {
			return nil, nil
		}
		res, err := tx.StmtContext(ctx, s.st.placeholder).ExecContext(ctx, name, key)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &row{placeholder: true, expires: sql.NullInt64{Valid: true}}, nil
		}
		// Another transaction inserted the key meanwhile: lock its row.
	}
	return nil, store.Errorf(store.CodeUnavailable, "could not lock %s/%s", name, key)
}

// checkCap fails with too_large when adding entries to name would exceed
// Limits.MaxEntriesPerName. On PostgreSQL it first takes the namespace's
// advisory transaction lock so concurrent inserts count one after another.
func (s *Store) checkCap(ctx context.Context, tx *sql.Tx, name string, n int64, adding int64) error {
	cap := s.limits.MaxEntriesPerName
	if cap <= 0 || adding <= 0 {
		return nil
	}
	if s.dialect == Postgres {
		if _, err := tx.StmtContext(ctx, s.st.lockName).ExecContext(ctx, name); err != nil {
			return err
		}
	}
	var count int64
	if err := tx.StmtContext(ctx, s.st.countName).QueryRowContext(ctx, name, n).Scan(&count); err != nil {
		return err
	}
	if count+adding > cap {
		return store.Errorf(store.CodeTooLarge, "namespace %q holds %d entries, the limit is %d", name, count, cap)
	}
	return nil
}

// next returns a fresh version, at least min: SQLite bumps its counter row
// (the transaction holds the write lock); PostgreSQL takes nextval, or, for
// Import with min above every version issued so far, moves the sequence to
// min (the caller holds a SHARE ROW EXCLUSIVE lock on entries, so no
// writer draws from the sequence meanwhile).
func (s *Store) next(ctx context.Context, tx *sql.Tx, min int64) (int64, error) {
	var v int64
	if s.dialect != Postgres {
		err := tx.StmtContext(ctx, s.st.nextVersion).QueryRowContext(ctx, min).Scan(&v)
		return v, err
	}
	if min > 0 {
		var last int64
		var called bool
		if err := tx.QueryRowContext(ctx, "SELECT last_value, is_called FROM entry_version").Scan(&last, &called); err != nil {
			return 0, err
		}
		if min > last || (!called && min >= last) {
			_, err := tx.ExecContext(ctx, "SELECT setval('entry_version', $1, true)", min)
			return min, err
		}
	}
	err := tx.StmtContext(ctx, s.st.nextVersion).QueryRowContext(ctx).Scan(&v)
	return v, err
}

// put writes the full row of (name, key) with version v.
func (s *Store) put(ctx context.Context, tx *sql.Tx, e *store.Entry, hash string) error {
	var exp any
	if e.ExpiresAt != nil {
		exp = micros(*e.ExpiresAt)
	}
	_, err := tx.StmtContext(ctx, s.st.put).ExecContext(ctx, e.Name, e.Key, jsonText(e.Data), hash, e.Version, e.FlowUUID, exp, micros(e.CreatedAt), micros(e.UpdatedAt))
	return err
}

// putNew writes the full row of (name, key), which tx has locked, with a
// fresh version drawn in the same statement, and sets e.Version.
func (s *Store) putNew(ctx context.Context, tx *sql.Tx, e *store.Entry, hash string) error {
	var exp any
	if e.ExpiresAt != nil {
		exp = micros(*e.ExpiresAt)
	}
	return tx.StmtContext(ctx, s.st.putNext).QueryRowContext(ctx, e.Name, e.Key, jsonText(e.Data), hash, e.FlowUUID, exp, micros(e.CreatedAt), micros(e.UpdatedAt)).Scan(&e.Version)
}

type writeOp int

const (
	opInsert writeOp = iota
	opUpsert
	opUpdate
)

func (o writeOp) String() string {
	return [...]string{"insert", "upsert", "update"}[o]
}

// Insert creates (name, key); already_exists when a live entry is there
// (an expired one is replaced). IfVersion is invalid_argument on Insert.
func (s *Store) Insert(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	return s.write(ctx, opInsert, name, key, data, opts)
}

// Upsert creates or overwrites (name, key). With IfVersion > 0 it writes
// only over a live entry of exactly that version, else conflict.
func (s *Store) Upsert(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	return s.write(ctx, opUpsert, name, key, data, opts)
}

// Update overwrites the live entry (name, key); not_found when absent or
// expired, conflict when IfVersion > 0 does not match.
func (s *Store) Update(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	return s.write(ctx, opUpdate, name, key, data, opts)
}

// write is Insert, Upsert and Update: one write transaction that reads (and
// on PostgreSQL locks) the row, decides, draws a version and writes the row.
// createdAt is kept when a live entry is overwritten.
func (s *Store) write(ctx context.Context, op writeOp, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	prepare := s.limits.PrepareWrite
	if op == opInsert {
		prepare = s.limits.PrepareInsert
	}
	data, err := prepare(name, key, data, opts)
	if err != nil {
		return store.Entry{}, err
	}
	hash := store.DataHash(data)
	t := now()
	n := micros(t)
	e := store.Entry{Name: name, Key: key, Data: data, FlowUUID: opts.FlowUUID, ExpiresAt: store.ExpiresAt(t, opts.TTL), CreatedAt: t, UpdatedAt: t}
	if e.ExpiresAt != nil {
		x := e.ExpiresAt.Truncate(time.Microsecond)
		e.ExpiresAt = &x
	}
	// On PostgreSQL an INSERT … ON CONFLICT draws the VALUES version before
	// it waits on a concurrent writer of the key; if that writer deletes
	// the entry, the insert lands with a version lower than ones the entry
	// already had (found by internal/torture). Inserts and unconditional
	// upserts there take the locking path, which draws after the lock.
	fast := s.dialect != Postgres || op == opUpdate || opts.IfVersion > 0
	if s.limits.MaxEntriesPerName == 0 && fast {
		return s.writeFast(ctx, op, e, hash, opts.IfVersion)
	}
	err = s.inTx(ctx, op.String()+" "+name+"/"+key, func(ctx context.Context, tx *sql.Tx) error {
		cur, err := s.lockAddr(ctx, tx, name, key, op != opUpdate)
		if err != nil {
			return err
		}
		isLive := cur.liveAt(n)
		switch {
		case op == opInsert && isLive:
			return store.Errorf(store.CodeAlreadyExists, "entry %s/%s already exists", name, key)
		case op == opUpdate && !isLive:
			return store.Errorf(store.CodeNotFound, "no entry %s/%s", name, key)
		case opts.IfVersion > 0 && !isLive:
			return store.Errorf(store.CodeConflict, "entry %s/%s does not exist, expected version %d", name, key, opts.IfVersion)
		case opts.IfVersion > 0 && cur.version != opts.IfVersion:
			return store.Errorf(store.CodeConflict, "entry %s/%s is at version %d, expected %d", name, key, cur.version, opts.IfVersion)
		}
		if isLive {
			e.CreatedAt = fromMicros(cur.created)
		} else if err := s.checkCap(ctx, tx, name, n, 1); err != nil {
			return err
		}
		return s.putNew(ctx, tx, &e, hash)
	})
	if err != nil {
		return store.Entry{}, err
	}
	return e, nil
}

// writeFast is write without an entries cap: one prepared statement that
// decides and writes (INSERT … ON CONFLICT DO UPDATE, or UPDATE), drawing
// the version inside the statement. Only a failed conditional write reads
// once more, to report absent and mismatched entries apart.
func (s *Store) writeFast(ctx context.Context, op writeOp, e store.Entry, hash string, ifVersion int64) (store.Entry, error) {
	var exp any
	if e.ExpiresAt != nil {
		exp = micros(*e.ExpiresAt)
	}
	n := micros(e.UpdatedAt)
	var created int64
	err := s.submit(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		switch {
		case op == opUpdate || ifVersion > 0:
			err = on(ctx, tx, s.st.fastUpdate).QueryRowContext(ctx, jsonText(e.Data), hash, e.FlowUUID, exp, n, e.Name, e.Key, n, ifVersion, ifVersion).Scan(&e.Version, &created)
			if errors.Is(err, sql.ErrNoRows) {
				return s.explainMiss(ctx, tx, op, e.Name, e.Key, ifVersion)
			}
		case op == opInsert:
			err = on(ctx, tx, s.st.fastInsert).QueryRowContext(ctx, e.Name, e.Key, jsonText(e.Data), hash, e.FlowUUID, exp, n, n).Scan(&e.Version, &created)
			if errors.Is(err, sql.ErrNoRows) {
				return store.Errorf(store.CodeAlreadyExists, "entry %s/%s already exists", e.Name, e.Key)
			}
		default:
			err = on(ctx, tx, s.st.fastUpsert).QueryRowContext(ctx, e.Name, e.Key, jsonText(e.Data), hash, e.FlowUUID, exp, n, n).Scan(&e.Version, &created)
		}
		return err
	})
	if err != nil {
		return store.Entry{}, dbErr(op.String()+" "+e.Name+"/"+e.Key, mapDriverErr(err))
	}
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// explainMiss returns the error of an update or conditional upsert that
// matched no row: not_found for an update of an absent entry, else conflict.
// In a batch (tx set) it reads the row inside the transaction, which holds
// the batch's earlier writes.
func (s *Store) explainMiss(ctx context.Context, tx *sql.Tx, op writeOp, name, key string, ifVersion int64) error {
	if op == opUpdate && ifVersion == 0 {
		return store.Errorf(store.CodeNotFound, "no entry %s/%s", name, key)
	}
	var cur store.Entry
	var err error
	if tx != nil {
		var r *row
		if r, err = s.lockAddr(ctx, tx, name, key, false); err == nil {
			if r.liveAt(micros(now())) {
				cur.Version = r.version
			} else {
				err = store.Errorf(store.CodeNotFound, "no entry %s/%s", name, key)
			}
		}
	} else {
		cur, err = s.FindNameKey(ctx, name, key)
	}
	switch {
	case store.CodeOf(err) == store.CodeNotFound:
		if op == opUpdate {
			return store.Errorf(store.CodeNotFound, "no entry %s/%s", name, key)
		}
		return store.Errorf(store.CodeConflict, "entry %s/%s does not exist, expected version %d", name, key, ifVersion)
	case err != nil:
		return err
	default:
		return store.Errorf(store.CodeConflict, "entry %s/%s is at version %d, expected %d", name, key, cur.Version, ifVersion)
	}
}

// Delete removes the live entry (name, key) and reports whether there was
// one (an expired row is removed too, reporting false). With IfVersion > 0
// it deletes only a live entry of exactly that version, else conflict. It
// is one statement.
func (s *Store) Delete(ctx context.Context, name, key string, opts store.DeleteOptions) (bool, error) {
	if err := s.limits.ValidateNameKey(name, key); err != nil {
		return false, err
	}
	if opts.IfVersion < 0 {
		return false, store.Errorf(store.CodeInvalidArgument, "ifVersion must not be negative")
	}
	n := micros(now())
	wasLive := false
	err := s.submit(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		wasLive = false
		rows, err := on(ctx, tx, s.st.delete).QueryContext(ctx, name, key, opts.IfVersion, opts.IfVersion)
		if err != nil {
			return err
		}
		for rows.Next() {
			var exp sql.NullInt64
			if err := rows.Scan(&exp); err != nil {
				rows.Close()
				return err
			}
			wasLive = !exp.Valid || exp.Int64 > n
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return rows.Err()
	})
	if err != nil {
		return false, dbErr("delete "+name+"/"+key, err)
	}
	if opts.IfVersion > 0 && !wasLive {
		return false, store.Errorf(store.CodeConflict, "entry %s/%s is not at version %d", name, key, opts.IfVersion)
	}
	return wasLive, nil
}

type addr struct{ name, key string }

// Atomic applies mutations if every check holds, in one transaction: every
// checked or mutated address is locked first (in (name, key) order, so
// concurrent calls cannot deadlock), then checks are compared, then the
// mutations run in order. A failed check is conflict and writes nothing.
// sum on an absent entry starts from 0; on a non-number it is
// invalid_argument.
func (s *Store) Atomic(ctx context.Context, checks []store.Check, mutations []store.Mutation) (store.AtomicResult, error) {
	muts, err := s.limits.ValidateAtomic(checks, mutations)
	if err != nil {
		return store.AtomicResult{}, err
	}
	seen := map[addr]bool{}
	var addrs []addr
	add := func(a addr) {
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for _, c := range checks {
		add(addr{c.Name, c.Key})
	}
	for _, m := range muts {
		add(addr{m.Name, m.Key})
	}
	sort.Slice(addrs, func(i, j int) bool {
		if addrs[i].name != addrs[j].name {
			return addrs[i].name < addrs[j].name
		}
		return addrs[i].key < addrs[j].key
	})
	versions := make([]int64, len(muts))
	t := now()
	n := micros(t)
	err = s.inTx(ctx, "atomic", func(ctx context.Context, tx *sql.Tx) error {
		rows := make(map[addr]*row, len(addrs))
		for _, a := range addrs {
			r, err := s.lockAddr(ctx, tx, a.name, a.key, true)
			if err != nil {
				return err
			}
			rows[a] = r
		}
		for i, c := range checks {
			r := rows[addr{c.Name, c.Key}]
			var cur int64
			if r.liveAt(n) {
				cur = r.version
			}
			if cur != c.Version {
				switch {
				case c.Version == 0:
					return store.Errorf(store.CodeConflict, "checks[%d]: %s/%s exists (version %d), expected absent", i, c.Name, c.Key, cur)
				case cur == 0:
					return store.Errorf(store.CodeConflict, "checks[%d]: %s/%s is absent, expected version %d", i, c.Name, c.Key, c.Version)
				default:
					return store.Errorf(store.CodeConflict, "checks[%d]: %s/%s is at version %d, expected %d", i, c.Name, c.Key, cur, c.Version)
				}
			}
		}
		if s.limits.MaxEntriesPerName > 0 {
			delta := map[string]int64{}
			for _, m := range muts {
				live := rows[addr{m.Name, m.Key}].liveAt(n)
				switch {
				case m.Op == store.OpDelete && live:
					delta[m.Name]--
				case m.Op != store.OpDelete && !live:
					delta[m.Name]++
				}
			}
			names := make([]string, 0, len(delta))
			for name := range delta {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				if err := s.checkCap(ctx, tx, name, n, delta[name]); err != nil {
					return err
				}
			}
		}
		written := map[addr]bool{}
		for i, m := range muts {
			a := addr{m.Name, m.Key}
			r := rows[a]
			written[a] = true
			if m.Op == store.OpDelete {
				if r != nil {
					if _, err := tx.StmtContext(ctx, s.st.deleteIn).ExecContext(ctx, m.Name, m.Key); err != nil {
						return err
					}
				}
				continue
			}
			data := m.Data
			if m.Op == store.OpSum {
				var cur json.RawMessage
				if r.liveAt(n) {
					cur = r.data
				}
				sum, err := store.SumData(cur, m.Data)
				if err != nil {
					return store.Errorf(store.CodeInvalidArgument, "mutations[%d]: %s/%s: %s", i, m.Name, m.Key, store.Text(err))
				}
				data = sum
			}
			e := store.Entry{Name: m.Name, Key: m.Key, Data: data, FlowUUID: m.FlowUUID, ExpiresAt: store.ExpiresAt(t, m.TTL), CreatedAt: t, UpdatedAt: t}
			if r.liveAt(n) {
				e.CreatedAt = fromMicros(r.created)
			}
			if err := s.putNew(ctx, tx, &e, store.DataHash(data)); err != nil {
				return err
			}
			versions[i] = e.Version
		}
		for _, a := range addrs {
			if r := rows[a]; r != nil && r.placeholder && !written[a] {
				if _, err := tx.StmtContext(ctx, s.st.dropPlaceholder).ExecContext(ctx, a.name, a.key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return store.AtomicResult{}, err
	}
	return store.AtomicResult{OK: true, Versions: versions}, nil
}

// Import writes an exported entry as it was: data, flowUuid, timestamps and
// expiry are kept (an already expired entry is written and stays
// invisible). Its version is the exported one when that is above every
// version this database has issued, else a fresh one: never lower than the
// exported version nor than any version (name, key) had here.
func (s *Store) Import(ctx context.Context, in store.Entry) (store.Entry, error) {
	e, err := s.limits.PrepareImport(in)
	if err != nil {
		return store.Entry{}, err
	}
	t := now()
	if e.CreatedAt.IsZero() {
		e.CreatedAt = t
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	e.UpdatedAt = e.UpdatedAt.UTC().Truncate(time.Microsecond)
	if e.ExpiresAt != nil {
		x := e.ExpiresAt.UTC().Truncate(time.Microsecond)
		e.ExpiresAt = &x
	}
	n := micros(t)
	// PostgreSQL: keeping the exported version means moving the sequence,
	// which needs the table lock (see next). The sequence only grows, so
	// when it is already past the version a fresh nextval does.
	lockTable := false
	if s.dialect == Postgres && in.Version > 0 {
		var last int64
		var called bool
		if err := s.w.QueryRowContext(ctx, "SELECT last_value, is_called FROM entry_version").Scan(&last, &called); err != nil {
			return store.Entry{}, dbErr("import "+e.Name+"/"+e.Key, err)
		}
		lockTable = in.Version > last || (!called && in.Version >= last)
	}
	minVersion := in.Version
	if s.dialect == Postgres && !lockTable {
		minVersion = 0
	}
	err = s.inTx(ctx, "import "+e.Name+"/"+e.Key, func(ctx context.Context, tx *sql.Tx) error {
		if lockTable {
			if _, err := tx.ExecContext(ctx, "LOCK TABLE entries IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
		}
		cur, err := s.lockAddr(ctx, tx, e.Name, e.Key, true)
		if err != nil {
			return err
		}
		if !cur.liveAt(n) {
			if err := s.checkCap(ctx, tx, e.Name, n, 1); err != nil {
				return err
			}
		}
		if e.Version, err = s.next(ctx, tx, minVersion); err != nil {
			return err
		}
		return s.put(ctx, tx, &e, store.DataHash(e.Data))
	})
	if err != nil {
		return store.Entry{}, err
	}
	return e, nil
}
