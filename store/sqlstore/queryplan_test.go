package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// planQueries are the shapes a declared index must serve without a sort:
// each query's segments read the index on status or total.
var planQueries = []store.Query{
	{Name: "orders", Where: []store.Condition{{Field: "status", Op: store.OpEq, Value: []byte(`"paid"`)}}},
	{Name: "orders", Where: []store.Condition{{Field: "status", Op: store.OpEq, Value: []byte(`"paid"`)}, {Field: "total", Op: store.OpGt, Value: []byte(`10`)}}},
	{Name: "orders", Where: []store.Condition{{Field: "total", Op: store.OpGte, Value: []byte(`10`)}}, OrderBy: []store.Order{{Field: "total", Desc: true}}},
	{Name: "orders", OrderBy: []store.Order{{Field: "total"}}},
	{Name: "orders", Where: []store.Condition{{Field: "status", Op: store.OpIn, Value: []byte(`["paid", "open", true, null]`)}}},
	{Name: "orders", Where: []store.Condition{{Field: "status", Op: store.OpStartsWith, Value: []byte(`"pa"`)}}},
}

// segmentPlans explains every segment statement (and the count) of the
// plan queries after positioning them past a cursor.
// A plan may sort only where sorts says so (PostgreSQL sorts the few rows
// a bitmap scan returns when that costs less than an ordered scan).
func segmentPlans(t *testing.T, s *Store, sorts bool, explain func(q string, args []any) string) {
	t.Helper()
	ctx := context.Background()
	ready, err := queryBackend{s}.ReadyIndexes(ctx, "orders")
	if err != nil || len(ready) != 2 {
		t.Fatalf("ready indexes %v, %v", ready, err)
	}
	for _, q := range planQueries {
		pq, err := s.limits.PrepareQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		plan := store.PlanQuery(pq, ready)
		if plan.Index == "" || plan.FullSet {
			t.Fatalf("%+v: plan %+v is not served by an index", q, plan)
		}
		for _, seg := range plan.Segments {
			for _, after := range []bool{false, true} {
				if after {
					seg.After = &store.Position{Key: "k", Vals: []store.Value{store.StringValue("x")}}
					if seg.Rank == store.RankNumber {
						v, _ := store.NumberValue("5")
						seg.After.Vals[0] = v
					}
				}
				text, args, err := s.segmentSQL(pq, seg, 100)
				if err != nil {
					t.Fatal(err)
				}
				p := explain(text, args)
				if !strings.Contains(p, indexName("orders", plan.Index)) || (!sorts && (strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "Sort"))) || strings.Contains(p, "Seq Scan") {
					t.Errorf("%+v segment %+v: plan %q, want the index %s without a sort", q.Where, seg, p, indexName("orders", plan.Index))
				}
			}
		}
		if plan.Narrowed {
			text, args := s.countSQL(pq, plan)
			if p := explain(text, args); !strings.Contains(p, indexName("orders", plan.Index)) || strings.Contains(p, "Seq Scan") {
				t.Errorf("%+v count: plan %q", q.Where, p)
			}
		}
	}
}

func TestSQLiteQueryPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.SQLiteDSN(t), Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []string{"status", "total"} {
		if _, err := s.CreateIndex(ctx, "orders", f); err != nil {
			t.Fatal(err)
		}
	}
	explain := func(q string, args []any) string {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	segmentPlans(t, s, false, explain)
	// An eq is an equality on the index (not the range of every string,
	// which SQLite would pick from two lower bounds), after a cursor too.
	pq, _ := s.limits.PrepareQuery(planQueries[0])
	seg := store.PlanQuery(pq, []string{"status", "total"}).Segments[0]
	for _, after := range []*store.Position{nil, {Key: "k", Vals: []store.Value{store.StringValue("paid")}}} {
		seg.After = after
		text, args, _ := s.segmentSQL(pq, seg, 10)
		if p := explain(text, args); !strings.Contains(p, "(<expr>=?") {
			t.Errorf("eq segment (after %v): plan %q, want an equality on the index", after, p)
		}
	}
	// A range with a cursor continues from the cursor, not from the bound.
	pq, _ = s.limits.PrepareQuery(planQueries[2])
	seg = store.PlanQuery(pq, []string{"status", "total"}).Segments[0]
	v, _ := store.NumberValue("50")
	seg.After = &store.Position{Key: "k", Vals: []store.Value{v}}
	text, args, _ := s.segmentSQL(pq, seg, 10)
	if p := explain(text, args); !strings.Contains(p, "(<expr>>?") && !strings.Contains(p, "(<expr><?") {
		t.Errorf("range after a cursor: plan %q", p)
	}
}

// PostgreSQL picks the namespace's expression indexes by itself (with
// statistics of a namespace that is not tiny).
func TestPostgresQueryPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.PostgresDSN(t), Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var vals []string
	for i := range 5000 {
		vals = append(vals, fmt.Sprintf(`('orders', 'k%05d', '{"status":"%s","total":%d}', '', %d, '', NULL, 0, 0)`, i, []string{"paid", "open", "void", "new"}[i%4], i%500, i+1))
	}
	if _, err := s.w.ExecContext(ctx, "INSERT INTO entries (name, key, data, data_hash, version, flow_uuid, expires_at, created_at, updated_at) VALUES "+strings.Join(vals, ",")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"status", "total"} {
		if _, err := s.CreateIndex(ctx, "orders", f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "ANALYZE entries"); err != nil {
		t.Fatal(err)
	}
	segmentPlans(t, s, true, func(q string, args []any) string {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.TrimSpace(line))
		}
		return strings.Join(out, "; ")
	})
}
