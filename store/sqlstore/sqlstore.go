// Package sqlstore is flowkv's SQL backend: one store.Store (and
// store.Importer) for embedded SQLite (the default, `sqlite:PATH`) and
// PostgreSQL (`postgres://…`).
//
// GORM opens the databases, configures the connection pools and applies the
// embedded migrations (package migrations). The operations themselves run
// hand-written SQL through prepared statements on GORM's underlying
// *sql.DB: GORM's reflective query path costs about 40% of a point get's
// throughput, which the store's hot path cannot afford. Update and Delete
// are one statement each (UPDATE/DELETE … RETURNING), and so are Insert and
// Upsert on SQLite (INSERT … ON CONFLICT DO UPDATE … RETURNING). Atomic,
// Import, writes under an entries cap, and Insert/Upsert on PostgreSQL are
// transactions that lock what they touch before drawing versions.
//
// SQLite writes go through group commit (groupcommit.go; Options.GroupCommit
// turns it on for PostgreSQL too): a writer that finds the writer idle runs
// its write at once, alone; writers that arrive meanwhile queue, and the
// next of them commits the whole queue in one transaction, each write in a
// savepoint of its own so that it fails alone. A caller is answered once
// the transaction holding its write has committed.
//
// SQLite runs in WAL mode with one writer connection whose transactions
// begin IMMEDIATE, and a separate pool of query-only reader connections:
// writers queue in Go instead of meeting SQLITE_BUSY, readers never block
// writers. synchronous=NORMAL: a commit survives a crash of the process;
// after a power loss the last commits may be lost, the database is never
// corrupt. Checkpoints run on a connection of their own, off the commit
// path; every connection maps the file (mmap_size).
//
// Versions come from one counter (SQLite: a row that writes read inside
// their statement and triggers advance; PostgreSQL: a SEQUENCE), so a
// version is never reused for any (name, key), even after delete and
// re-insert. Expired entries are filtered by every read and deleted by a
// background reaper in bounded batches.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/flowkv/flowkv/store"
)

// Dialect names returned by (*Store).Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Defaults of Options.
const (
	DefaultReapInterval = 30 * time.Second
	DefaultReapBatch    = 1000
)

// Options configure Open. The zero value is valid.
type Options struct {
	// Limits the store enforces (zero fields take their defaults).
	Limits store.Limits
	// ReapInterval is how often the reaper deletes expired entries:
	// 0 means DefaultReapInterval, negative disables the reaper.
	ReapInterval time.Duration
	// ReapBatch bounds the entries one reaper statement deletes
	// (0 means DefaultReapBatch), so a reap never holds the writer long.
	ReapBatch int
	// GroupCommit turns group commit on or off (see groupcommit.go). The
	// default is on for SQLite (one writer connection: writes queue there
	// anyway) and off for PostgreSQL, where each write keeps a transaction
	// of its own on the connection pool: batching them on one connection
	// made writes slower there (BENCHMARKS.md), and PostgreSQL already
	// flushes its WAL once for the commits waiting at the same moment.
	GroupCommit GroupCommit
}

// GroupCommit is Options.GroupCommit.
type GroupCommit int

const (
	GroupCommitDefault GroupCommit = iota // on for SQLite, off for PostgreSQL
	GroupCommitOn
	GroupCommitOff
)

