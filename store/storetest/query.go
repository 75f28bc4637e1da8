package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// RunQuery runs the search-by-field cases (store.Store.Query and the
// declared indexes). Run runs them too.
func RunQuery(t *testing.T, open Opener) {
	t.Run("QueryConditions", func(t *testing.T) { t.Parallel(); testQueryConditions(t, open, false) })
	t.Run("QueryConditionsIndexed", func(t *testing.T) { t.Parallel(); testQueryConditions(t, open, true) })
	t.Run("QueryValidation", func(t *testing.T) { t.Parallel(); testQueryValidation(t, open) })
	t.Run("QueryBounded", func(t *testing.T) { t.Parallel(); testQueryBounded(t, open) })
	t.Run("QueryPagingConcurrent", func(t *testing.T) { t.Parallel(); testQueryPagingConcurrent(t, open, false) })
	t.Run("QueryPagingConcurrentIndexed", func(t *testing.T) { t.Parallel(); testQueryPagingConcurrent(t, open, true) })
	t.Run("QueryTTL", func(t *testing.T) { t.Parallel(); testQueryTTL(t, open) })
	t.Run("QueryGrants", func(t *testing.T) { t.Parallel(); testQueryGrants(t, open) })
	t.Run("Indexes", func(t *testing.T) { t.Parallel(); testIndexes(t, open) })
}

// queryData is the namespace every condition case searches: numbers,
// strings, booleans, null, nested objects and arrays, values of mixed
// types under one field, missing fields, a value that is not an object.
var queryData = map[string]string{
	"a": `{"n":1,"s":"apple","b":true,"z":null,"o":{"x":1,"y":[1,2]},"arr":[1,"two",{"k":"v"},null,true],"big":9007199254740993,"u":"z","mixed":1,"dot":{"a.b":"dotted"},"0":"zero-key","list":[{"sku":"A1"},{"sku":"B2"}]}`,
	"b": `{"n":2,"s":"banana","b":false,"arr":[],"big":9007199254740992,"u":"é","mixed":"1","list":[{"sku":"B2"}]}`,
	"c": `{"n":10,"s":"cherry","b":"true","z":0,"o":{"y":[1,2],"x":1},"arr":"two","big":9007199254740994,"u":"𝄞","mixed":true}`,
	"d": `{"n":-3,"s":"Apple","o":{"x":2},"mixed":null,"u":"\uFFFD"}`,
	"e": `{"n":"10","s":"","mixed":[1],"u":"Z"}`,
	"f": `5`,
	"g": `{"n":2.5,"s":"apple pie","mixed":{"a":1},"o":[1]}`,
	"h": `{}`,
}

// queryIndexed are the fields the indexed run declares indexes on.
var queryIndexed = []string{"n", "s", "b", "z", "o", "o.x", "arr", "big", "u", "mixed", `["0"]`, "list.0.sku"}

func cond(field string, op store.Operator, value string) store.Condition {
	c := store.Condition{Field: field, Op: op}
	if value != "" {
		c.Value = raw(value)
	}
	return c
}

