package sqlstore

// Benchmarks of the store's Go API against raw database/sql running the
// same SQL on the same schema and the same connection setup (the physical
// limit of this design), on a dataset of FLOWKV_BENCH_ROWS entries
// (default 1,000,000) in one namespace, built once per run in a temp dir
// (SQLite) or a throwaway database (PostgreSQL):
//
//	go test -run '^$' -bench . -benchtime 2s ./store/sqlstore/
//
// Each benchmark runs the API and the raw side alternately (see runAB) and
// reports both medians, both p99s and api÷raw-%. "g1" is one goroutine,
// "g8" eight (RunParallel). Write benchmarks write changing values, so
// SQLite never skips an unchanged row.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

const benchName = "bench"

// benchGroups is how many distinct data values the dataset holds: each
// value is shared by rows/benchGroups entries, which Fetch by data returns.
const benchGroups = 100_000

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("FLOWKV_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func benchKey(i int) string { return fmt.Sprintf("k%07d", i) }

func benchData(group int) string { return fmt.Sprintf(`{"group":%d,"status":"active"}`, group) }

var (
	benchMu       sync.Mutex
	benchDSNs     = map[string]string{}
	benchCleanups []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range benchCleanups {
		f()
	}
	os.Exit(code)
}

// benchDataset returns the DSN of the dataset for dialect, building it on
// first use in this run.
func benchDataset(b *testing.B, dialect string) string {
	benchMu.Lock()
	defer benchMu.Unlock()
	if dsn, ok := benchDSNs[dialect]; ok {
		return dsn
	}
	ctx := context.Background()
	rows := benchRows()
	start := time.Now()
	var dsn string
	switch dialect {
	case SQLite:
		// FLOWKV_BENCH_DIR keeps the SQLite dataset across runs (built when
		// absent); by default it lives in a temp dir removed at the end.
		dir := os.Getenv("FLOWKV_BENCH_DIR")
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "flowkv-bench-"); err != nil {
				b.Fatal(err)
			}
			benchCleanups = append(benchCleanups, func() { os.RemoveAll(dir) })
		}
		path := filepath.Join(dir, fmt.Sprintf("bench-%d.db", rows))
		dsn = "sqlite:" + path
		if _, err := os.Stat(path); err == nil {
			benchDSNs[dialect] = dsn
			return dsn
		}
		s, err := Open(ctx, dsn, Options{ReapInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := tx.PrepareContext(ctx, "INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', NULL, ?, ?)")
		if err != nil {
			b.Fatal(err)
		}
		now := micros(time.Now())
		for i := 0; i < rows; i++ {
			d := benchData(i % benchGroups)
			if _, err := ins.ExecContext(ctx, benchName, benchKey(i), d, store.DataHash([]byte(d)), i+1, now, now); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		// No ANALYZE: a user's database has no statistics either, and the
		// plans must be right without them.
		s.Close()
	case Postgres:
		base := testenv.PostgresBase()
		admin, err := sql.Open("pgx", base)
		if err == nil {
			err = admin.PingContext(ctx)
		}
		if err != nil {
			b.Skipf("PostgreSQL is not reachable: %v", err)
		}
		name := testenv.UniqueName("flowkv_bench_")
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			b.Fatal(err)
		}
		benchCleanups = append(benchCleanups, func() {
			admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			admin.Close()
		})
		u, _ := url.Parse(base)
		u.Path = "/" + name
		dsn = u.String()
		s, err := Open(ctx, dsn, Options{ReapInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		// Generated server-side; the hash is store.DataHash of the same
		// canonical text.
		_, err = s.w.ExecContext(ctx, `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
SELECT $1, 'k' || lpad(i::text, 7, '0'), d::jsonb, encode(sha256(convert_to(d, 'UTF8')), 'hex'), i + 1, '', NULL, $2, $2
FROM (SELECT i, '{"group":' || (i % $3) || ',"status":"active"}' AS d FROM generate_series(0, $4 - 1) AS i) g`,
			benchName, micros(time.Now()), benchGroups, rows)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, "SELECT setval('entry_version', $1)", rows+1); err != nil {
			b.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, "VACUUM ANALYZE entries"); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.Logf("built %d-entry %s dataset in %v", rows, dialect, time.Since(start).Round(time.Millisecond))
	benchDSNs[dialect] = dsn
	return dsn
}

// rawDBs opens database/sql handles configured like the store's (same
// driver parameters and pool sizes) for the raw side of each comparison.
func rawDBs(b *testing.B, s *Store, dsn string) (r, w *sql.DB) {
	if s.dialect == Postgres {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			b.Fatal(err)
		}
		n := max(8, 4*runtime.GOMAXPROCS(0))
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		b.Cleanup(func() { db.Close() })
		return db, db
	}
	path := dsn[len("sqlite:"):]
	w, err := sql.Open(sqliteWriterDriver, path+sqliteWriterParams)
	if err != nil {
		b.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r, err = sql.Open(sqliteDriver, path+sqliteReaderParams)
	if err != nil {
		b.Fatal(err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// The same background checkpointer as the store's.
	ck, err := sql.Open(sqliteDriver, path+sqliteCheckpointParams)
	if err != nil {
		b.Fatal(err)
	}
	ck.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { checkpointLoop(ctx, ck, checkpointInterval); close(done) }()
	b.Cleanup(func() { cancel(); <-done; ck.Close(); r.Close(); w.Close() })
	return r, w
}

type benchOp struct {
	name string
	api  func(ctx context.Context, rng *mrand.Rand) error
	raw  func(ctx context.Context, rng *mrand.Rand) error
}

func hashHex(d string) string {
	sum := sha256.Sum256([]byte(d))
	return hex.EncodeToString(sum[:])
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func benchOps(b *testing.B, s *Store, dsn string) []benchOp {
	rows := benchRows()
	rr, rw := rawDBs(b, s, dsn)
	prep := func(db *sql.DB, q string) *sql.Stmt {
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	rawGet := prep(rr, s.st.text[s.st.get])
	rawUpsert := prep(rw, s.st.text[s.st.fastUpsert])
	rawInsert := prep(rw, s.st.text[s.st.fastInsert])
	// PostgreSQL inserts and upserts run the locking transaction (see
	// write): the raw side runs the same statements.
	var rawLock, rawPlaceholder, rawPut *sql.Stmt
	if s.dialect == Postgres {
		rawLock = prep(rw, s.st.text[s.st.lockRow])
		rawPlaceholder = prep(rw, s.st.text[s.st.placeholder])
		rawPut = prep(rw, s.st.text[s.st.putNext])
	}
	rawPGWrite := func(ctx context.Context, insert bool, name, key, d string) error {
		tx, err := rw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var (
			data      []byte
			version   int64
			exp       sql.NullInt64
			created   int64
			now       = micros(time.Now())
			liveEntry bool
		)
		err = tx.Stmt(rawLock).QueryRowContext(ctx, name, key).Scan(&data, &version, &exp, &created)
		switch {
		case err == sql.ErrNoRows:
			if _, err := tx.Stmt(rawPlaceholder).ExecContext(ctx, name, key); err != nil {
				return err
			}
			created = now
		case err != nil:
			return err
		default:
			liveEntry = version > 0 && (!exp.Valid || exp.Int64 > now)
			if !liveEntry {
				created = now
			}
		}
		if insert && liveEntry {
			return fmt.Errorf("exists")
		}
		var v int64
		if err := tx.Stmt(rawPut).QueryRowContext(ctx, name, key, d, hashHex(d), "", nil, created, now).Scan(&v); err != nil {
			return err
		}
		return tx.Commit()
	}
	rawList := prep(rr, s.st.text[s.st.listAfter])
	rawNames := prep(rr, s.st.text[s.st.names])
	groups := min(benchGroups, rows)
	fetchQ := func(group int) store.FetchQuery {
		return store.FetchQuery{Name: benchName, Data: json.RawMessage(benchData(group % groups))}
	}
	fetchText, _, _, err := s.fetchSQL(fetchQ(0))
	if err != nil {
		b.Fatal(err)
	}
	rawFetch := prep(rr, fetchText)
	if s.dialect == SQLite {
		_, args, _, _ := s.fetchSQL(fetchQ(1))
		rs, err := rr.Query("EXPLAIN QUERY PLAN "+fetchText, args...)
		if err != nil {
			b.Fatal(err)
		}
		for rs.Next() {
			var id, parent, unused int
			var detail string
			if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
				b.Fatal(err)
			}
			b.Logf("fetch by data plan: %s", detail)
		}
		rs.Close()
	}
	depth := rows / 2
	cursor := store.EncodeCursor("l", benchName, benchKey(depth))
	var seq atomic.Int64
	id := runID()
	scanRows := func(rs *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rs.Close()
		var (
			name, key, flow  string
			data             []byte
			version          int64
			exp              sql.NullInt64
			created, updated int64
		)
		n := 0
		for rs.Next() {
			if err := rs.Scan(&name, &key, &data, &version, &flow, &exp, &created, &updated); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("no rows")
		}
		return rs.Err()
	}
	return []benchOp{
		{
			name: "FindNameKey",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				_, err := s.FindNameKey(ctx, benchName, benchKey(rng.IntN(rows)))
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				var (
					name, key, flow  string
					data             []byte
					version          int64
					exp              sql.NullInt64
					created, updated int64
				)
				return rawGet.QueryRowContext(ctx, benchName, benchKey(rng.IntN(rows)), micros(time.Now())).
					Scan(&name, &key, &data, &version, &flow, &exp, &created, &updated)
			},
		},
		{
			name: "Upsert",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				d := fmt.Sprintf(`{"group":%d,"status":"active","v":%d}`, rng.IntN(benchGroups), seq.Add(1))
				_, err := s.Upsert(ctx, benchName, benchKey(rng.IntN(rows)), json.RawMessage(d), store.WriteOptions{})
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				d := fmt.Sprintf(`{"group":%d,"status":"active","v":%d}`, rng.IntN(benchGroups), seq.Add(1))
				n := micros(time.Now())
				var v, c int64
				if s.dialect == Postgres {
					return rawPGWrite(ctx, false, benchName, benchKey(rng.IntN(rows)), d)
				}
				return rawUpsert.QueryRowContext(ctx, benchName, benchKey(rng.IntN(rows)), d, hashHex(d), "", nil, n, n).Scan(&v, &c)
			},
		},
		{
			name: "Insert",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				d := fmt.Sprintf(`{"group":%d,"status":"new"}`, rng.IntN(benchGroups))
				_, err := s.Insert(ctx, "bench-new", fmt.Sprintf("a-%s-%d", id, seq.Add(1)), json.RawMessage(d), store.WriteOptions{})
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				d := fmt.Sprintf(`{"group":%d,"status":"new"}`, rng.IntN(benchGroups))
				n := micros(time.Now())
				var v, c int64
				if s.dialect == Postgres {
					return rawPGWrite(ctx, true, "bench-new", fmt.Sprintf("r-%s-%d", id, seq.Add(1)), d)
				}
				return rawInsert.QueryRowContext(ctx, "bench-new", fmt.Sprintf("r-%s-%d", id, seq.Add(1)), d, hashHex(d), "", nil, n, n).Scan(&v, &c)
			},
		},
		{
			name: "FetchByData",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				p, err := s.Fetch(ctx, fetchQ(rng.IntN(benchGroups)))
				if err == nil && len(p.Entries) == 0 {
					err = fmt.Errorf("no rows")
				}
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				_, args, _, _ := s.fetchSQL(fetchQ(rng.IntN(benchGroups)))
				args[0] = micros(time.Now())
				return scanRows(rawFetch.QueryContext(ctx, args...))
			},
		},
		{
			name: "Names",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				ns, err := s.Names(ctx)
				if err == nil && len(ns) == 0 {
					err = fmt.Errorf("no names")
				}
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				rs, err := rawNames.QueryContext(ctx, micros(time.Now()))
				if err != nil {
					return err
				}
				defer rs.Close()
				for rs.Next() {
					var name string
					var n int64
					if err := rs.Scan(&name, &n); err != nil {
						return err
					}
				}
				return rs.Err()
			},
		},
		{
			name: "ListDeepCursor",
			api: func(ctx context.Context, rng *mrand.Rand) error {
				p, err := s.List(ctx, benchName, "", cursor, 100)
				if err == nil && len(p.Entries) != 100 {
					err = fmt.Errorf("page of %d", len(p.Entries))
				}
				return err
			},
			raw: func(ctx context.Context, rng *mrand.Rand) error {
				return scanRows(rawList.QueryContext(ctx, benchName, benchKey(depth), micros(time.Now()), 101))
			},
		},
	}
}

// runAB runs op.api and op.raw alternately (one goroutine: api, raw, api,
// raw, …; g goroutines: in four phases) and reports each side's median and p99 latency
// and api÷raw-% (raw p50 ÷ API p50: the API's speed as a share of raw's).
// Alternating keeps the two sides under the same conditions, which matters
// on a machine shared with other work; ns/op is not per call.
func runAB(b *testing.B, g int, op benchOp) {
	ctx := context.Background()
	var mu sync.Mutex
	var api, raw []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	worker := func(rng *mrand.Rand, next func() bool) error {
		var a, r []time.Duration
		defer func() {
			mu.Lock()
			api = append(api, a...)
			raw = append(raw, r...)
			mu.Unlock()
		}()
		for next() {
			t0 := time.Now()
			if err := op.api(ctx, rng); err != nil {
				return fmt.Errorf("api: %w", err)
			}
			t1 := time.Now()
			if err := op.raw(ctx, rng); err != nil {
				return fmt.Errorf("raw: %w", err)
			}
			a = append(a, t1.Sub(t0))
			r = append(r, time.Since(t1))
		}
		return nil
	}
	if g == 1 {
		i := 0
		if err := worker(mrand.New(mrand.NewPCG(1, 2)), func() bool { i++; return i <= b.N }); err != nil {
			b.Fatal(err)
		}
	} else {
		// Concurrent API and raw calls would contend for the database
		// (two SQLite writers on one file wait on each other's lock), so
		// with g goroutines the sides alternate in phases instead:
		// api, raw, api, raw.
		b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
		var seed atomic.Uint64
		for phase := 0; phase < 4; phase++ {
			f, into := op.api, &api
			if phase%2 == 1 {
				f, into = op.raw, &raw
			}
			b.RunParallel(func(pb *testing.PB) {
				rng := mrand.New(mrand.NewPCG(seed.Add(1), 7))
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if err := f(ctx, rng); err != nil {
						b.Error(err)
						break
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				*into = append(*into, mine...)
				mu.Unlock()
			})
		}
	}
	b.StopTimer()
	if len(api) == 0 {
		return
	}
	q := func(ds []time.Duration, p int) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)*p/100].Nanoseconds()) / 1e3
	}
	a50, r50 := q(api, 50), q(raw, 50)
	b.ReportMetric(a50, "api-p50-µs")
	b.ReportMetric(r50, "raw-p50-µs")
	b.ReportMetric(q(api, 99), "api-p99-µs")
	b.ReportMetric(q(raw, 99), "raw-p99-µs")
	b.ReportMetric(100*r50/a50, "api÷raw-%")
}

