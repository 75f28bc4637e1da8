package sqlstore

// Search-by-field benchmarks (issue 12): store.Query against raw
// database/sql running the very statement the store runs, on a namespace
// of FLOWKV_BENCH_ROWS entries (default 1,000,000)
// {"customer":"c000123","bucket":3,"total":1234,"status":"paid"} with
// declared indexes on customer (10 entries per value), bucket (rows/10 per
// value) and total (unique):
//
//	FLOWKV_BENCH_DIR=.cache/bench go test -run '^$' -bench Query -benchtime 2s ./store/sqlstore/
//
// FLOWKV_BENCH_DIR keeps the SQLite dataset; FLOWKV_BENCH_KEEP=1 keeps the
// PostgreSQL database flowkv_bench_query_ROWS for the next run.

import (
	"context"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

const queryBenchName = "benchq"

var queryBenchFields = []string{"customer", "bucket", "total"}

// queryDataset returns the DSN of the search dataset, building it when
// absent.
func queryDataset(b *testing.B, dialect string) string {
	benchMu.Lock()
	defer benchMu.Unlock()
	if dsn, ok := benchDSNs["q"+dialect]; ok {
		return dsn
	}
	ctx := context.Background()
	rows := benchRows()
	start := time.Now()
	var dsn string
	insert := ""
	switch dialect {
	case SQLite:
		dir := os.Getenv("FLOWKV_BENCH_DIR")
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "flowkv-qbench-"); err != nil {
				b.Fatal(err)
			}
			benchCleanups = append(benchCleanups, func() { os.RemoveAll(dir) })
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		dsn = "sqlite:" + filepath.Join(dir, fmt.Sprintf("query-%d.db", rows))
		insert = `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?)
INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
SELECT ?, printf('k%07d', i), printf('{"bucket":%d,"customer":"c%06d","status":"%s","total":%d}', i % 10, i / 10, CASE WHEN i % 2 = 0 THEN 'paid' ELSE 'open' END, i), '', i + 1, '', NULL, ?, ? FROM g`
	case Postgres:
		base := testenv.PostgresBase()
		admin, err := sql.Open("pgx", base)
		if err == nil {
			err = admin.PingContext(ctx)
		}
		if err != nil {
			b.Skipf("PostgreSQL is not reachable: %v", err)
		}
		name := fmt.Sprintf("flowkv_bench_query_%d", rows)
		var exists bool
		if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			b.Fatal(err)
		}
		if !exists {
			if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
				b.Fatal(err)
			}
		}
		if os.Getenv("FLOWKV_BENCH_KEEP") == "" {
			benchCleanups = append(benchCleanups, func() {
				admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				admin.Close()
			})
		}
		u, _ := url.Parse(base)
		u.Path = "/" + name
		dsn = u.String()
		insert = `INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at)
SELECT $2, 'k' || lpad(i::text, 7, '0'), jsonb_build_object('bucket', i % 10, 'customer', 'c' || lpad((i / 10)::text, 6, '0'), 'status', CASE WHEN i % 2 = 0 THEN 'paid' ELSE 'open' END, 'total', i), '', i + 1, '', NULL, $3, $4
FROM generate_series(0, $1 - 1) AS i`
	}
	s, err := Open(ctx, dsn, Options{ReapInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var have int64
	if err := s.w.QueryRowContext(ctx, s.rebind("SELECT count(*) FROM entries WHERE name = ?"), queryBenchName).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have != int64(rows) {
		if _, err := s.w.ExecContext(ctx, s.rebind("DELETE FROM entries WHERE name = ?"), queryBenchName); err != nil {
			b.Fatal(err)
		}
		now := micros(time.Now())
		if _, err := s.w.ExecContext(ctx, insert, rows, queryBenchName, now, now); err != nil {
			b.Fatal(err)
		}
		if dialect == Postgres {
			if _, err := s.w.ExecContext(ctx, "SELECT setval('entry_version', $1)", rows+1); err != nil {
				b.Fatal(err)
			}
		} else if _, err := s.w.ExecContext(ctx, "UPDATE version_counter SET value = max(value, ?) WHERE id = 1", rows+1); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d entries into %s in %v", rows, dialect, time.Since(start).Round(time.Millisecond))
	}
	for _, f := range queryBenchFields {
		t0 := time.Now()
		ix, err := s.CreateIndex(ctx, queryBenchName, f)
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(t0); d > time.Second {
			b.Logf("built the index on %s (%s) in %v", f, ix.State, d.Round(time.Millisecond))
		}
	}
	if dialect == Postgres {
		if _, err := s.w.ExecContext(ctx, "VACUUM ANALYZE entries"); err != nil {
			b.Fatal(err)
		}
	}
	benchDSNs["q"+dialect] = dsn
	return dsn
}

func BenchmarkQuerySQLite(b *testing.B)   { benchQuery(b, SQLite) }
func BenchmarkQueryPostgres(b *testing.B) { benchQuery(b, Postgres) }

func benchQuery(b *testing.B, dialect string) {
	dsn := queryDataset(b, dialect)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{ReapInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rr, _ := rawDBs(b, s, dsn)
	rows := benchRows()
	eq := func(field string, v any) store.Condition {
		j := fmt.Sprint(v)
		if s, ok := v.(string); ok {
			j = fmt.Sprintf("%q", s)
		}
		return store.Condition{Field: field, Op: store.OpEq, Value: []byte(j)}
	}
	// raw runs the statement of the query's first segment (and the count)
	// on its own connection pool, without the store's planning.
	raw := func(q store.Query, count bool) func(ctx context.Context) error {
		pq, err := s.limits.PrepareQuery(q)
		if err != nil {
			b.Fatal(err)
		}
		ready, err := queryBackend{s}.ReadyIndexes(ctx, q.Name)
		if err != nil {
			b.Fatal(err)
		}
		plan := store.PlanQuery(pq, ready)
		seg := plan.Segments[0]
		if pq.After != nil {
			seg.After = pq.After
		}
		n := min(pq.Limit+1, pq.Scan)
		if seg.Field == "" {
			n = pq.Scan // a page no index serves examines up to the bound
		}
		text, args, err := s.segmentSQL(pq, seg, n)
		if err != nil {
			b.Fatal(err)
		}
		st, err := rr.Prepare(text)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		var cst *sql.Stmt
		var cargs []any
		if count {
			ct, ca := s.countSQL(pq, plan)
			if cst, err = rr.Prepare(ct); err != nil {
				b.Fatal(err)
			}
			cargs = ca
			b.Cleanup(func() { cst.Close() })
		}
		return func(ctx context.Context) error {
			if cst != nil {
				var n int64
				if err := cst.QueryRowContext(ctx, cargs...).Scan(&n); err != nil {
					return err
				}
			}
			rs, err := st.QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			cols, err := rs.Columns()
			if err != nil {
				return err
			}
			dest := make([]any, len(cols))
			for i := range dest {
				dest[i] = new(any)
			}
			for rs.Next() {
				if err := rs.Scan(dest...); err != nil {
					return err
				}
			}
			return rs.Err()
		}
	}
	check := func(q store.Query, want int) {
		p, err := s.Query(ctx, q)
		if err != nil || len(p.Entries) != want {
			b.Fatalf("%+v: %d entries, %v; want %d", q.Where, len(p.Entries), err, want)
		}
	}

	b.Run("eq-10-entries", func(b *testing.B) {
		q := func(rng *mrand.Rand) store.Query {
			return store.Query{Name: queryBenchName, Where: []store.Condition{eq("customer", fmt.Sprintf("c%06d", rng.IntN(rows/10)))}}
		}
		check(q(mrand.New(mrand.NewPCG(1, 1))), 10)
		// The raw side runs a fixed customer's statement (the plan is the
		// same for every value).
		rawFn := raw(q(mrand.New(mrand.NewPCG(1, 1))), false)
		runAB(b, 1, benchOp{name: "eq",
			api: func(ctx context.Context, rng *mrand.Rand) error { _, err := s.Query(ctx, q(rng)); return err },
			raw: func(ctx context.Context, _ *mrand.Rand) error { return rawFn(ctx) }})
	})
	b.Run("range-orderBy-page-50-at-depth-100000", func(b *testing.B) {
		q := store.Query{Name: queryBenchName, Where: []store.Condition{{Field: "total", Op: store.OpGte, Value: []byte("0")}}, OrderBy: []store.Order{{Field: "total", Desc: true}}, Limit: 1000}
		depth := min(100_000, rows/2)
		for got := 0; got < depth; got += 1000 {
			p, err := s.Query(ctx, q)
			if err != nil || p.NextCursor == "" {
				b.Fatalf("paging to depth %d: %v", got, err)
			}
			q.Cursor = p.NextCursor
		}
		q.Limit = 50
		p, err := s.Query(ctx, q)
		if err != nil || len(p.Entries) != 50 || string(p.Entries[0].Data) == "" {
			b.Fatalf("page at depth: %v", err)
		}
		rawFn := raw(q, false)
		runAB(b, 1, benchOp{name: "range",
			api: func(ctx context.Context, _ *mrand.Rand) error { _, err := s.Query(ctx, q); return err },
			raw: func(ctx context.Context, _ *mrand.Rand) error { return rawFn(ctx) }})
	})
	b.Run("unindexed-page-examines-1000", func(b *testing.B) {
		q := store.Query{Name: queryBenchName, Where: []store.Condition{eq("status", "none")}}
		p, err := s.Query(ctx, q)
		if err != nil || len(p.Entries) != 0 || p.NextCursor == "" {
			b.Fatalf("unindexed page: %d entries, cursor %q, %v", len(p.Entries), p.NextCursor, err)
		}
		rawFn := raw(q, false)
		runAB(b, 1, benchOp{name: "unindexed",
			api: func(ctx context.Context, _ *mrand.Rand) error { _, err := s.Query(ctx, q); return err },
			raw: func(ctx context.Context, _ *mrand.Rand) error { return rawFn(ctx) }})
	})
	b.Run("count-100000-matches", func(b *testing.B) {
		q := store.Query{Name: queryBenchName, Where: []store.Condition{eq("bucket", 3)}, Count: true, Limit: 1}
		p, err := s.Query(ctx, q)
		if err != nil || p.Count == nil || *p.Count != int64(rows/10) {
			b.Fatalf("count: %v %v", p.Count, err)
		}
		rawFn := raw(q, true)
		runAB(b, 1, benchOp{name: "count",
			api: func(ctx context.Context, _ *mrand.Rand) error { _, err := s.Query(ctx, q); return err },
			raw: func(ctx context.Context, _ *mrand.Rand) error { return rawFn(ctx) }})
	})
	_ = check
}