// queryAll pages through q (limit per page) and returns every entry's key
// in answer order, the count of the first page, and the number of pages.
func queryAll(t *testing.T, s store.Store, q store.Query, limit int) (keys []string, count *int64, pages int) {
	t.Helper()
	q.Limit = limit
	seen := map[string]bool{}
	for {
		p, err := s.Query(ctx(t), q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		pages++
		if pages == 1 {
			count = p.Count
		}
		if len(p.Entries) > max(limit, store.DefaultLimit) {
			t.Fatalf("page of %d entries for limit %d", len(p.Entries), limit)
		}
		for _, e := range p.Entries {
			if seen[e.Key] {
				t.Fatalf("query %+v returned %s twice", q, e.Key)
			}
			seen[e.Key] = true
			keys = append(keys, e.Key)
		}
		if p.NextCursor == "" {
			return keys, count, pages
		}
		if pages > 10000 {
			t.Fatalf("query %+v does not end", q)
		}
		q.Cursor = p.NextCursor
	}
}

func testQueryConditions(t *testing.T, open Opener, indexed bool) {
	s := open(t, store.Limits{MaxIndexesPerName: len(queryIndexed)})
	c := ctx(t)
	// The indexed run spreads the indexes over copies of the namespace, as
	// many as the store's MaxIndexesPerName needs; each case reads the
	// copy that indexes its first field.
	nsOf := map[string]string{}
	names := []string{"q"}
	if indexed {
		per := s.Limits().MaxIndexesPerName
		for i, f := range queryIndexed {
			n := fmt.Sprintf("q%d", i/per)
			if i%per == 0 && i > 0 {
				names = append(names, n)
			}
			fc, err := store.ValidateIndexField(f)
			if err != nil {
				t.Fatal(err)
			}
			nsOf[fc] = n
		}
		names[0] = "q0"
	}
	ns := func(where []store.Condition, order []store.Order) string {
		f := ""
		switch {
		case len(order) > 0:
			f = order[0].Field
		case len(where) > 0:
			f = where[0].Field
		}
		if fc, err := store.ValidateIndexField(f); err == nil && nsOf[fc] != "" {
			return nsOf[fc]
		}
		return names[0]
	}
	for k, d := range queryData {
		for _, n := range names {
			must(s.Insert(c, n, k, raw(d), store.WriteOptions{}))(t)
		}
		// Another namespace with the same data: queries never leave theirs.
		must(s.Insert(c, "other", k, raw(d), store.WriteOptions{}))(t)
	}
	if indexed {
		for _, f := range queryIndexed {
			fc, _ := store.ValidateIndexField(f)
			must(s.CreateIndex(c, nsOf[fc], f))(t)
		}
	}
	all := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	cases := []struct {
		what  string
		where []store.Condition
		any   bool
		want  []string
	}{
		{"number eq", []store.Condition{cond("n", store.OpEq, `1`)}, false, []string{"a"}},
		{"number eq is not the string", []store.Condition{cond("n", store.OpEq, `10`)}, false, []string{"c"}},
		{"number eq as 1.0e1", []store.Condition{cond("n", store.OpEq, `1.0e1`)}, false, []string{"c"}},
		{"string eq is not the number", []store.Condition{cond("n", store.OpEq, `"10"`)}, false, []string{"e"}},
		{"number ne skips other types and missing", []store.Condition{cond("n", store.OpNe, `1`)}, false, []string{"b", "c", "d", "g"}},
		{"number lt", []store.Condition{cond("n", store.OpLt, `2`)}, false, []string{"a", "d"}},
		{"number lte", []store.Condition{cond("n", store.OpLte, `2`)}, false, []string{"a", "b", "d"}},
		{"number gt", []store.Condition{cond("n", store.OpGt, `2`)}, false, []string{"c", "g"}},
		{"number gte fraction", []store.Condition{cond("n", store.OpGte, `2.5`)}, false, []string{"c", "g"}},
		{"number range", []store.Condition{cond("n", store.OpGt, `0`), cond("n", store.OpLt, `3`)}, false, []string{"a", "b", "g"}},
		{"string lt on a mixed field", []store.Condition{cond("n", store.OpLt, `"z"`)}, false, []string{"e"}},
		{"string eq", []store.Condition{cond("s", store.OpEq, `"apple"`)}, false, []string{"a"}},
		{"string lt by code point", []store.Condition{cond("s", store.OpLt, `"b"`)}, false, []string{"a", "d", "e", "g"}},
		{"string gt", []store.Condition{cond("s", store.OpGt, `"apple"`)}, false, []string{"b", "c", "g"}},
		{"string ne", []store.Condition{cond("s", store.OpNe, `"apple"`)}, false, []string{"b", "c", "d", "e", "g"}},
		{"startsWith", []store.Condition{cond("s", store.OpStartsWith, `"apple"`)}, false, []string{"a", "g"}},
		{"startsWith empty is every string", []store.Condition{cond("s", store.OpStartsWith, `""`)}, false, []string{"a", "b", "c", "d", "e", "g"}},
		{"startsWith is case sensitive", []store.Condition{cond("s", store.OpStartsWith, `"A"`)}, false, []string{"d"}},
		{"contains substring", []store.Condition{cond("s", store.OpContains, `"an"`)}, false, []string{"b"}},
		{"contains empty is every string", []store.Condition{cond("s", store.OpContains, `""`)}, false, []string{"a", "b", "c", "d", "e", "g"}},
		{"contains a number in a string", []store.Condition{cond("s", store.OpContains, `1`)}, false, nil},
		{"boolean eq true", []store.Condition{cond("b", store.OpEq, `true`)}, false, []string{"a"}},
		{"boolean eq false", []store.Condition{cond("b", store.OpEq, `false`)}, false, []string{"b"}},
		{"boolean ne true", []store.Condition{cond("b", store.OpNe, `true`)}, false, []string{"b"}},
		{"boolean ne false", []store.Condition{cond("b", store.OpNe, `false`)}, false, []string{"a"}},
		{"the string true", []store.Condition{cond("b", store.OpEq, `"true"`)}, false, []string{"c"}},
		{"null eq", []store.Condition{cond("z", store.OpEq, `null`)}, false, []string{"a"}},
		{"null ne matches nothing", []store.Condition{cond("z", store.OpNe, `null`)}, false, nil},
		{"zero is not null", []store.Condition{cond("z", store.OpEq, `0`)}, false, []string{"c"}},
		{"exists true (null exists)", []store.Condition{cond("z", store.OpExists, `true`)}, false, []string{"a", "c"}},
		{"exists false", []store.Condition{cond("z", store.OpExists, `false`)}, false, []string{"b", "d", "e", "f", "g", "h"}},
		{"object eq whatever its key order", []store.Condition{cond("o", store.OpEq, `{"y":[1,2],"x":1}`)}, false, []string{"a", "c"}},
		{"object eq needs the whole object", []store.Condition{cond("o", store.OpEq, `{"x":1}`)}, false, nil},
		{"array eq", []store.Condition{cond("o", store.OpEq, `[1]`)}, false, []string{"g"}},
		{"empty array eq", []store.Condition{cond("arr", store.OpEq, `[]`)}, false, []string{"b"}},
		{"object ne skips arrays", []store.Condition{cond("o", store.OpNe, `{"x":1,"y":[1,2]}`)}, false, []string{"d"}},
		{"nested field", []store.Condition{cond("o.x", store.OpEq, `1`)}, false, []string{"a", "c"}},
		{"nested range", []store.Condition{cond("o.x", store.OpGte, `2`)}, false, []string{"d"}},
		{"array index path", []store.Condition{cond("list.0.sku", store.OpEq, `"A1"`)}, false, []string{"a"}},
		{"array index path 2", []store.Condition{cond("list.1.sku", store.OpEq, `"B2"`)}, false, []string{"a"}},
		{"array index path on an object", []store.Condition{cond("o.0", store.OpExists, `true`)}, false, []string{"g"}},
		{"bracketed key with a dot", []store.Condition{cond(`dot["a.b"]`, store.OpEq, `"dotted"`)}, false, []string{"a"}},
		{"bracketed key of digits", []store.Condition{cond(`["0"]`, store.OpEq, `"zero-key"`)}, false, []string{"a"}},
		{"contains string element or substring", []store.Condition{cond("arr", store.OpContains, `"two"`)}, false, []string{"a", "c"}},
		{"contains object element", []store.Condition{cond("arr", store.OpContains, `{"k":"v"}`)}, false, []string{"a"}},
		{"contains null element", []store.Condition{cond("arr", store.OpContains, `null`)}, false, []string{"a"}},
		{"contains number element", []store.Condition{cond("arr", store.OpContains, `1`)}, false, []string{"a"}},
		{"contains true element", []store.Condition{cond("arr", store.OpContains, `true`)}, false, []string{"a"}},
		{"contains a missing element", []store.Condition{cond("arr", store.OpContains, `"one"`)}, false, nil},
		{"large integers exact", []store.Condition{cond("big", store.OpEq, `9007199254740993`)}, false, []string{"a"}},
		{"large integers exact in ranges", []store.Condition{cond("big", store.OpGt, `9007199254740992`)}, false, []string{"a", "c"}},
		{"in with mixed types", []store.Condition{cond("n", store.OpIn, `[1, "10", true, null]`)}, false, []string{"a", "e"}},
		{"in of every kind", []store.Condition{cond("mixed", store.OpIn, `[1, "1", true, null, [1], {"a":1}]`)}, false, []string{"a", "b", "c", "d", "e", "g"}},
		{"in with nothing matching", []store.Condition{cond("mixed", store.OpIn, `["x", false]`)}, false, nil},
		{"in empty", []store.Condition{cond("mixed", store.OpIn, `[]`)}, false, nil},
		{"mixed eq 1 is only the number", []store.Condition{cond("mixed", store.OpEq, `1`)}, false, []string{"a"}},
		{"mixed eq true is only the boolean", []store.Condition{cond("mixed", store.OpEq, `true`)}, false, []string{"c"}},
		{"exists false on a non-object value", []store.Condition{cond("n", store.OpExists, `false`)}, false, []string{"f", "h"}},
		{"unicode range by code point", []store.Condition{cond("u", store.OpGt, `"é"`)}, false, []string{"c", "d"}},
		{"$key eq", []store.Condition{cond("$key", store.OpEq, `"c"`)}, false, []string{"c"}},
		{"$key startsWith", []store.Condition{cond("$key", store.OpStartsWith, `"a"`)}, false, []string{"a"}},
		{"$key in with another type", []store.Condition{cond("$key", store.OpIn, `["a", "zz", 5]`)}, false, []string{"a"}},
		{"$key gt", []store.Condition{cond("$key", store.OpGt, `"f"`)}, false, []string{"g", "h"}},
		{"$key eq a number", []store.Condition{cond("$key", store.OpEq, `5`)}, false, nil},
		{"$version", []store.Condition{cond("$version", store.OpGt, `0`)}, false, all},
		{"$expiresAt null", []store.Condition{cond("$expiresAt", store.OpEq, `null`)}, false, all},
		{"$createdAt", []store.Condition{cond("$createdAt", store.OpGt, `"2000-01-01T00:00:00Z"`)}, false, all},
		{"$updatedAt in the future", []store.Condition{cond("$updatedAt", store.OpGt, `"2999-01-01T00:00:00Z"`)}, false, nil},
		{"$flowUuid", []store.Condition{cond("$flowUuid", store.OpEq, `""`)}, false, all},
		{"no conditions", nil, false, all},
		{"all of two", []store.Condition{cond("n", store.OpGt, `0`), cond("s", store.OpStartsWith, `"apple"`)}, false, []string{"a", "g"}},
		{"any of two", []store.Condition{cond("n", store.OpEq, `1`), cond("s", store.OpEq, `"cherry"`)}, true, []string{"a", "c"}},
		{"any with mismatched types", []store.Condition{cond("n", store.OpEq, `"x"`), cond("b", store.OpEq, `false`)}, true, []string{"b"}},
		{"any where nothing matches", []store.Condition{cond("n", store.OpEq, `99`), cond("nope", store.OpExists, `true`)}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			q := store.Query{Name: ns(tc.where, nil), Where: tc.where, Count: true}
			if tc.any {
				q.Match = store.MatchAny
			}
			got, count, _ := queryAll(t, s, q, 0)
			sort.Strings(got)
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if count == nil || *count != int64(len(tc.want)) {
				t.Fatalf("count %v, want %d", count, len(tc.want))
			}
			// The same through pages of one and two.
			for _, limit := range []int{1, 2} {
				paged, _, _ := queryAll(t, s, store.Query{Name: q.Name, Where: tc.where, Match: q.Match}, limit)
				sort.Strings(paged)
				if !slices.Equal(paged, got) {
					t.Fatalf("pages of %d: %v, want %v", limit, paged, got)
				}
			}
		})
	}
	orders := []struct {
		what  string
		where []store.Condition
		order []store.Order
		want  []string
	}{
		{"numbers, then other kinds, then missing", nil, []store.Order{{Field: "n"}}, []string{"d", "a", "b", "g", "c", "e", "f", "h"}},
		{"descending, missing still last", nil, []store.Order{{Field: "n", Desc: true}}, []string{"e", "c", "g", "b", "a", "d", "h", "f"}},
		{"strings by code point", nil, []store.Order{{Field: "u"}}, []string{"e", "a", "b", "d", "c", "f", "g", "h"}},
		{"kinds in order, ties by key", nil, []store.Order{{Field: "mixed"}}, []string{"a", "b", "d", "c", "e", "g", "f", "h"}},
		{"booleans after strings", nil, []store.Order{{Field: "b"}}, []string{"c", "b", "a", "d", "e", "f", "g", "h"}},
		{"strings with conditions", []store.Condition{cond("s", store.OpGte, `""`)}, []store.Order{{Field: "s"}}, []string{"e", "d", "a", "g", "b", "c"}},
		{"filtered and sorted by another field", []store.Condition{cond("n", store.OpGt, `0`)}, []store.Order{{Field: "s", Desc: true}}, []string{"c", "b", "g", "a"}},
		{"two fields", nil, []store.Order{{Field: "o.x"}, {Field: "n", Desc: true}}, []string{"c", "a", "d", "e", "g", "b", "f", "h"}},
		{"by $key descending", nil, []store.Order{{Field: "$key", Desc: true}}, []string{"h", "g", "f", "e", "d", "c", "b", "a"}},
		{"by $version", []store.Condition{cond("$key", store.OpIn, `["b","a"]`)}, []store.Order{{Field: "$version"}}, nil},
	}
	for _, tc := range orders {
		t.Run("order "+tc.what, func(t *testing.T) {
			want := tc.want
			if want == nil { // by version: insertion order, whatever it was
				e1, e2 := get(t, s, ns(tc.where, tc.order), "a"), get(t, s, ns(tc.where, tc.order), "b")
				want = []string{"a", "b"}
				if e2.Version < e1.Version {
					want = []string{"b", "a"}
				}
			}
			for _, limit := range []int{0, 1, 2, 3} {
				got, count, _ := queryAll(t, s, store.Query{Name: ns(tc.where, tc.order), Where: tc.where, OrderBy: tc.order, Count: true}, limit)
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: got %v, want %v", limit, got, want)
				}
				if count == nil || *count != int64(len(want)) {
					t.Fatalf("count %v, want %d", count, len(want))
				}
			}
		})
	}
	// Without orderBy an answer is in key order, or in the order of the
	// index that serves it: the same either way for an eq.
	ox := []store.Condition{cond("o.x", store.OpEq, `1`)}
	if got, _, _ := queryAll(t, s, store.Query{Name: ns(ox, nil), Where: ox}, 0); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("eq in key order: %v", got)
	}
	n2 := []store.Condition{cond("n", store.OpGte, `2`)}
	p := must(s.Query(c, store.Query{Name: ns(n2, nil), Where: n2}))(t)
	if indexed && (p.Index != "n" || !slices.Equal(keysOf(p.Entries), prefixed(ns(n2, nil)+"/", []string{"b", "g", "c"}))) {
		t.Fatalf("indexed range answers in the index's order: %v (index %q)", keysOf(p.Entries), p.Index)
	}
	if !indexed && (p.Index != "" || !slices.Equal(keysOf(p.Entries), []string{"q/b", "q/c", "q/g"})) {
		t.Fatalf("unindexed range answers in key order: %v (index %q)", keysOf(p.Entries), p.Index)
	}
	// Entries come back whole.
	e := must(s.Query(c, store.Query{Name: names[0], Where: []store.Condition{cond("$key", store.OpEq, `"c"`)}}))(t).Entries[0]
	if g := get(t, s, names[0], "c"); e.Name != names[0] || string(e.Data) != string(g.Data) || e.Version != g.Version || !e.CreatedAt.Equal(g.CreatedAt) || !e.UpdatedAt.Equal(g.UpdatedAt) {
		t.Fatalf("query returned %+v, the entry is %+v", e, g)
	}
}