// runOp runs one function with one goroutine, reporting its median latency.
func runOp(b *testing.B, op func(ctx context.Context, rng *mrand.Rand) error) {
	ctx := context.Background()
	all := make([]time.Duration, 0, b.N)
	rng := mrand.New(mrand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := op(ctx, rng); err != nil {
			b.Fatal(err)
		}
		all = append(all, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, "p50-µs")
}

func benchDialect(b *testing.B, dialect string) {
	dsn := benchDataset(b, dialect)
	s, err := Open(context.Background(), dsn, Options{ReapInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	// Each run starts right after a checkpoint, so API and raw pay the same
	// first-touch costs (PostgreSQL writes a full page image to its WAL at
	// a page's first change after a checkpoint).
	checkpoint := func() {
		q := "CHECKPOINT"
		if dialect == SQLite {
			q = "PRAGMA wal_checkpoint(TRUNCATE)"
		}
		_, _ = s.w.ExecContext(context.Background(), q)
	}
	for _, op := range benchOps(b, s, dsn) {
		for _, g := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/g%d", op.name, g), func(b *testing.B) { checkpoint(); runAB(b, g, op) })
		}
	}
	// The reason cursors exist: the same deep page by OFFSET.
	b.Run("ListDeepOffset/raw/g1", func(b *testing.B) {
		depth := benchRows() / 2
		q := s.rebind("SELECT " + s.cols() + " FROM entries WHERE name = ? AND " + live + " ORDER BY key LIMIT 100 OFFSET ?")
		runOp(b, func(ctx context.Context, rng *mrand.Rand) error {
			rs, err := s.r.QueryContext(ctx, q, benchName, micros(time.Now()), depth)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
			}
			return rs.Err()
		})
	})
}

func BenchmarkSQLite(b *testing.B)   { benchDialect(b, SQLite) }
func BenchmarkPostgres(b *testing.B) { benchDialect(b, Postgres) }

// Group commit (issue 14), on for both dialects here: write throughput of
// many goroutines against raw database/sql running one transaction per
// write (the same statements: SQLite's single-statement upsert in
// autocommit mode, PostgreSQL's locking transaction), and the latency of a
// lone writer with and without group commit (a second Store on the same
// database with GroupCommitOff):
//
//	go test -run '^$' -bench 'Writers' -benchtime 2s ./store/sqlstore/
func benchWriters(b *testing.B, dialect string) {
	dsn := benchDataset(b, dialect)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{ReapInterval: -1, GroupCommit: GroupCommitOn})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s0, err := Open(ctx, dsn, Options{ReapInterval: -1, GroupCommit: GroupCommitOff})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s0.Close() })
	find := func(ops []benchOp, name string) benchOp {
		for _, op := range ops {
			if op.name == name {
				return op
			}
		}
		b.Fatalf("no %s benchmark op", name)
		return benchOp{}
	}
	ops, ops0 := benchOps(b, s, dsn), benchOps(b, s0, dsn)
	for _, name := range []string{"Upsert", "Insert"} {
		op := find(ops, name)
		b.Run(name+"/g32", func(b *testing.B) { runThroughput(b, s, 32, op) })
		// One goroutine: group commit on (the API) against off (raw here).
		b.Run(name+"/g1-batch-vs-not", func(b *testing.B) {
			runAB(b, 1, benchOp{name: name, api: op.api, raw: find(ops0, name).api})
		})
	}
}