// Store is the SQL store.Store and store.Importer. It is safe for
// concurrent use by many goroutines (and, on SQLite, by several processes
// sharing one file).
type Store struct {
	dialect string
	limits  store.Limits
	opts    Options

	// gw and gr are the GORM handles (writer and reader; the same on
	// PostgreSQL); w and r their *sql.DB.
	gw, gr *gorm.DB
	w, r   *sql.DB
	// ck is SQLite's checkpoint connection (nil on PostgreSQL).
	ck *sql.DB

	st stmts
	// gc batches writes into shared transactions (group commit).
	gc    committer
	hooks batchHooks
	// noBatch runs every write on its own (GroupCommitOff).
	noBatch bool

	fetchMu    sync.Mutex
	fetchStmts map[string]*sql.Stmt

	reaped   atomic.Int64
	stopReap context.CancelFunc
	reapDone chan struct{}
	closed   atomic.Bool
	closeMu  sync.Mutex
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// Open connects to dsn, applies pending migrations and starts the reaper.
//
// dsn is `sqlite:PATH` (the file and its directory are created on first
// use) or `postgres://…` / `postgresql://…`. Anything else is
// invalid_argument; an unreachable database is unavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s := &Store{
		limits:     opts.Limits.Normalize(),
		opts:       opts,
		fetchStmts: map[string]*sql.Stmt{},
	}
	if s.opts.ReapInterval == 0 {
		s.opts.ReapInterval = DefaultReapInterval
	}
	if s.opts.ReapBatch <= 0 {
		s.opts.ReapBatch = DefaultReapBatch
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s.dialect = SQLite
		err = s.openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = Postgres
		err = s.openPostgres(dsn)
	default:
		return nil, store.Errorf(store.CodeInvalidArgument, "data store DSN must start with sqlite: or postgres:// (got %q)", redact(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.noBatch = opts.GroupCommit == GroupCommitOff || (opts.GroupCommit == GroupCommitDefault && s.dialect == Postgres)
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.startReaper()
	return s, nil
}

// Migrate connects to dsn, applies pending migrations and closes again
// (what `flowkv migrate` runs). Open applies them as well.
func Migrate(ctx context.Context, dsn string) error {
	s, err := Open(ctx, dsn, Options{ReapInterval: -1})
	if err != nil {
		return err
	}
	return s.Close()
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
	}
}

// SQLite connection parameters (mattn/go-sqlite3). The writer switches the
// file to WAL (persistent), begins transactions IMMEDIATE so a transaction
// never has to upgrade a read lock (the case where SQLite returns BUSY
// without waiting), and uses synchronous=NORMAL: in WAL mode that fsyncs at
// checkpoints, not at each commit. busy_timeout covers other processes
// sharing the file. Readers are query-only. Each connection has a 32 MiB
// page cache.
//
// Every connection also maps up to sqliteMmapBytes of the file (mmap_size):
// reads of pages beyond the connection's cache become memory reads of the
// OS page cache instead of one pread system call per page, which is what
// point reads spread over a large file cost most.
const (
	sqliteWriterParams = "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=0&_cache_size=-32000"
	sqliteReaderParams = "?_busy_timeout=10000&_query_only=1&_cache_size=-32000"
	// The checkpointer's connection: fsyncs at each checkpoint.
	sqliteCheckpointParams = "?_busy_timeout=10000&_synchronous=NORMAL&_cache_size=-2000"
)

// sqliteDriver and sqliteWriterDriver are mattn/go-sqlite3 registered with
// connect hooks that apply the per-connection pragmas a DSN cannot carry.
// The writer's connection also turns automatic checkpoints off: a
// checkpoint copies the WAL into the database file and fsyncs it, and run
// by the committing writer it stalls that commit (tens of ms on a busy
// disk). The store's checkpointer runs them on a connection of its own
// instead (see checkpointLoop).
const (
	sqliteDriver       = "flowkv_sqlite3"
	sqliteWriterDriver = "flowkv_sqlite3_writer"
)

const sqliteMmapBytes = 1 << 30

func init() {
	mmap := fmt.Sprintf("PRAGMA mmap_size = %d", sqliteMmapBytes)
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(mmap, nil)
			return err
		},
	})
	sql.Register(sqliteWriterDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if _, err := c.Exec(mmap, nil); err != nil {
				return err
			}
			_, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil)
			return err
		},
	})
}