func testQueryValidation(t *testing.T, open Opener) {
	s := open(t, store.Limits{MaxQueryConditions: 3, MaxConditionValueBytes: 64})
	c := ctx(t)
	must(s.Insert(c, "v", "k", raw(`{"a":1}`), store.WriteOptions{}))(t)
	must(s.Insert(c, "v", "l", raw(`{"a":2}`), store.WriteOptions{}))(t)
	next := must(s.Query(c, store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpGte, `1`)}, Limit: 1}))(t).NextCursor
	if next == "" {
		t.Fatal("no cursor after a full page")
	}
	long := `"` + strings.Repeat("x", 70) + `"`
	cases := []struct {
		what string
		q    store.Query
		code store.Code
	}{
		{"no name", store.Query{}, store.CodeInvalidArgument},
		{"too many conditions", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, `1`), cond("a", store.OpEq, `1`), cond("a", store.OpEq, `1`), cond("a", store.OpEq, `1`)}}, store.CodeTooLarge},
		{"value too large", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, long)}}, store.CodeTooLarge},
		{"in too large", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpIn, `[`+strings.Repeat(`1,`, 40)+`1]`)}}, store.CodeTooLarge},
		{"empty field", store.Query{Name: "v", Where: []store.Condition{cond("", store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"field ends with a dot", store.Query{Name: "v", Where: []store.Condition{cond("a.", store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"field with an empty part", store.Query{Name: "v", Where: []store.Condition{cond("a..b", store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"unclosed bracket", store.Query{Name: "v", Where: []store.Condition{cond(`["a`, store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"bracket without a string", store.Query{Name: "v", Where: []store.Condition{cond(`[a]`, store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"unknown entry field", store.Query{Name: "v", Where: []store.Condition{cond("$nope", store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"field too long", store.Query{Name: "v", Where: []store.Condition{cond(strings.Repeat("a", 300), store.OpEq, `1`)}}, store.CodeTooLarge},
		{"unknown op", store.Query{Name: "v", Where: []store.Condition{cond("a", "like", `1`)}}, store.CodeInvalidArgument},
		{"no op", store.Query{Name: "v", Where: []store.Condition{cond("a", "", `1`)}}, store.CodeInvalidArgument},
		{"no value", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, ``)}}, store.CodeInvalidArgument},
		{"U+0000 in a key", store.Query{Name: "v", Where: []store.Condition{cond(`["a\u0000"]`, store.OpEq, `1`)}}, store.CodeInvalidArgument},
		{"U+0000 in a value", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, `"a\u0000"`)}}, store.CodeInvalidArgument},
		{"U+0000 deep in a value", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, `{"x":["\u0000"]}`)}}, store.CodeInvalidArgument},
		{"invalid JSON value", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpEq, `{`)}}, store.CodeInvalidArgument},
		{"lt on a boolean", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpLt, `true`)}}, store.CodeInvalidArgument},
		{"gt on null", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpGt, `null`)}}, store.CodeInvalidArgument},
		{"lte on an object", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpLte, `{}`)}}, store.CodeInvalidArgument},
		{"in without an array", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpIn, `1`)}}, store.CodeInvalidArgument},
		{"startsWith a number", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpStartsWith, `1`)}}, store.CodeInvalidArgument},
		{"exists a string", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpExists, `"yes"`)}}, store.CodeInvalidArgument},
		{"a time that is not RFC 3339", store.Query{Name: "v", Where: []store.Condition{cond("$createdAt", store.OpGt, `"yesterday"`)}}, store.CodeInvalidArgument},
		{"unknown match", store.Query{Name: "v", Match: "some"}, store.CodeInvalidArgument},
		{"orderBy a bad field", store.Query{Name: "v", OrderBy: []store.Order{{Field: "a..b"}}}, store.CodeInvalidArgument},
		{"orderBy twice the same field", store.Query{Name: "v", OrderBy: []store.Order{{Field: "a"}, {Field: `["a"]`}}}, store.CodeInvalidArgument},
		{"orderBy five fields", store.Query{Name: "v", OrderBy: []store.Order{{Field: "a"}, {Field: "b"}, {Field: "c"}, {Field: "d"}, {Field: "e"}}}, store.CodeInvalidArgument},
		{"limit too large", store.Query{Name: "v", Limit: 100000}, store.CodeInvalidArgument},
		{"forged cursor", store.Query{Name: "v", Cursor: "not-a-cursor"}, store.CodeInvalidArgument},
		{"cursor of another query", store.Query{Name: "v", Where: []store.Condition{cond("a", store.OpGte, `0`)}, Cursor: next}, store.CodeInvalidArgument},
		{"cursor of another namespace", store.Query{Name: "w", Where: []store.Condition{cond("a", store.OpGte, `1`)}, Cursor: next}, store.CodeInvalidArgument},
		{"cursor of a list", store.Query{Name: "v", Cursor: store.EncodeCursor("l", "v", "k")}, store.CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			_, err := s.Query(c, tc.q)
			wantCode(t, err, tc.code, tc.what)
		})
	}
	// Hostile field spellings are data, never SQL or paths of another kind.
	for _, f := range []string{`["a'; DROP TABLE entries; --"]`, `["$.a"]`, `["a\"b"]`, `["a\\b"]`, `["' OR 1=1 --"]`, "a'b", `["é.ü"]`} {
		p := must(s.Query(c, store.Query{Name: "v", Where: []store.Condition{cond(f, store.OpExists, `true`)}, Count: true}))(t)
		if len(p.Entries) != 0 || p.Count == nil || *p.Count != 0 {
			t.Fatalf("field %s matched %v", f, keysOf(p.Entries))
		}
	}
	must(s.Insert(c, "v", "m", raw(`{"a'; DROP TABLE entries; --":1, "a\"b":2, "$.a":3}`), store.WriteOptions{}))(t)
	for _, f := range []string{`["a'; DROP TABLE entries; --"]`, `["a\"b"]`, `["$.a"]`} {
		p := must(s.Query(c, store.Query{Name: "v", Where: []store.Condition{cond(f, store.OpExists, `true`)}}))(t)
		if !slices.Equal(keysOf(p.Entries), []string{"v/m"}) {
			t.Fatalf("field %s: %v", f, keysOf(p.Entries))
		}
	}
	if got := get(t, s, "v", "k"); string(got.Data) != `{"a":1}` {
		t.Fatalf("data changed: %s", got.Data)
	}
}