// runThroughput runs op.api and op.raw with g goroutines in alternating
// phases (api, raw, api, raw, … throughputPairs pairs of b.N writes each
// side), reporting each side's writes per second over all its phases, the
// median of the pairs' api÷raw factors (adjacent phases see the same load
// on a shared machine) and the mean writes per group commit transaction.
func runThroughput(b *testing.B, s *Store, g int, op benchOp) {
	ctx := context.Background()
	var seed atomic.Uint64
	phase := func(f func(ctx context.Context, rng *mrand.Rand) error) time.Duration {
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		t0 := time.Now()
		for range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := mrand.New(mrand.NewPCG(seed.Add(1), 7))
				for left.Add(-1) >= 0 {
					if err := f(ctx, rng); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(t0)
	}
	var apiT, rawT time.Duration
	ratios := make([]float64, 0, throughputPairs)
	before := s.CommitStats()
	b.ResetTimer()
	for range throughputPairs {
		a, r := phase(op.api), phase(op.raw)
		apiT += a
		rawT += r
		ratios = append(ratios, r.Seconds()/a.Seconds())
	}
	b.StopTimer()
	after := s.CommitStats()
	n := float64(b.N * throughputPairs)
	slices.Sort(ratios)
	b.ReportMetric(n/apiT.Seconds(), "api-writes/s")
	b.ReportMetric(n/rawT.Seconds(), "raw-writes/s")
	b.ReportMetric(ratios[len(ratios)/2], "api÷raw-x")
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Batched-before.Batched)/float64(n), "writes/batch")
	}
}

// throughputPairs is how many api/raw phase pairs runThroughput alternates.
const throughputPairs = 10

func BenchmarkSQLiteWriters(b *testing.B)   { benchWriters(b, SQLite) }
func BenchmarkPostgresWriters(b *testing.B) { benchWriters(b, Postgres) }
