package datastore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/datastore"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// backends runs fn on SQLite and PostgreSQL (skipped locally when absent,
// failing under CI).
func backends(t *testing.T, fn func(t *testing.T, e *blocks.Engine, st store.Store)) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlstore.Open(context.Background(), dsn(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, blocks.NewEngine(st, blocks.Options{}), st)
		})
	}
}

// step runs a one-block flow with the given block fields and input.
func step(t *testing.T, e *blocks.Engine, fields map[string]any, input string) *blocks.Run {
	t.Helper()
	b := map[string]any{"id": "op", "type": "dataStore"}
	for k, v := range fields {
		b[k] = v
	}
	doc, _ := json.Marshal(map[string]any{"id": "ds", "dataStores": []string{"orders", "other"}, "blocks": []any{b}})
	r, err := e.RunDocument(context.Background(), doc, blocks.RunRequest{Input: json.RawMessage(input)})
	if err != nil {
		t.Fatalf("%v: %v", fields, err)
	}
	return r
}

func okOut(t *testing.T, r *blocks.Run) any {
	t.Helper()
	if r.Status != blocks.StatusSucceeded {
		t.Fatalf("run failed: %+v", r.Error)
	}
	var v any
	_ = json.Unmarshal(r.Output, &v)
	return v
}

func TestOperations(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *blocks.Engine, st store.Store) {
		flowUUID := blocks.FileFlowUUID("ds")
		for i := range 5 {
			okOut(t, step(t, e, map[string]any{"operation": "insert", "name": "orders", "key": fmt.Sprintf("o-%d", i), "data": map[string]any{"n": i, "kind": "order"}}, "null"))
		}
		if _, err := st.Upsert(context.Background(), "orders", "z-api", json.RawMessage(`{"n":1,"kind":"order"}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		okOut(t, step(t, e, map[string]any{"operation": "upsert", "name": "other", "key": "x", "data": "{{ input }}"}, `{"n":1,"kind":"order"}`))

		// findName pages in key order.
		page := okOut(t, step(t, e, map[string]any{"operation": "findName", "name": "orders", "limit": 2, "offset": "{{ input.offset }}"}, `{"offset":2}`)).([]any)
		if len(page) != 2 || page[0].(map[string]any)["key"] != "o-2" || page[1].(map[string]any)["key"] != "o-3" {
			t.Errorf("findName page %v", page)
		}
		// fetch filters: flowUuid, data (exact, key order insensitive), keyPrefix, name.
		items := func(fields map[string]any) []string {
			t.Helper()
			fields["operation"] = "fetch"
			out := okOut(t, step(t, e, fields, "null")).(map[string]any)
			var keys []string
			for _, it := range out["items"].([]any) {
				m := it.(map[string]any)
				keys = append(keys, m["name"].(string)+"/"+m["key"].(string))
			}
			sort.Strings(keys)
			return keys
		}
		if got := items(map[string]any{"flowUuid": flowUUID, "name": "orders"}); len(got) != 5 {
			t.Errorf("fetch by flowUuid: %v", got)
		}
		if got := items(map[string]any{"data": map[string]any{"kind": "order", "n": 1}}); fmt.Sprint(got) != "[orders/o-1 orders/z-api other/x]" {
			t.Errorf("fetch by data: %v", got)
		}
		if got := items(map[string]any{"keyPrefix": "o-", "limit": 3}); len(got) != 3 {
			t.Errorf("fetch by prefix, limit 3: %v", got)
		}
		// findNameKey, updateOneNameKey, deleteOneNameKey.
		got := okOut(t, step(t, e, map[string]any{"operation": "findNameKey", "name": "orders", "key": "o-4"}, "null")).(map[string]any)
		if got["flowUuid"] != flowUUID || got["data"].(map[string]any)["n"] != 4.0 {
			t.Errorf("findNameKey %v", got)
		}
		upd := okOut(t, step(t, e, map[string]any{"operation": "updateOneNameKey", "name": "orders", "key": "o-4", "data": 44, "timeoutUnit": "seconds", "timeoutValue": 90}, "null")).(map[string]any)
		if upd["data"] != 44.0 || upd["expiresAt"] == nil {
			t.Errorf("update %v", upd)
		}
		r := step(t, e, map[string]any{"operation": "updateOneNameKey", "name": "orders", "key": "nope", "data": 1}, "null")
		if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeNotFound {
			t.Errorf("update missing: %+v", r.Error)
		}
		if okOut(t, step(t, e, map[string]any{"operation": "updateOneNameKey", "name": "orders", "key": "nope", "data": 1, "onError": "continue"}, "null")) != nil {
			t.Error("update missing with continue: want null")
		}
		for _, want := range []bool{true, false} {
			out := okOut(t, step(t, e, map[string]any{"operation": "deleteOneNameKey", "name": "orders", "key": "o-0"}, "null")).(map[string]any)
			if out["deleted"] != want {
				t.Errorf("delete: %v, want deleted %v", out, want)
			}
		}
		// TTL fields.
		r = step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": "t", "data": 1, "timeoutUnit": "{{ input.u }}", "timeoutValue": 1}, `{"u":"fortnights"}`)
		if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument {
			t.Errorf("bad timeoutUnit: %+v", r.Error)
		}
		r = step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": "t", "data": 1, "timeoutUnit": "hours", "timeoutValue": "{{ input.h }}"}, `{"h":-1}`)
		if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument {
			t.Errorf("negative timeoutValue: %+v", r.Error)
		}
	})
}

func TestAtomicIncrementIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *blocks.Engine, st store.Store) {
		const n = 20
		var wg sync.WaitGroup
		values := make([]float64, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := step(t, e, map[string]any{"operation": "atomicIncrement", "name": "orders", "key": "hits", "data": 2.5}, "null")
				if r.Status != blocks.StatusSucceeded {
					t.Errorf("increment failed: %+v", r.Error)
					return
				}
				var out struct{ Value float64 }
				_ = json.Unmarshal(r.Output, &out)
				values[i] = out.Value
			}()
		}
		wg.Wait()
		sort.Float64s(values)
		for i, v := range values {
			if v != 2.5*float64(i+1) {
				t.Fatalf("increment values %v: each run must see its own sum", values)
			}
		}
		ent, err := st.FindNameKey(context.Background(), "orders", "hits")
		if err != nil || string(ent.Data) != "50" {
			t.Errorf("final counter %s %v", ent.Data, err)
		}
		if _, err := st.Upsert(context.Background(), "orders", "text", json.RawMessage(`"abc"`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := step(t, e, map[string]any{"operation": "atomicIncrement", "name": "orders", "key": "text"}, "null")
		if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument {
			t.Errorf("increment of text: %+v", r.Error)
		}
	})
}

// TestSearch: the Search operation finds "the paid orders over 100, largest
// first" from conditions given as rows, with templates in values.
func TestSearch(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *blocks.Engine, st store.Store) {
		ctx := context.Background()
		for i, row := range [][2]any{{"paid", 250}, {"open", 500}, {"paid", 120}, {"paid", 90}, {"paid", 130}, {"void", 130}} {
			if _, err := st.Upsert(ctx, "orders", fmt.Sprintf("o-%d", i), json.RawMessage(fmt.Sprintf(`{"status":%q,"total":%d}`, row[0], row[1])), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		search := map[string]any{
			"operation": "search", "name": "orders",
			"where": []any{
				map[string]any{"field": "status", "op": "eq", "value": "paid"},
				map[string]any{"field": "total", "op": "gt", "value": "{{ input.min }}"},
			},
			"orderBy": "-total", "count": true, "limit": 2,
		}
		out := okOut(t, step(t, e, search, `{"min": 100}`)).(map[string]any)
		keys := func(m map[string]any) []string {
			var ks []string
			for _, it := range m["items"].([]any) {
				ks = append(ks, it.(map[string]any)["key"].(string))
			}
			return ks
		}
		if got := keys(out); fmt.Sprint(got) != "[o-0 o-4]" || out["count"] != float64(3) || out["nextCursor"] == "" {
			t.Fatalf("first page: %v count %v next %v", got, out["count"], out["nextCursor"])
		}
		search["cursor"] = out["nextCursor"]
		out = okOut(t, step(t, e, search, `{"min": 100}`)).(map[string]any)
		if got := keys(out); fmt.Sprint(got) != "[o-2]" || out["nextCursor"] != "" {
			t.Fatalf("second page: %v next %v", got, out["nextCursor"])
		}
		// match any, and a type that does not match ("100" is a string).
		out = okOut(t, step(t, e, map[string]any{"operation": "search", "name": "orders", "match": "any",
			"where": []any{map[string]any{"field": "status", "op": "eq", "value": "void"}, map[string]any{"field": "total", "op": "gte", "value": "500"}}}, "null")).(map[string]any)
		if got := keys(out); fmt.Sprint(got) != "[o-5]" {
			t.Fatalf("match any: %v", got)
		}
		// A condition the store refuses fails the run with its code.
		r := step(t, e, map[string]any{"operation": "search", "name": "orders", "where": []any{map[string]any{"field": "total", "op": "lt", "value": "{{ input.flag }}"}}}, `{"flag": true}`)
		if r.Status == blocks.StatusSucceeded || r.Error == nil || r.Error.Code != store.CodeInvalidArgument {
			t.Fatalf("lt true: %+v", r.Error)
		}
	})
}

// The spec refuses bad condition rows when the flow is saved.
func TestSearchValidation(t *testing.T) {
	t.Parallel()
	for _, where := range []any{
		"status=paid",
		[]any{map[string]any{"field": "status", "op": "like", "value": 1}},
		[]any{map[string]any{"op": "eq", "value": 1}},
		[]any{map[string]any{"field": "status", "op": "eq"}},
		[]any{map[string]any{"field": "status", "op": "eq", "value": 1, "extra": true}},
		[]any{"status"},
	} {
		doc, _ := json.Marshal(map[string]any{"id": "v", "dataStores": []string{"orders"}, "blocks": []any{
			map[string]any{"id": "s", "type": "dataStore", "operation": "search", "name": "orders", "where": where},
		}})
		f, err := blocks.ParseFlow(doc)
		if err == nil {
			err = blocks.Validate(f)
		}
		var ve *blocks.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 || ve.Problems[0].Field != "where" {
			t.Errorf("where %v: %v, want a problem on field where", where, err)
		}
	}
}

// TestDenoKeys: a key given as text holding a JSON array, or a template that
// evaluates to an array,
// is the Deno KV key a Deno client reads (store.TupleKey of its parts),
// templates inside the parts included; a flat key that only looks like an
// array stays flat.
func TestDenoKeys(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *blocks.Engine, st store.Store) {
		ctx := context.Background()
		deno := func(parts ...any) string {
			b, err := store.PackTuple(parts)
			if err != nil {
				t.Fatal(err)
			}
			return store.TupleKey(b)
		}
		okOut(t, step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": `["orders", "{{ input.id }}"]`, "data": "{{ input }}"}, `{"id":"o-1","total":3}`))
		got, err := st.FindNameKey(ctx, "orders", deno("orders", "o-1"))
		if err != nil || string(got.Data) != `{"id":"o-1","total":3}` {
			t.Fatalf("array key: %v %s", err, got.Data)
		}
		out := okOut(t, step(t, e, map[string]any{"operation": "findNameKey", "name": "orders", "key": `["orders", "o-1"]`}, `{}`))
		if m, _ := out.(map[string]any); m["version"] == nil {
			t.Fatalf("text JSON-array key: %v", out)
		}
		// A template that evaluates to an array (the input's key) is a Deno key too.
		okOut(t, step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": "{{ input.key }}", "data": `1`}, `{"key":["orders",2,true]}`))
		if _, err := st.FindNameKey(ctx, "orders", deno("orders", 2.0, true)); err != nil {
			t.Fatalf("number and boolean parts: %v", err)
		}
		out = okOut(t, step(t, e, map[string]any{"operation": "fetch", "name": "orders", "keyPrefix": `["orders"]`}, `{}`))
		if items := out.(map[string]any)["items"].([]any); len(items) != 2 {
			t.Fatalf("prefix [\"orders\"]: %v", out)
		}
		okOut(t, step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": "[draft]", "data": `1`}, `{}`))
		if _, err := st.FindNameKey(ctx, "orders", "[draft]"); err != nil {
			t.Fatalf("a flat key that looks like an array: %v", err)
		}
		r := step(t, e, map[string]any{"operation": "upsert", "name": "orders", "key": "{{ input.key }}", "data": `1`}, `{"key":[{"x":1}]}`)
		if r.Status == blocks.StatusSucceeded || r.Error == nil || r.Error.Code != store.CodeInvalidArgument {
			t.Fatalf("a bad Deno key part: %+v", r.Error)
		}
	})
}