// testQueryBounded checks that a query no index serves examines at most
// MaxQueryScan entries per page and continues by cursor.
func testQueryBounded(t *testing.T, open Opener) {
	const scan = 5
	s := open(t, store.Limits{MaxQueryScan: scan})
	c := ctx(t)
	for i := range 23 {
		must(s.Insert(c, "big", fmt.Sprintf("k%02d", i), raw(fmt.Sprintf(`{"i":%d,"hit":%v}`, i, i == 18 || i == 19)), store.WriteOptions{}))(t)
	}
	q := store.Query{Name: "big", Where: []store.Condition{cond("hit", store.OpEq, `true`)}}
	first := must(s.Query(c, q))(t)
	if len(first.Entries) != 0 || first.NextCursor == "" {
		t.Fatalf("first page of a sparse unindexed query: %v, cursor %q (want none and a cursor)", keysOf(first.Entries), first.NextCursor)
	}
	got, _, pages := queryAll(t, s, q, 0)
	if !slices.Equal(got, []string{"k18", "k19"}) || pages < 23/scan {
		t.Fatalf("got %v in %d pages (want k18, k19 in at least %d)", got, pages, 23/scan)
	}
	_, err := s.Query(c, store.Query{Name: "big", Where: q.Where, Count: true})
	wantCode(t, err, store.CodeInvalidArgument, "count without an index over more than MaxQueryScan entries")
	_, err = s.Query(c, store.Query{Name: "big", OrderBy: []store.Order{{Field: "i", Desc: true}}})
	wantCode(t, err, store.CodeInvalidArgument, "sort without an index over more than MaxQueryScan entries")
	// Conditions on $key bound the candidates: few enough to sort and count.
	p := must(s.Query(c, store.Query{Name: "big", Where: []store.Condition{cond("$key", store.OpGte, `"k18"`), cond("i", store.OpGte, `19`)}, OrderBy: []store.Order{{Field: "i", Desc: true}}, Count: true}))(t)
	if !slices.Equal(keysOf(p.Entries), []string{"big/k22", "big/k21", "big/k20", "big/k19"}) || p.Count == nil || *p.Count != 4 {
		t.Fatalf("sorted within a key range: %v count %v", keysOf(p.Entries), p.Count)
	}
	// With an index the query is served, counted and sorted at any size.
	must(s.CreateIndex(c, "big", "hit"))(t)
	must(s.CreateIndex(c, "big", "i"))(t)
	p = must(s.Query(c, store.Query{Name: "big", Where: q.Where, Count: true}))(t)
	if !slices.Equal(keysOf(p.Entries), []string{"big/k18", "big/k19"}) || p.NextCursor != "" || p.Count == nil || *p.Count != 2 || p.Index != "hit" {
		t.Fatalf("indexed: %v cursor %q count %v index %q", keysOf(p.Entries), p.NextCursor, p.Count, p.Index)
	}
	got, _, _ = queryAll(t, s, store.Query{Name: "big", OrderBy: []store.Order{{Field: "i", Desc: true}}}, 4)
	if len(got) != 23 || got[0] != "k22" || got[22] != "k00" {
		t.Fatalf("sorted by an index: %v", got)
	}
	// An index serves a condition; the other conditions are checked on the
	// entries it yields, at most MaxQueryScan per page.
	got, _, _ = queryAll(t, s, store.Query{Name: "big", Where: []store.Condition{cond("i", store.OpGte, `0`), cond("hit", store.OpEq, `true`)}}, 0)
	if !slices.Equal(got, []string{"k18", "k19"}) {
		t.Fatalf("index and residual: %v", got)
	}
}

