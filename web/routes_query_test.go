package web_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestQueryRoute is the issue's scenario over HTTP on SQLite: "the paid
// orders over 100, largest first", with and without a declared index.
func TestQueryRoute(t *testing.T) {
	querySmoke(t, newSQLite(t))
}

// querySmoke runs the search routes on a harness (every backend's smoke
// calls it).
func querySmoke(t *testing.T, h *harness) {
	t.Helper()
	tok := h.admin
	var want_ []string
	for i := range 113 {
		status := []string{"paid", "open", "void"}[i%3]
		total := (i * 37) % 250
		want(t, h.do("PUT", fmt.Sprintf("/v1/store/orders/q-%03d", i), tok, map[string]any{"data": map[string]any{"customer": fmt.Sprintf("c%d", i%7), "status": status, "total": total}}), 200, "")
		if status == "paid" && total > 100 {
			want_ = append(want_, fmt.Sprintf("%d/q-%03d", 1000-total, i))
		}
	}
	sort.Strings(want_) // largest total first, ties by key
	for i, w := range want_ {
		want_[i] = w[strings.IndexByte(w, '/')+1:]
	}
	body := map[string]any{
		"name":    "orders",
		"where":   []any{map[string]any{"field": "status", "op": "eq", "value": "paid"}, map[string]any{"field": "total", "op": "gt", "value": 100}},
		"orderBy": []any{map[string]any{"field": "total", "desc": true}},
		"count":   true,
		"limit":   4,
	}
	run := func(wantIndex string) {
		t.Helper()
		var keys []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("the query does not end")
			}
			b := map[string]any{}
			for k, v := range body {
				b[k] = v
			}
			if cursor != "" {
				b["cursor"] = cursor
			}
			r := h.do("POST", "/v1/query", tok, b)
			want(t, r, 200, "")
			m := r.JSON(t)
			if pages == 0 {
				if m["count"] != float64(len(want_)) || m["index"] != wantIndex {
					t.Fatalf("count %v index %v, want %d and %q: %s", m["count"], m["index"], len(want_), wantIndex, r.Body)
				}
			}
			for _, it := range m["items"].([]any) {
				keys = append(keys, it.(map[string]any)["key"].(string))
			}
			cursor, _ = m["nextCursor"].(string)
			if cursor == "" {
				break
			}
		}
		// Sorting 116 candidates needs no index (at most maxQueryScan).
		if !slices.Equal(keys, want_) {
			t.Fatalf("paid over 100, largest first: %v\nwant %v", keys, want_)
		}
	}
	run("")
	r := h.do("POST", "/v1/indexes", tok, map[string]any{"name": "orders", "field": "total"})
	want(t, r, 201, "")
	if m := r.JSON(t); m["field"] != "total" || m["state"] != "ready" {
		t.Fatalf("create index: %s", r.Body)
	}
	want(t, h.do("POST", "/v1/indexes", tok, map[string]any{"name": "orders", "field": `["total"]`}), 201, "")
	run("total")
	r = h.do("GET", "/v1/indexes?name=orders", tok, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["field"] != "total" {
		t.Fatalf("indexes: %s", r.Body)
	}
	r = h.do("GET", "/v1/names", tok, nil)
	if !strings.Contains(string(r.Body), `"indexes":["total"]`) {
		t.Fatalf("names without the index: %s", r.Body)
	}
	// "query" is a key like any other under /v1/store/{name}/.
	want(t, h.do("PUT", "/v1/store/orders/query", tok, map[string]any{"data": map[string]any{"status": "paid", "total": 1000}}), 200, "")
	r = h.do("POST", "/v1/query", tok, map[string]any{"name": "orders", "where": []any{map[string]any{"field": "total", "op": "gte", "value": 1000}}})
	if items := r.JSON(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["key"] != "query" {
		t.Fatalf("the entry keyed query: %s", r.Body)
	}
	r = h.do("DELETE", "/v1/indexes?name=orders&field=total", tok, nil)
	if want(t, r, 200, ""); r.JSON(t)["deleted"] != true {
		t.Fatalf("drop: %s", r.Body)
	}
	// Refused input: 400 with the code, and the server serves on.
	bad := []map[string]any{
		{"name": "orders", "where": []any{map[string]any{"field": "total", "op": "like", "value": 1}}},
		{"name": "orders", "where": []any{map[string]any{"field": "total", "op": "lt", "value": true}}},
		{"name": "orders", "where": []any{map[string]any{"field": "a..b", "op": "eq", "value": 1}}},
		{"name": "orders", "where": []any{map[string]any{"field": "total", "op": "eq", "value": 1, "extra": 1}}},
		{"name": "orders", "cursor": "forged"},
		{"name": "orders", "match": "most"},
		{"where": []any{}},
	}
	for _, b := range bad {
		want(t, h.do("POST", "/v1/query", tok, b), 400, "invalid_argument")
	}
	many := []any{}
	for range 50 {
		many = append(many, map[string]any{"field": "total", "op": "gte", "value": 0})
	}
	want(t, h.do("POST", "/v1/query", tok, map[string]any{"name": "orders", "where": many}), 413, "too_large")
	want(t, h.do("POST", "/v1/query", tok, map[string]any{"name": "orders", "where": []any{map[string]any{"field": "s", "op": "eq", "value": strings.Repeat("x", 5000)}}}), 413, "too_large")
	ro := h.token("orders:read")
	want(t, h.do("POST", "/v1/query", ro, map[string]any{"name": "orders"}), 200, "")
	want(t, h.do("POST", "/v1/indexes", ro, map[string]any{"name": "orders", "field": "status"}), 403, "access_denied")
	want(t, h.do("POST", "/v1/query", ro, map[string]any{"name": "secret"}), 403, "access_denied")
	want(t, h.do("GET", "/v1/store/orders/q-001", tok, nil), 200, "")
}