func (s *Store) openSQLite(path string) error {
	if path == "" {
		return store.Errorf(store.CodeInvalidArgument, "sqlite DSN needs a file path (sqlite:flowkv.db)")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return store.Errorf(store.CodeInvalidArgument, "sqlite DSN must be a plain file path, without ?, # or :memory: (got %q)", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return dbErr("create the sqlite directory", err)
		}
	}
	// The writer: one connection, immediate transactions, WAL.
	wdsn := path + sqliteWriterParams
	gw, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteWriterDriver, DSN: wdsn}), gormConfig())
	if err != nil {
		return dbErr("open the sqlite database", err)
	}
	w, err := gw.DB()
	if err != nil {
		return dbErr("open the sqlite database", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Force the connection now: it creates the file and switches it to WAL
	// before any reader opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return dbErr("open the sqlite database", err)
	}
	rdsn := path + sqliteReaderParams
	gr, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteDriver, DSN: rdsn}), gormConfig())
	if err != nil {
		w.Close()
		return dbErr("open the sqlite database", err)
	}
	r, err := gr.DB()
	if err != nil {
		w.Close()
		return dbErr("open the sqlite database", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	ck, err := sql.Open(sqliteDriver, path+sqliteCheckpointParams)
	if err != nil {
		w.Close()
		r.Close()
		return dbErr("open the sqlite database", err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxLifetime(0)
	ck.SetConnMaxIdleTime(0)
	s.gw, s.gr, s.w, s.r, s.ck = gw, gr, w, r, ck
	return nil
}

func (s *Store) openPostgres(dsn string) error {
	g, err := gorm.Open(postgres.Open(dsn), gormConfig())
	if err != nil {
		return dbErr("connect to postgresql", err)
	}
	db, err := g.DB()
	if err != nil {
		return dbErr("connect to postgresql", err)
	}
	n := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.gw, s.gr, s.w, s.r = g, g, db, db
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Limits returns the limits this store enforces.
func (s *Store) Limits() store.Limits { return s.limits }

// Reaped returns how many expired entries the reaper has deleted since Open.
func (s *Store) Reaped() int64 { return s.reaped.Load() }

// Ping reports whether the database answers (unavailable if not).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.Errorf(store.CodeUnavailable, "the data store is closed")
	}
	if err := s.w.PingContext(ctx); err != nil {
		return dbErr("ping", err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return dbErr("ping", err)
		}
	}
	return nil
}

// Close stops the reaper and closes the connections. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if s.stopReap != nil {
		s.stopReap()
		<-s.reapDone
	}
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	s.fetchMu.Lock()
	for _, st := range s.fetchStmts {
		st.Close()
	}
	s.fetchStmts = map[string]*sql.Stmt{}
	s.fetchMu.Unlock()
	s.st.close()
	var errs []error
	if s.ck != nil {
		errs = append(errs, s.ck.Close())
	}
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return dbErr("close", err)
	}
	return nil
}

// dbError is a database failure: Error() keeps the driver's detail for
// logs, while the coded *store.Error in its chain (unavailable, or timeout
// for context ends) carries a message without SQL for users.
type dbError struct {
	step  string
	coded *store.Error
	err   error
}

func (e *dbError) Error() string   { return "sqlstore: " + e.step + ": " + e.err.Error() }
func (e *dbError) Unwrap() []error { return []error{e.coded, e.err} }

// dbErr wraps a driver error with the step that failed. Coded errors pass
// through (wrapped with the step).
func dbErr(step string, err error) error {
	if err == nil {
		return nil
	}
	var coded *store.Error
	if errors.As(err, &coded) {
		return fmt.Errorf("sqlstore: %s: %w", step, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &dbError{step: step, err: err, coded: &store.Error{Code: store.CodeTimeout, Msg: "the data store did not " + step + " in time"}}
	}
	return &dbError{step: step, err: err, coded: &store.Error{Code: store.CodeUnavailable, Msg: "the data store could not " + step}}
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return dsn
}

// micros converts a time to the stored unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// now is the store's clock, truncated to the stored precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