// testQueryPagingConcurrent pages through a query while other writers
// insert, update and delete: no entry twice, none skipped that matched
// throughout.
func testQueryPagingConcurrent(t *testing.T, open Opener, indexed bool) {
	s := open(t, store.Limits{MaxQueryScan: 17})
	c := ctx(t)
	stable := map[string]bool{}
	for i := range 90 {
		k := fmt.Sprintf("k%03d", i)
		must(s.Insert(c, "page", k, raw(fmt.Sprintf(`{"g":%d,"v":%d}`, i%3, (i*37)%90)), store.WriteOptions{}))(t)
		if i%3 == 1 && i%2 == 0 {
			stable[k] = true
		}
	}
	if indexed {
		must(s.CreateIndex(c, "page", "g"))(t)
		must(s.CreateIndex(c, "page", "v"))(t)
	}
	queries := []store.Query{
		{Name: "page", Where: []store.Condition{cond("g", store.OpEq, `1`)}},
		{Name: "page", Where: []store.Condition{cond("g", store.OpEq, `1`)}, OrderBy: []store.Order{{Field: "v"}}},
		{Name: "page", Where: []store.Condition{cond("g", store.OpEq, `1`)}, OrderBy: []store.Order{{Field: "v", Desc: true}}},
	}
	if !indexed {
		queries = queries[:1] // sorting 90 candidates needs an index at MaxQueryScan 17
	}
	for qi, q := range queries {
		t.Run(fmt.Sprint(qi), func(t *testing.T) {
			q.Limit = 4
			seen := map[string]bool{}
			var order []int
			for page := 0; ; page++ {
				p := must(s.Query(c, q))(t)
				for _, e := range p.Entries {
					if seen[e.Key] {
						t.Fatalf("%s returned twice", e.Key)
					}
					seen[e.Key] = true
					var d struct{ G, V int }
					json.Unmarshal(e.Data, &d)
					if d.G != 1 {
						t.Fatalf("%s does not match: %s", e.Key, e.Data)
					}
					order = append(order, d.V)
				}
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
				// Between pages: insert matching entries on both sides of
				// the cursor, delete others. (An entry whose sort value
				// changes between pages may be met again at its new place,
				// as with any keyset paging.)
				var wg sync.WaitGroup
				for j := range 3 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n := page*3 + j
						s.Upsert(c, "page", fmt.Sprintf("n%03d-%d", n, qi), raw(fmt.Sprintf(`{"g":1,"v":%d}`, (n*53)%90)), store.WriteOptions{})
						k := fmt.Sprintf("k%03d", (n*7)%90)
						if !stable[k] {
							s.Delete(c, "page", k, store.DeleteOptions{})
						}
					}()
				}
				wg.Wait()
			}
			for k := range stable {
				if !seen[k] {
					t.Fatalf("%s matched throughout and was skipped", k)
				}
			}
			if len(q.OrderBy) > 0 {
				ok := sort.IntsAreSorted(order)
				if q.OrderBy[0].Desc {
					ok = sort.SliceIsSorted(order, func(i, j int) bool { return order[i] > order[j] })
				}
				if !ok {
					t.Fatalf("answer out of order: %v", order)
				}
			}
		})
	}
}

func testQueryTTL(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	must(s.CreateIndex(c, "ttlq", "s"))(t)
	// Long enough that the checks before expiry finish on a loaded machine
	// against DynamoDB Local (700 ms was not, under a load average of 27).
	const ttl = 2500 * time.Millisecond
	start := time.Now()
	for i := range 6 {
		o := store.WriteOptions{}
		if i%2 == 0 {
			o.TTL = ttl
		}
		must(s.Insert(c, "ttlq", fmt.Sprintf("k%d", i), raw(fmt.Sprintf(`{"s":"x","t":"y","i":%d}`, i)), o))(t)
	}
	lastShort := time.Now() // each TTL counts from its own write
	queries := []store.Query{
		{Name: "ttlq", Where: []store.Condition{cond("s", store.OpEq, `"x"`)}, Count: true},
		{Name: "ttlq", Where: []store.Condition{cond("t", store.OpEq, `"y"`)}, Count: true},
		{Name: "ttlq", OrderBy: []store.Order{{Field: "i", Desc: true}}, Count: true},
		{Name: "ttlq", OrderBy: []store.Order{{Field: "s"}}, Count: true},
	}
	for _, q := range queries {
		got, n, _ := queryAll(t, s, q, 2)
		if time.Since(start) >= ttl {
			// The machine was too slow to look before the first expiry:
			// what was seen proves nothing either way.
			t.Logf("before expiry: checks ran past the %v ttl; not judged", ttl)
			break
		}
		if len(got) != 6 || *n != 6 {
			t.Fatalf("before expiry %+v: %v count %d", q.Where, got, *n)
		}
	}
	time.Sleep(time.Until(lastShort.Add(ttl + 400*time.Millisecond)))
	for _, q := range queries {
		got, n, _ := queryAll(t, s, q, 2)
		sort.Strings(got)
		if !slices.Equal(got, []string{"k1", "k3", "k5"}) || *n != 3 {
			t.Fatalf("after expiry %+v: %v count %d", q, got, *n)
		}
	}
}

func testQueryGrants(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	must(s.Insert(c, "mine", "a", raw(`{"x":1}`), store.WriteOptions{}))(t)
	must(s.Insert(c, "theirs", "a", raw(`{"x":1}`), store.WriteOptions{}))(t)
	must(s.CreateIndex(c, "theirs", "x"))(t)
	g := store.WithGrants(s, store.Grants{"mine": store.Read})
	p := must(g.Query(c, store.Query{Name: "mine", Where: []store.Condition{cond("x", store.OpEq, `1`)}}))(t)
	if len(p.Entries) != 1 {
		t.Fatalf("granted query: %v", keysOf(p.Entries))
	}
	_, err := g.Query(c, store.Query{Name: "theirs", Where: []store.Condition{cond("x", store.OpEq, `1`)}})
	wantCode(t, err, store.CodeAccessDenied, "query of a namespace outside the grants")
	_, err = g.Query(c, store.Query{Name: "_flowkv.tokens"})
	wantCode(t, err, store.CodeAccessDenied, "query of a reserved namespace")
	_, err = g.CreateIndex(c, "mine", "x")
	wantCode(t, err, store.CodeAccessDenied, "index on a read-only namespace")
	_, err = g.DropIndex(c, "theirs", "x")
	wantCode(t, err, store.CodeAccessDenied, "drop of an index outside the grants")
	_, err = g.Indexes(c, "theirs")
	wantCode(t, err, store.CodeAccessDenied, "indexes of a namespace outside the grants")
	if ix := must(g.Indexes(c, ""))(t); len(ix) != 0 {
		t.Fatalf("indexes outside the grants listed: %+v", ix)
	}
	if ix := must(s.Indexes(c, "theirs"))(t); len(ix) != 1 {
		t.Fatalf("the index was touched: %+v", ix)
	}
}

func testIndexes(t *testing.T, open Opener) {
	s := open(t, store.Limits{MaxIndexesPerName: 3})
	c := ctx(t)
	for i := range 30 {
		must(s.Insert(c, "ix", fmt.Sprintf("k%02d", i), raw(fmt.Sprintf(`{"status":%q,"total":%d,"a.b":%d}`, []string{"paid", "open", "void"}[i%3], i, i%2)), store.WriteOptions{}))(t)
	}
	// Declared on existing entries, built for them.
	ix := must(s.CreateIndex(c, "ix", `["status"]`))(t)
	if ix.Name != "ix" || ix.Field != "status" || ix.State != store.IndexReady || ix.CreatedAt.IsZero() {
		t.Fatalf("created %+v", ix)
	}
	again := must(s.CreateIndex(c, "ix", "status"))(t)
	if again.Field != "status" || !again.CreatedAt.Equal(ix.CreatedAt) {
		t.Fatalf("declaring again: %+v, first %+v", again, ix)
	}
	must(s.CreateIndex(c, "ix", `["a.b"]`))(t)
	must(s.CreateIndex(c, "other", "status"))(t)
	list := must(s.Indexes(c, "ix"))(t)
	if len(list) != 2 || list[0].Field != `["a.b"]` || list[1].Field != "status" {
		t.Fatalf("indexes of ix: %+v", list)
	}
	if all := must(s.Indexes(c, ""))(t); len(all) != 3 || all[2].Name != "other" {
		t.Fatalf("every index: %+v", all)
	}
	for _, bad := range []string{"$key", "$version", "", "a..b"} {
		_, err := s.CreateIndex(c, "ix", bad)
		wantCode(t, err, store.CodeInvalidArgument, "index on "+bad)
	}
	_, err := s.CreateIndex(c, "", "status")
	wantCode(t, err, store.CodeInvalidArgument, "index without a namespace")
	must(s.CreateIndex(c, "ix", "total"))(t)
	_, err = s.CreateIndex(c, "ix", "more")
	wantCode(t, err, store.CodeTooLarge, "index past MaxIndexesPerName")
	// Writes after the index keep it true: insert, update, delete, atomic.
	must(s.Upsert(c, "ix", "k00", raw(`{"status":"open","total":100}`), store.WriteOptions{}))(t)
	must(s.Delete(c, "ix", "k03", store.DeleteOptions{}))(t)
	must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "ix", Key: "k06", Data: raw(`{"status":"void"}`)}, {Op: store.OpSet, Name: "ix", Key: "new", Data: raw(`{"status":"paid","total":-1}`)}}))(t)
	must(s.Update(c, "ix", "k09", raw(`"no longer an object"`), store.WriteOptions{}))(t)
	must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "ix", Key: "counter", Data: raw(`1`)}}))(t)
	q := store.Query{Name: "ix", Where: []store.Condition{cond("status", store.OpEq, `"paid"`)}, Count: true}
	got, n, _ := queryAll(t, s, q, 3)
	want := []string{"k12", "k15", "k18", "k21", "k24", "k27", "new"}
	if !slices.Equal(got, want) || *n != int64(len(want)) {
		t.Fatalf("paid after writes: %v (count %d), want %v", got, *n, want)
	}
	got, _, _ = queryAll(t, s, store.Query{Name: "ix", Where: []store.Condition{cond("status", store.OpEq, `"paid"`), cond("total", store.OpGte, `20`)}, OrderBy: []store.Order{{Field: "total", Desc: true}}}, 2)
	if !slices.Equal(got, []string{"k27", "k24", "k21"}) {
		t.Fatalf("paid over 20, largest first: %v", got)
	}
	// Dropping an index keeps the answers (read without it).
	if ok := must(s.DropIndex(c, "ix", "status"))(t); !ok {
		t.Fatal("drop reported no index")
	}
	if ok := must(s.DropIndex(c, "ix", "status"))(t); ok {
		t.Fatal("second drop reported an index")
	}
	got, _, _ = queryAll(t, s, store.Query{Name: "ix", Where: q.Where}, 0)
	if !slices.Equal(got, want) {
		t.Fatalf("paid without the index: %v", got)
	}
	// Declared again, it is built anew for what is there now.
	must(s.CreateIndex(c, "ix", "status"))(t)
	p := must(s.Query(c, store.Query{Name: "ix", Where: q.Where, Count: true}))(t)
	if !slices.Equal(keysOf(p.Entries), prefixed("ix/", want)) || p.Index != "status" || *p.Count != 7 {
		t.Fatalf("rebuilt index: %v %q %d", keysOf(p.Entries), p.Index, *p.Count)
	}
	// Indexes are kept when every entry is gone.
	for _, e := range must(s.FindName(c, "ix", 1000, 0))(t) {
		must(s.Delete(c, "ix", e.Key, store.DeleteOptions{}))(t)
	}
	if l := must(s.Indexes(c, "ix"))(t); len(l) != 3 {
		t.Fatalf("indexes after the entries went: %+v", l)
	}
	must(s.Insert(c, "ix", "late", raw(`{"status":"paid"}`), store.WriteOptions{}))(t)
	if p := must(s.Query(c, store.Query{Name: "ix", Where: q.Where}))(t); !slices.Equal(keysOf(p.Entries), []string{"ix/late"}) {
		t.Fatalf("after re-insert: %v", keysOf(p.Entries))
	}
}

func prefixed(p string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p + k
	}
	return out
}
