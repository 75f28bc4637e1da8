// Package storetest is the conformance suite every store.Store backend runs
// unchanged: storetest.Run(t, open). It checks the contracts of package
// store — every operation, every error code a store can return, TTL expiry
// on every read path, atomic checks, versions, cursors, limits, unicode and
// concurrency — against a real database.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Opener returns a fresh, empty store enforcing l (zero fields default).
// It registers its own cleanup (closing the store, dropping the database).
type Opener func(t *testing.T, l store.Limits) store.Store

// Run runs the whole suite. Subtests call open for their own empty store
// and may run in parallel.
func Run(t *testing.T, open Opener) {
	t.Run("CRUD", func(t *testing.T) { t.Parallel(); testCRUD(t, open) })
	t.Run("Versions", func(t *testing.T) { t.Parallel(); testVersions(t, open) })
	t.Run("Conditional", func(t *testing.T) { t.Parallel(); testConditional(t, open) })
	t.Run("Validation", func(t *testing.T) { t.Parallel(); testValidation(t, open) })
	t.Run("Limits", func(t *testing.T) { t.Parallel(); testLimits(t, open) })
	t.Run("EntriesCap", func(t *testing.T) { t.Parallel(); testEntriesCap(t, open) })
	t.Run("TTL", func(t *testing.T) { t.Parallel(); testTTL(t, open) })
	t.Run("Atomic", func(t *testing.T) { t.Parallel(); testAtomic(t, open) })
	t.Run("Fetch", func(t *testing.T) { t.Parallel(); testFetch(t, open) })
	t.Run("FetchCursor", func(t *testing.T) { t.Parallel(); testFetchCursor(t, open) })
	t.Run("List", func(t *testing.T) { t.Parallel(); testList(t, open) })
	t.Run("ListConcurrentInserts", func(t *testing.T) { t.Parallel(); testListConcurrentInserts(t, open) })
	t.Run("Cursors", func(t *testing.T) { t.Parallel(); testCursors(t, open) })
	t.Run("FindName", func(t *testing.T) { t.Parallel(); testFindName(t, open) })
	t.Run("Names", func(t *testing.T) { t.Parallel(); testNames(t, open) })
	t.Run("Unicode", func(t *testing.T) { t.Parallel(); testUnicode(t, open) })
	t.Run("ConcurrentSum", func(t *testing.T) { t.Parallel(); testConcurrentSum(t, open) })
	t.Run("ConcurrentInsert", func(t *testing.T) { t.Parallel(); testConcurrentInsert(t, open) })
	t.Run("Import", func(t *testing.T) { t.Parallel(); testImport(t, open) })
	t.Run("ReadRanges", func(t *testing.T) { t.Parallel(); testReadRanges(t, open) })
	RunQuery(t, open)
}

// ---- helpers ----

// ctx bounds one case. It is generous because CI runs every package at
// once on two cores, and DynamoDB Local serialises contended transactions.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	t.Cleanup(cancel)
	return c
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func wantCode(t *testing.T, err error, want store.Code, what string) {
	t.Helper()
	if got := store.CodeOf(err); got != want {
		t.Fatalf("%s: error code %q (err %v), want %q", what, got, err, want)
	}
	if want != "" {
		var e *store.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: error %v carries no *store.Error", what, err)
		}
	}
}

// must(call())(t) returns call's value, failing t on its error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func canon(t *testing.T, s string) string {
	t.Helper()
	c, err := store.Canonicalize(raw(s))
	if err != nil {
		t.Fatalf("canonicalize %s: %v", s, err)
	}
	return string(c)
}

func keysOf(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name + "/" + e.Key
	}
	return out
}

func get(t *testing.T, s store.Store, name, key string) store.Entry {
	t.Helper()
	e, err := s.FindNameKey(ctx(t), name, key)
	if err != nil {
		t.Fatalf("get %s/%s: %v", name, key, err)
	}
	return e
}

func absent(t *testing.T, s store.Store, name, key string) {
	t.Helper()
	_, err := s.FindNameKey(ctx(t), name, key)
	wantCode(t, err, store.CodeNotFound, "get "+name+"/"+key)
}

// ---- CRUD ----

func testCRUD(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	if err := s.Ping(c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	in := must(s.Insert(c, "orders", "o-1", raw(` {"total": 12, "items": ["a", "b"]} `), store.WriteOptions{FlowUUID: "flow-1"}))(t)
	if in.Name != "orders" || in.Key != "o-1" || string(in.Data) != `{"items":["a","b"],"total":12}` {
		t.Fatalf("insert returned %+v (data %s)", in, in.Data)
	}
	if in.Version <= 0 || in.FlowUUID != "flow-1" || in.ExpiresAt != nil || in.CreatedAt.IsZero() || !in.CreatedAt.Equal(in.UpdatedAt) {
		t.Fatalf("insert returned %+v", in)
	}
	if in.CreatedAt.Location() != time.UTC {
		t.Fatalf("createdAt %v is not UTC", in.CreatedAt)
	}
	g := get(t, s, "orders", "o-1")
	if string(g.Data) != string(in.Data) || g.Version != in.Version || g.FlowUUID != "flow-1" || !g.CreatedAt.Equal(in.CreatedAt) || !g.UpdatedAt.Equal(in.UpdatedAt) || g.ExpiresAt != nil {
		t.Fatalf("get %+v, inserted %+v", g, in)
	}

	_, err := s.Insert(c, "orders", "o-1", raw(`{"total":13}`), store.WriteOptions{})
	wantCode(t, err, store.CodeAlreadyExists, "second insert")
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second insert: %v is not ErrExists", err)
	}
	if g := get(t, s, "orders", "o-1"); string(g.Data) != string(in.Data) || g.Version != in.Version {
		t.Fatalf("failed insert changed the entry: %+v", g)
	}

	time.Sleep(2 * time.Millisecond)
	up := must(s.Upsert(c, "orders", "o-1", raw(`{"total":14}`), store.WriteOptions{}))(t)
	if up.Version <= in.Version || string(up.Data) != `{"total":14}` || !up.CreatedAt.Equal(in.CreatedAt) || !up.UpdatedAt.After(in.UpdatedAt) || up.FlowUUID != "" {
		t.Fatalf("upsert over %+v returned %+v", in, up)
	}
	up2 := must(s.Upsert(c, "orders", "o-2", raw(`7`), store.WriteOptions{}))(t)
	if up2.Version <= 0 || string(up2.Data) != "7" {
		t.Fatalf("upsert of a new key returned %+v", up2)
	}
	upd := must(s.Update(c, "orders", "o-1", raw(`{"total":15}`), store.WriteOptions{FlowUUID: "flow-2"}))(t)
	if upd.Version <= up.Version || upd.FlowUUID != "flow-2" || !upd.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("update returned %+v", upd)
	}
	_, err = s.Update(c, "orders", "missing", raw(`{}`), store.WriteOptions{})
	wantCode(t, err, store.CodeNotFound, "update of a missing key")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update missing: %v is not ErrNotFound", err)
	}
	absent(t, s, "orders", "missing")
	absent(t, s, "nothing", "o-1")

	ok := must(s.Delete(c, "orders", "o-1", store.DeleteOptions{}))(t)
	if !ok {
		t.Fatal("delete of an existing entry reported false")
	}
	absent(t, s, "orders", "o-1")
	ok = must(s.Delete(c, "orders", "o-1", store.DeleteOptions{}))(t)
	if ok {
		t.Fatal("second delete reported true")
	}
	if g := get(t, s, "orders", "o-2"); string(g.Data) != "7" {
		t.Fatalf("delete touched another key: %+v", g)
	}

	// Every JSON type round-trips in canonical form.
	for i, v := range []string{`null`, `true`, `false`, `0`, `-1.5`, `"text"`, `[]`, `{}`, `[1,{"b":2,"a":1}]`, `12345678901234567`, `1e3`, `"\u00e9\ud83d\ude00"`} {
		k := fmt.Sprintf("type-%d", i)
		must(s.Insert(c, "types", k, raw(v), store.WriteOptions{}))(t)
		if g := get(t, s, "types", k); string(g.Data) != canon(t, v) {
			t.Errorf("data %s came back as %s, want %s", v, g.Data, canon(t, v))
		}
	}
	if l, d := s.Limits(), store.DefaultLimits(); l.MaxNameBytes != d.MaxNameBytes || l.MaxKeyBytes != d.MaxKeyBytes || l.MaxDataBytes != d.MaxDataBytes || l.MaxListLimit != d.MaxListLimit {
		t.Errorf("Limits() = %+v, want the defaults %+v", l, d)
	}
}

// ---- versions ----

func testVersions(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	seen := map[int64]bool{}
	note := func(what string, v int64) {
		t.Helper()
		if v <= 0 {
			t.Fatalf("%s: version %d is not positive", what, v)
		}
		if seen[v] {
			t.Fatalf("%s: version %d reused for the same key", what, v)
		}
		seen[v] = true
	}
	var last int64
	grow := func(what string, v int64) {
		t.Helper()
		note(what, v)
		if v <= last {
			t.Fatalf("%s: version %d did not grow past %d", what, v, last)
		}
		last = v
	}
	e := must(s.Insert(c, "v", "k", raw(`1`), store.WriteOptions{}))(t)
	grow("insert", e.Version)
	old := e.Version
	e = must(s.Upsert(c, "v", "k", raw(`2`), store.WriteOptions{}))(t)
	grow("upsert", e.Version)
	e = must(s.Update(c, "v", "k", raw(`2`), store.WriteOptions{}))(t) // same value still bumps
	grow("update with the same value", e.Version)
	beforeDelete := e.Version
	must(s.Delete(c, "v", "k", store.DeleteOptions{}))(t)
	e = must(s.Insert(c, "v", "k", raw(`3`), store.WriteOptions{}))(t)
	grow("re-insert after delete", e.Version)

	// A compare-and-set holding a version from before the delete never succeeds.
	for _, v := range []int64{old, beforeDelete} {
		_, err := s.Upsert(c, "v", "k", raw(`4`), store.WriteOptions{IfVersion: v})
		wantCode(t, err, store.CodeConflict, fmt.Sprintf("upsert ifVersion %d (pre-delete)", v))
		_, err = s.Delete(c, "v", "k", store.DeleteOptions{IfVersion: v})
		wantCode(t, err, store.CodeConflict, fmt.Sprintf("delete ifVersion %d (pre-delete)", v))
	}
	// Atomic delete + re-create and sums keep growing.
	r := must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpDelete, Name: "v", Key: "k"}}))(t)
	if len(r.Versions) != 1 || r.Versions[0] != 0 {
		t.Fatalf("atomic delete versions %v, want [0]", r.Versions)
	}
	for i := 0; i < 3; i++ {
		r = must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "v", Key: "k", Data: raw(`1`)}}))(t)
		grow("atomic sum", r.Versions[0])
	}
	if g := get(t, s, "v", "k"); g.Version != last || string(g.Data) != "3" {
		t.Fatalf("after sums: %+v, want version %d data 3", g, last)
	}
	// Versions of different keys are independent but each stays positive.
	e2 := must(s.Insert(c, "v", "other", raw(`1`), store.WriteOptions{}))(t)
	if e2.Version <= 0 {
		t.Fatalf("version %d", e2.Version)
	}
}

// ---- conditional writes ----

func testConditional(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	e := must(s.Insert(c, "cas", "k", raw(`{"n":1}`), store.WriteOptions{}))(t)

	_, err := s.Upsert(c, "cas", "k", raw(`{"n":2}`), store.WriteOptions{IfVersion: e.Version + 1000})
	wantCode(t, err, store.CodeConflict, "upsert with a wrong version")
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%v is not ErrConflict", err)
	}
	if g := get(t, s, "cas", "k"); g.Version != e.Version || string(g.Data) != `{"n":1}` {
		t.Fatalf("failed conditional upsert wrote: %+v", g)
	}
	e2 := must(s.Upsert(c, "cas", "k", raw(`{"n":2}`), store.WriteOptions{IfVersion: e.Version}))(t)
	if e2.Version <= e.Version || string(e2.Data) != `{"n":2}` {
		t.Fatalf("conditional upsert returned %+v", e2)
	}
	// The old version no longer matches.
	_, err = s.Update(c, "cas", "k", raw(`{"n":3}`), store.WriteOptions{IfVersion: e.Version})
	wantCode(t, err, store.CodeConflict, "update with a stale version")
	e3 := must(s.Update(c, "cas", "k", raw(`{"n":3}`), store.WriteOptions{IfVersion: e2.Version}))(t)
	if e3.Version <= e2.Version {
		t.Fatalf("conditional update returned %+v", e3)
	}
	// Conditional upsert of an absent entry is a conflict and creates nothing.
	_, err = s.Upsert(c, "cas", "absent", raw(`1`), store.WriteOptions{IfVersion: 1})
	wantCode(t, err, store.CodeConflict, "upsert ifVersion on an absent entry")
	absent(t, s, "cas", "absent")
	// Update of an absent entry stays not_found, with or without a version.
	_, err = s.Update(c, "cas", "absent", raw(`1`), store.WriteOptions{IfVersion: 1})
	wantCode(t, err, store.CodeNotFound, "update ifVersion on an absent entry")

	_, err = s.Delete(c, "cas", "k", store.DeleteOptions{IfVersion: e2.Version})
	wantCode(t, err, store.CodeConflict, "delete with a stale version")
	get(t, s, "cas", "k")
	_, err = s.Delete(c, "cas", "absent", store.DeleteOptions{IfVersion: 1})
	wantCode(t, err, store.CodeConflict, "delete ifVersion on an absent entry")
	ok := must(s.Delete(c, "cas", "k", store.DeleteOptions{IfVersion: e3.Version}))(t)
	if !ok {
		t.Fatal("conditional delete with the current version reported false")
	}
	absent(t, s, "cas", "k")
}

// ---- validation: every input error and its code ----

func testValidation(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	deep := strings.Repeat("[", store.DefaultMaxDepth+1) + strings.Repeat("]", store.DefaultMaxDepth+1)
	type tc struct {
		what string
		run  func() error
		want store.Code
	}
	ins := func(name, key, data string) func() error {
		return func() error {
			_, err := s.Insert(c, name, key, raw(data), store.WriteOptions{})
			return err
		}
	}
	cases := []tc{
		{"empty name", ins("", "k", `1`), store.CodeInvalidArgument},
		{"empty key", ins("n", "", `1`), store.CodeInvalidArgument},
		{"control character in name", ins("a\x01b", "k", `1`), store.CodeInvalidArgument},
		{"newline in key", ins("n", "a\nb", `1`), store.CodeInvalidArgument},
		{"invalid UTF-8 key", ins("n", "a\xffb", `1`), store.CodeInvalidArgument},
		{"invalid UTF-8 name", ins("\xc3", "k", `1`), store.CodeInvalidArgument},
		{"invalid JSON", ins("n", "k", `{"a":`), store.CodeInvalidArgument},
		{"trailing data", ins("n", "k", `1 2`), store.CodeInvalidArgument},
		{"empty data", ins("n", "k", ``), store.CodeInvalidArgument},
		{"too deep", ins("n", "k", deep), store.CodeInvalidArgument},
		{"negative ttl", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{TTL: -time.Second})
			return err
		}, store.CodeInvalidArgument},
		{"get with empty key", func() error { _, err := s.FindNameKey(c, "n", ""); return err }, store.CodeInvalidArgument},
		{"get of a missing entry", func() error { _, err := s.FindNameKey(c, "n", "missing"); return err }, store.CodeNotFound},
		{"update of a missing entry", func() error {
			_, err := s.Update(c, "n", "missing", raw(`1`), store.WriteOptions{})
			return err
		}, store.CodeNotFound},
		{"delete with empty name", func() error { _, err := s.Delete(c, "", "k", store.DeleteOptions{}); return err }, store.CodeInvalidArgument},
		{"fetch limit above the maximum", func() error {
			_, err := s.Fetch(c, store.FetchQuery{Limit: store.DefaultMaxListLimit + 1})
			return err
		}, store.CodeInvalidArgument},
		{"fetch negative offset", func() error { _, err := s.Fetch(c, store.FetchQuery{Offset: -1}); return err }, store.CodeInvalidArgument},
		{"fetch offset and cursor", func() error {
			_, err := s.Fetch(c, store.FetchQuery{Offset: 1, Cursor: store.EncodeCursor("x")})
			return err
		}, store.CodeInvalidArgument},
		{"fetch invalid data", func() error { _, err := s.Fetch(c, store.FetchQuery{Data: raw(`{`)}); return err }, store.CodeInvalidArgument},
		{"findName limit above the maximum", func() error {
			_, err := s.FindName(c, "n", store.DefaultMaxListLimit+1, 0)
			return err
		}, store.CodeInvalidArgument},
		{"findName negative offset", func() error { _, err := s.FindName(c, "n", 10, -1); return err }, store.CodeInvalidArgument},
		{"list limit above the maximum", func() error {
			_, err := s.List(c, "n", "", "", store.DefaultMaxListLimit+1)
			return err
		}, store.CodeInvalidArgument},
		{"list prefix too long", func() error {
			_, err := s.List(c, "n", strings.Repeat("p", store.DefaultMaxKeyBytes+1), "", 10)
			return err
		}, store.CodeTooLarge},
		{"list garbage cursor", func() error { _, err := s.List(c, "n", "", "!!not a cursor!!", 10); return err }, store.CodeInvalidArgument},
		{"list empty name", func() error { _, err := s.List(c, "", "", "", 10); return err }, store.CodeInvalidArgument},
		{"fetch garbage cursor", func() error { _, err := s.Fetch(c, store.FetchQuery{Cursor: "%%%"}); return err }, store.CodeInvalidArgument},
		{"atomic too many actions", func() error {
			var checks []store.Check
			var muts []store.Mutation
			for i := 0; i < 60; i++ {
				checks = append(checks, store.Check{Name: "n", Key: fmt.Sprint("c", i)})
				muts = append(muts, store.Mutation{Op: store.OpSet, Name: "n", Key: fmt.Sprint("m", i), Data: raw(`1`)})
			}
			_, err := s.Atomic(c, checks, muts)
			return err
		}, store.CodeInvalidArgument},
		{"atomic same key twice", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "n", Key: "k", Data: raw(`1`)}, {Op: store.OpDelete, Name: "n", Key: "k"}})
			return err
		}, store.CodeInvalidArgument},
		{"atomic unknown op", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: "merge", Name: "n", Key: "k", Data: raw(`1`)}})
			return err
		}, store.CodeInvalidArgument},
		{"atomic set without data", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "n", Key: "k"}})
			return err
		}, store.CodeInvalidArgument},
		{"atomic sum of a non-number", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "n", Key: "k", Data: raw(`"1"`)}})
			return err
		}, store.CodeInvalidArgument},
		{"atomic negative check version", func() error {
			_, err := s.Atomic(c, []store.Check{{Name: "n", Key: "k", Version: -1}}, nil)
			return err
		}, store.CodeInvalidArgument},
		{"atomic key too long", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "n", Key: strings.Repeat("k", 257), Data: raw(`1`)}})
			return err
		}, store.CodeTooLarge},
		// Every write validates the same way on every backend (store.Limits
		// does it once): flowUuid, TTL and version are part of the write.
		{"insert with a flowUuid that is not UTF-8", func() error {
			_, err := s.Insert(c, "n", "k", raw(`1`), store.WriteOptions{FlowUUID: "\xff\xfe"})
			return err
		}, store.CodeInvalidArgument},
		{"upsert with a flowUuid that is not UTF-8", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{FlowUUID: "\xff\xfe"})
			return err
		}, store.CodeInvalidArgument},
		{"update with a flowUuid that is not UTF-8", func() error {
			_, err := s.Update(c, "n", "missing", raw(`1`), store.WriteOptions{FlowUUID: "f\xc3"})
			return err
		}, store.CodeInvalidArgument},
		{"upsert with a control character in flowUuid", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{FlowUUID: "f\x00"})
			return err
		}, store.CodeInvalidArgument},
		{"upsert with a flowUuid too long", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{FlowUUID: strings.Repeat("f", store.MaxFlowUUIDBytes+1)})
			return err
		}, store.CodeTooLarge},
		{"upsert with a ttl over 100 years", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{TTL: store.MaxTTL + time.Second})
			return err
		}, store.CodeInvalidArgument},
		{"upsert with a negative ifVersion", func() error {
			_, err := s.Upsert(c, "n", "k", raw(`1`), store.WriteOptions{IfVersion: -1})
			return err
		}, store.CodeInvalidArgument},
		{"insert conditional on a version", func() error {
			_, err := s.Insert(c, "n", "k", raw(`1`), store.WriteOptions{IfVersion: 1})
			return err
		}, store.CodeInvalidArgument},
		{"atomic set with a flowUuid that is not UTF-8", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "n", Key: "k", Data: raw(`1`), FlowUUID: "\xff\xfe"}})
			return err
		}, store.CodeInvalidArgument},
		{"atomic sum with a ttl over 100 years", func() error {
			_, err := s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "n", Key: "k", Data: raw(`1`), TTL: store.MaxTTL + time.Second}})
			return err
		}, store.CodeInvalidArgument},
		{"import with a flowUuid that is not UTF-8", func() error {
			imp, ok := s.(store.Importer)
			if !ok {
				return store.Errorf(store.CodeInvalidArgument, "no importer")
			}
			_, err := imp.Import(c, store.Entry{Name: "n", Key: "k", Data: raw(`1`), FlowUUID: "\xff\xfe"})
			return err
		}, store.CodeInvalidArgument},
		{"import with a negative version", func() error {
			imp, ok := s.(store.Importer)
			if !ok {
				return store.Errorf(store.CodeInvalidArgument, "no importer")
			}
			_, err := imp.Import(c, store.Entry{Name: "n", Key: "k", Data: raw(`1`), Version: -1})
			return err
		}, store.CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.run()
			wantCode(t, err, tc.want, tc.what)
			if msg := store.Message(err); !strings.Contains(msg, string(tc.want)) {
				t.Errorf("message %q does not contain the code word", msg)
			}
		})
	}
	// Nothing above wrote anything.
	if p := must(s.Fetch(c, store.FetchQuery{}))(t); len(p.Entries) != 0 {
		t.Fatalf("invalid calls wrote %v", keysOf(p.Entries))
	}
}

// ---- limits at and one past the boundary ----

func testLimits(t *testing.T, open Opener) {
	const maxData = 4096
	s := open(t, store.Limits{MaxDataBytes: maxData})
	c := ctx(t)
	if l := s.Limits(); l.MaxDataBytes != maxData || l.MaxNameBytes != store.DefaultMaxNameBytes {
		t.Fatalf("Limits() = %+v", l)
	}
	// A JSON string of n bytes encoded: quotes + n-2 letters.
	str := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }
	emoji := "😀" // 4 bytes
	cases := []struct {
		what      string
		name, key string
		data      string
		want      store.Code
	}{
		{"name of 128 bytes", strings.Repeat("n", 128), "k", `1`, ""},
		{"name of 129 bytes", strings.Repeat("n", 129), "k", `1`, store.CodeTooLarge},
		{"name of 32 emoji (128 bytes)", strings.Repeat(emoji, 32), "k", `1`, ""},
		{"name of 32 emoji and a byte", strings.Repeat(emoji, 32) + "x", "k", `1`, store.CodeTooLarge},
		{"key of 256 bytes", "n", strings.Repeat("k", 256), `1`, ""},
		{"key of 257 bytes", "n", strings.Repeat("k", 257), `1`, store.CodeTooLarge},
		{"key of 64 emoji (256 bytes)", "n", strings.Repeat(emoji, 64), `1`, ""},
		{"data of exactly MaxDataBytes", "n", "big", str(maxData), ""},
		{"data one byte over", "n", "big2", str(maxData + 1), store.CodeTooLarge},
		{"data over only before canonical form", "n", "spaced", "[" + strings.Repeat(" ", maxData) + "1]", ""},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			for _, op := range []string{"insert", "upsert", "atomic"} {
				var err error
				switch op {
				case "insert":
					_, err = s.Insert(c, tc.name, tc.key, raw(tc.data), store.WriteOptions{})
				case "upsert":
					_, err = s.Upsert(c, tc.name, tc.key, raw(tc.data), store.WriteOptions{})
				case "atomic":
					_, err = s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: tc.name, Key: tc.key, Data: raw(tc.data)}})
				}
				wantCode(t, err, tc.want, tc.what+" ("+op+")")
				switch {
				case tc.want == "":
					if g := get(t, s, tc.name, tc.key); string(g.Data) != canon(t, tc.data) {
						t.Fatalf("%s: stored data differs", op)
					}
					if !must(s.Delete(c, tc.name, tc.key, store.DeleteOptions{}))(t) {
						t.Fatalf("%s: delete reported false", op)
					}
				case len(tc.name) <= 128 && len(tc.key) <= 256:
					absent(t, s, tc.name, tc.key)
				}
			}
		})
	}
	// Limits apply to updates of existing entries too, leaving them intact.
	must(s.Insert(c, "n", "grow", raw(`1`), store.WriteOptions{}))(t)
	_, err := s.Update(c, "n", "grow", raw(str(maxData+1)), store.WriteOptions{})
	wantCode(t, err, store.CodeTooLarge, "update over the data limit")
	if g := get(t, s, "n", "grow"); string(g.Data) != "1" {
		t.Fatalf("failed update changed data to %.40s", g.Data)
	}
}

func testEntriesCap(t *testing.T, open Opener) {
	s := open(t, store.Limits{MaxEntriesPerName: 3})
	c := ctx(t)
	for i := 0; i < 3; i++ {
		must(s.Insert(c, "capped", fmt.Sprint("k", i), raw(`1`), store.WriteOptions{}))(t)
	}
	_, err := s.Insert(c, "capped", "k3", raw(`1`), store.WriteOptions{})
	wantCode(t, err, store.CodeTooLarge, "insert past the cap")
	_, err = s.Upsert(c, "capped", "k3", raw(`1`), store.WriteOptions{})
	wantCode(t, err, store.CodeTooLarge, "upsert of a new key past the cap")
	_, err = s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "capped", Key: "k3", Data: raw(`1`)}})
	wantCode(t, err, store.CodeTooLarge, "atomic sum creating a key past the cap")
	absent(t, s, "capped", "k3")
	// Overwriting existing keys at the cap is fine; other namespaces are not affected.
	must(s.Upsert(c, "capped", "k0", raw(`2`), store.WriteOptions{}))(t)
	must(s.Update(c, "capped", "k1", raw(`2`), store.WriteOptions{}))(t)
	must(s.Insert(c, "other", "k3", raw(`1`), store.WriteOptions{}))(t)
	// Delete + create in one atomic stays within the cap.
	must(s.Atomic(c, nil, []store.Mutation{
		{Op: store.OpDelete, Name: "capped", Key: "k2"},
		{Op: store.OpSet, Name: "capped", Key: "k3", Data: raw(`3`)},
	}))(t)
	must(s.Delete(c, "capped", "k3", store.DeleteOptions{}))(t)
	must(s.Insert(c, "capped", "k4", raw(`1`), store.WriteOptions{}))(t)
	p := must(s.Fetch(c, store.FetchQuery{Name: "capped"}))(t)
	if got := keysOf(p.Entries); !slices.Equal(got, []string{"capped/k0", "capped/k1", "capped/k4"}) {
		t.Fatalf("capped namespace holds %v", got)
	}
}

// ---- TTL: expired entries are invisible on every read path ----

func testTTL(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	capped := open(t, store.Limits{MaxEntriesPerName: 2})
	c := ctx(t)
	// Long enough that the checks before expiry finish on a loaded machine
	// against DynamoDB Local (700 ms was not, under a load average of 27).
	const ttl = 2500 * time.Millisecond
	start := time.Now()
	short := store.WriteOptions{TTL: ttl, FlowUUID: "ttl-flow"}
	e := must(s.Insert(c, "ttl", "a", raw(`{"v":"gone"}`), short))(t)
	if e.ExpiresAt == nil || e.ExpiresAt.Before(start.Add(ttl-time.Second)) || e.ExpiresAt.After(time.Now().Add(ttl+time.Second)) {
		t.Fatalf("expiresAt %v for a ttl of %v", e.ExpiresAt, ttl)
	}
	must(s.Upsert(c, "ttl", "b", raw(`5`), short))(t)
	must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "ttl", Key: "c", Data: raw(`{"v":"gone"}`), TTL: ttl}}))(t)
	must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "ttl", Key: "sum", Data: raw(`10`), TTL: ttl}}))(t)
	must(s.Insert(c, "ttlonly", "x", raw(`1`), short))(t)
	// A write without TTL clears an earlier expiry.
	must(s.Insert(c, "ttl", "cleared", raw(`1`), short))(t)
	cl := must(s.Upsert(c, "ttl", "cleared", raw(`2`), store.WriteOptions{}))(t)
	if cl.ExpiresAt != nil {
		t.Fatalf("upsert without ttl kept expiresAt %v", cl.ExpiresAt)
	}
	must(capped.Insert(c, "cap", "x1", raw(`1`), short))(t)
	must(capped.Insert(c, "cap", "x2", raw(`1`), short))(t)
	// Every short TTL counts from its own write: on a loaded machine the
	// last one may be written well after start.
	lastShort := time.Now()
	_, err := capped.Insert(c, "cap", "x3", raw(`1`), store.WriteOptions{})
	wantCode(t, err, store.CodeTooLarge, "insert past the cap before expiry")
	// A long TTL stays visible.
	must(s.Insert(c, "ttl", "long", raw(`{"v":"gone"}`), store.WriteOptions{TTL: time.Hour}))(t)
	if g := get(t, s, "ttl", "a"); string(g.Data) != `{"v":"gone"}` {
		t.Fatalf("entry not visible before expiry: %+v", g)
	}

	time.Sleep(time.Until(lastShort.Add(ttl + 400*time.Millisecond)))

	for _, k := range []string{"a", "b", "c", "sum"} {
		absent(t, s, "ttl", k)
	}
	absent(t, s, "ttlonly", "x")
	visible := []string{"ttl/cleared", "ttl/long"}
	fetches := []store.FetchQuery{
		{},
		{Name: "ttl"},
		{Key: "a"},
		{KeyPrefix: "a"},
		{FlowUUID: "ttl-flow"},
		{Data: raw(`{"v":"gone"}`)},
		{Names: []string{"ttl", "ttlonly"}},
	}
	for _, q := range fetches {
		p := must(s.Fetch(c, q))(t)
		for _, e := range p.Entries {
			if !slices.Contains(visible, e.Name+"/"+e.Key) {
				t.Errorf("fetch %+v returned expired %s/%s", q, e.Name, e.Key)
			}
		}
	}
	if p := must(s.Fetch(c, store.FetchQuery{Data: raw(`{"v":"gone"}`)}))(t); !slices.Equal(keysOf(p.Entries), []string{"ttl/long"}) {
		t.Errorf("fetch by data after expiry: %v", keysOf(p.Entries))
	}
	if p := must(s.List(c, "ttl", "", "", 0))(t); !slices.Equal(keysOf(p.Entries), visible) {
		t.Errorf("list after expiry: %v, want %v", keysOf(p.Entries), visible)
	}
	if es := must(s.FindName(c, "ttl", 0, 0))(t); !slices.Equal(keysOf(es), visible) {
		t.Errorf("findName after expiry: %v", keysOf(es))
	}
	names := must(s.Names(c))(t)
	if !slices.Equal(names, []store.NameCount{{Name: "ttl", Count: 2}}) {
		t.Errorf("names after expiry: %+v", names)
	}
	// Expired entries behave as absent for writes.
	_, err = s.Update(c, "ttl", "a", raw(`1`), store.WriteOptions{})
	wantCode(t, err, store.CodeNotFound, "update of an expired entry")
	if ok := must(s.Delete(c, "ttl", "b", store.DeleteOptions{}))(t); ok {
		t.Error("delete of an expired entry reported true")
	}
	_, err = s.Atomic(c, []store.Check{{Name: "ttl", Key: "c", Version: 1}}, nil)
	wantCode(t, err, store.CodeConflict, "atomic check of an expired entry's version")
	must(s.Atomic(c, []store.Check{{Name: "ttl", Key: "c", Version: 0}}, []store.Mutation{{Op: store.OpSet, Name: "ttl", Key: "c", Data: raw(`1`)}}))(t)
	r := must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "ttl", Key: "sum", Data: raw(`1`)}}))(t)
	if g := get(t, s, "ttl", "sum"); string(g.Data) != "1" || g.Version != r.Versions[0] {
		t.Errorf("sum over an expired entry: %+v, want data 1 (starting from 0)", g)
	}
	ni := must(s.Insert(c, "ttl", "a", raw(`"new"`), store.WriteOptions{}))(t)
	if ni.Version <= e.Version || !ni.CreatedAt.After(e.CreatedAt) || ni.ExpiresAt != nil {
		t.Errorf("insert over an expired entry: %+v (old %+v)", ni, e)
	}
	// Expired entries do not count against MaxEntriesPerName.
	must(capped.Insert(c, "cap", "y1", raw(`1`), store.WriteOptions{}))(t)
	must(capped.Upsert(c, "cap", "y2", raw(`1`), store.WriteOptions{}))(t)
	_, err = capped.Insert(c, "cap", "y3", raw(`1`), store.WriteOptions{})
	wantCode(t, err, store.CodeTooLarge, "insert past the cap of live entries")
}

// ---- atomic ----

func testAtomic(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)

	t.Run("check absent is insert-if-absent", func(t *testing.T) {
		r := must(s.Atomic(c, []store.Check{{Name: "a", Key: "lock", Version: 0}}, []store.Mutation{{Op: store.OpSet, Name: "a", Key: "lock", Data: raw(`"me"`)}}))(t)
		if !r.OK || len(r.Versions) != 1 || r.Versions[0] <= 0 {
			t.Fatalf("result %+v", r)
		}
		_, err := s.Atomic(c, []store.Check{{Name: "a", Key: "lock", Version: 0}}, []store.Mutation{{Op: store.OpSet, Name: "a", Key: "lock", Data: raw(`"you"`)}})
		wantCode(t, err, store.CodeConflict, "second insert-if-absent")
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("%v is not ErrConflict", err)
		}
		if g := get(t, s, "a", "lock"); string(g.Data) != `"me"` || g.Version != r.Versions[0] {
			t.Fatalf("lock is %+v", g)
		}
	})

	t.Run("mixed mutations", func(t *testing.T) {
		x := must(s.Insert(c, "m", "x", raw(`1`), store.WriteOptions{}))(t)
		must(s.Insert(c, "m", "del", raw(`1`), store.WriteOptions{}))(t)
		must(s.Insert(c, "m", "count", raw(`40`), store.WriteOptions{}))(t)
		r := must(s.Atomic(c,
			[]store.Check{{Name: "m", Key: "x", Version: x.Version}, {Name: "m", Key: "new", Version: 0}},
			[]store.Mutation{
				{Op: store.OpSet, Name: "m", Key: "x", Data: raw(`{"b":2,"a":1}`), FlowUUID: "f"},
				{Op: store.OpDelete, Name: "m", Key: "del"},
				{Op: store.OpSum, Name: "m", Key: "count", Data: raw(`2`)},
				{Op: store.OpSum, Name: "m", Key: "fresh", Data: raw(`-2.5`)},
				{Op: store.OpDelete, Name: "m", Key: "never-existed"},
			}))(t)
		if !r.OK || len(r.Versions) != 5 || r.Versions[0] <= x.Version || r.Versions[1] != 0 || r.Versions[2] <= 0 || r.Versions[3] <= 0 || r.Versions[4] != 0 {
			t.Fatalf("result %+v", r)
		}
		if g := get(t, s, "m", "x"); string(g.Data) != `{"a":1,"b":2}` || g.Version != r.Versions[0] || g.FlowUUID != "f" || !g.CreatedAt.Equal(x.CreatedAt) {
			t.Fatalf("x is %+v", g)
		}
		absent(t, s, "m", "del")
		absent(t, s, "m", "new")
		if g := get(t, s, "m", "count"); string(g.Data) != "42" || g.Version != r.Versions[2] {
			t.Fatalf("count is %+v", g)
		}
		if g := get(t, s, "m", "fresh"); string(g.Data) != "-2.5" {
			t.Fatalf("sum on a missing entry gave %s, want -2.5", g.Data)
		}
		r2 := must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSum, Name: "m", Key: "fresh", Data: raw(`0.5`)}}))(t)
		if g := get(t, s, "m", "fresh"); string(g.Data) != "-2" || r2.Versions[0] <= r.Versions[3] {
			t.Fatalf("float sum gave %s", g.Data)
		}
	})

	t.Run("failed check writes nothing", func(t *testing.T) {
		a := must(s.Insert(c, "f", "a", raw(`1`), store.WriteOptions{}))(t)
		b := must(s.Insert(c, "f", "b", raw(`1`), store.WriteOptions{}))(t)
		cases := []struct {
			what   string
			checks []store.Check
		}{
			{"stale version", []store.Check{{Name: "f", Key: "a", Version: a.Version}, {Name: "f", Key: "b", Version: b.Version + 99}}},
			{"present, expected absent", []store.Check{{Name: "f", Key: "b", Version: 0}}},
			{"absent, expected a version", []store.Check{{Name: "f", Key: "a", Version: a.Version}, {Name: "f", Key: "none", Version: 3}}},
		}
		for _, tc := range cases {
			_, err := s.Atomic(c, tc.checks, []store.Mutation{
				{Op: store.OpSet, Name: "f", Key: "a", Data: raw(`2`)},
				{Op: store.OpDelete, Name: "f", Key: "b"},
				{Op: store.OpSum, Name: "f", Key: "n", Data: raw(`1`)},
				{Op: store.OpSet, Name: "f2", Key: "new", Data: raw(`1`)},
			})
			wantCode(t, err, store.CodeConflict, tc.what)
			if g := get(t, s, "f", "a"); string(g.Data) != "1" || g.Version != a.Version {
				t.Fatalf("%s: a is %+v", tc.what, g)
			}
			if g := get(t, s, "f", "b"); g.Version != b.Version {
				t.Fatalf("%s: b is %+v", tc.what, g)
			}
			absent(t, s, "f", "n")
			absent(t, s, "f2", "new")
			absent(t, s, "f", "none")
		}
	})

	t.Run("sum on a non-number", func(t *testing.T) {
		txt := must(s.Insert(c, "s", "text", raw(`"12"`), store.WriteOptions{}))(t)
		must(s.Insert(c, "s", "n", raw(`1`), store.WriteOptions{}))(t)
		_, err := s.Atomic(c, nil, []store.Mutation{
			{Op: store.OpSum, Name: "s", Key: "n", Data: raw(`1`)},
			{Op: store.OpSum, Name: "s", Key: "text", Data: raw(`1`)},
		})
		wantCode(t, err, store.CodeInvalidArgument, "sum on a string")
		if g := get(t, s, "s", "text"); g.Version != txt.Version || string(g.Data) != `"12"` {
			t.Fatalf("text is %+v", g)
		}
		if g := get(t, s, "s", "n"); string(g.Data) != "1" {
			t.Fatalf("the failed atomic wrote n = %s", g.Data)
		}
	})

	t.Run("checks only and empty", func(t *testing.T) {
		a := must(s.Insert(c, "o", "a", raw(`1`), store.WriteOptions{}))(t)
		r := must(s.Atomic(c, []store.Check{{Name: "o", Key: "a", Version: a.Version}, {Name: "o", Key: "b"}}, nil))(t)
		if !r.OK || len(r.Versions) != 0 {
			t.Fatalf("checks-only result %+v", r)
		}
		absent(t, s, "o", "b")
		r = must(s.Atomic(c, nil, nil))(t)
		if !r.OK {
			t.Fatalf("empty atomic %+v", r)
		}
		// A check-absent that held must not leave the key behind.
		must(s.Insert(c, "o", "b", raw(`1`), store.WriteOptions{}))(t)
	})

	t.Run("ttl and flow", func(t *testing.T) {
		r := must(s.Atomic(c, nil, []store.Mutation{{Op: store.OpSet, Name: "t", Key: "k", Data: raw(`1`), TTL: time.Hour, FlowUUID: "fl"}}))(t)
		g := get(t, s, "t", "k")
		if g.ExpiresAt == nil || g.FlowUUID != "fl" || g.Version != r.Versions[0] {
			t.Fatalf("atomic set with ttl: %+v", g)
		}
	})
}

// ---- fetch ----

func seedFetch(t *testing.T, s store.Store) {
	c := ctx(t)
	type row struct{ name, key, data, flow string }
	rows := []row{
		{"alpha", "k1", `{"a":1,"b":2}`, "f1"},
		{"alpha", "k2", `{"a":1}`, "f1"},
		{"alpha", "p/1", `{"b":2,"a":1}`, "f2"},
		{"alpha", "p/2", `[1,2]`, ""},
		{"beta", "k1", `{"a":1,"b":2}`, "f2"},
		{"beta", "p/1", `"x"`, ""},
		{"gamma", "k1", `1`, "f1"},
		{store.ReservedPrefix + "tokens", "k1", `{"a":1,"b":2}`, "f1"},
	}
	for _, r := range rows {
		must(s.Insert(c, r.name, r.key, raw(r.data), store.WriteOptions{FlowUUID: r.flow}))(t)
	}
}

func testFetch(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	seedFetch(t, s)
	res := store.ReservedPrefix + "tokens"
	cases := []struct {
		what string
		q    store.FetchQuery
		want []string
	}{
		{"everything (reserved hidden)", store.FetchQuery{}, []string{"alpha/k1", "alpha/k2", "alpha/p/1", "alpha/p/2", "beta/k1", "beta/p/1", "gamma/k1"}},
		{"by name", store.FetchQuery{Name: "alpha"}, []string{"alpha/k1", "alpha/k2", "alpha/p/1", "alpha/p/2"}},
		{"by key", store.FetchQuery{Key: "k1"}, []string{"alpha/k1", "beta/k1", "gamma/k1"}},
		{"by name and key", store.FetchQuery{Name: "beta", Key: "k1"}, []string{"beta/k1"}},
		{"by key prefix", store.FetchQuery{KeyPrefix: "p/"}, []string{"alpha/p/1", "alpha/p/2", "beta/p/1"}},
		{"by name and key prefix", store.FetchQuery{Name: "alpha", KeyPrefix: "k"}, []string{"alpha/k1", "alpha/k2"}},
		{"by flowUuid", store.FetchQuery{FlowUUID: "f1"}, []string{"alpha/k1", "alpha/k2", "gamma/k1"}},
		{"by data, key order insensitive", store.FetchQuery{Data: raw(`{"b":2,"a":1}`)}, []string{"alpha/k1", "alpha/p/1", "beta/k1"}},
		{"by data, whitespace and number form", store.FetchQuery{Data: raw(` { "a" : 1.0 , "b" : 2e0 } `)}, []string{"alpha/k1", "alpha/p/1", "beta/k1"}},
		{"by data is not a subset match", store.FetchQuery{Data: raw(`{"a":1}`)}, []string{"alpha/k2"}},
		{"by data and name", store.FetchQuery{Name: "beta", Data: raw(`{"a":1,"b":2}`)}, []string{"beta/k1"}},
		{"by data, array", store.FetchQuery{Data: raw(`[1,2]`)}, []string{"alpha/p/2"}},
		{"by data, no match", store.FetchQuery{Data: raw(`[2,1]`)}, nil},
		{"names restriction", store.FetchQuery{Names: []string{"beta", "gamma", "nope"}}, []string{"beta/k1", "beta/p/1", "gamma/k1"}},
		{"empty names matches nothing", store.FetchQuery{Names: []string{}}, nil},
		{"names and data", store.FetchQuery{Names: []string{"alpha"}, Data: raw(`{"a":1,"b":2}`)}, []string{"alpha/k1", "alpha/p/1"}},
		{"names cannot reach reserved", store.FetchQuery{Names: []string{res}}, nil},
		{"data search skips reserved", store.FetchQuery{Data: raw(`{"a":1,"b":2}`), FlowUUID: "f1"}, []string{"alpha/k1"}},
		{"reserved by name", store.FetchQuery{Name: res}, []string{res + "/k1"}},
		{"limit", store.FetchQuery{Limit: 2}, []string{"alpha/k1", "alpha/k2"}},
		{"offset", store.FetchQuery{Offset: 5}, []string{"beta/p/1", "gamma/k1"}},
		{"limit and offset", store.FetchQuery{Limit: 2, Offset: 1, Name: "alpha"}, []string{"alpha/k2", "alpha/p/1"}},
		{"offset past the end", store.FetchQuery{Offset: 100}, nil},
		{"unknown name", store.FetchQuery{Name: "nope"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			p := must(s.Fetch(c, tc.q))(t)
			if got := keysOf(p.Entries); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for _, e := range p.Entries {
				if e.Version <= 0 || e.CreatedAt.IsZero() || len(e.Data) == 0 {
					t.Fatalf("incomplete entry %+v", e)
				}
			}
		})
	}
	p := must(s.Fetch(c, store.FetchQuery{Name: "alpha", Key: "k1"}))(t)
	if len(p.Entries) != 1 || string(p.Entries[0].Data) != `{"a":1,"b":2}` || p.Entries[0].FlowUUID != "f1" {
		t.Fatalf("fetched %+v", p.Entries)
	}
	if p.NextCursor != "" {
		t.Fatalf("a complete page has next cursor %q", p.NextCursor)
	}
}

func testFetchCursor(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	var want []string
	for _, n := range []string{"a", "b", "c"} {
		for i := 0; i < 7; i++ {
			k := fmt.Sprintf("k%02d", i)
			data := `{"even":true}`
			if i%2 == 1 {
				data = `{"even":false}`
			}
			must(s.Insert(c, n, k, raw(data), store.WriteOptions{}))(t)
			if i%2 == 0 {
				want = append(want, n+"/"+k)
			}
		}
	}
	must(s.Insert(c, store.ReservedPrefix+"x", "k00", raw(`{"even":true}`), store.WriteOptions{}))(t)
	for _, limit := range []int{1, 2, 3, 5, 12, 13} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: cursor never ends", limit)
			}
			p := must(s.Fetch(c, store.FetchQuery{Data: raw(`{"even":true}`), Limit: limit, Cursor: cursor}))(t)
			if len(p.Entries) > limit {
				t.Fatalf("page of %d entries for limit %d", len(p.Entries), limit)
			}
			got = append(got, keysOf(p.Entries)...)
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages gave %v, want %v", limit, got, want)
		}
	}
	// Cursor pages of one namespace stay inside it.
	p := must(s.Fetch(c, store.FetchQuery{Name: "b", Limit: 4}))(t)
	p2 := must(s.Fetch(c, store.FetchQuery{Name: "b", Limit: 4, Cursor: p.NextCursor}))(t)
	if got := keysOf(append(p.Entries, p2.Entries...)); len(got) != 7 || got[0] != "b/k00" || got[6] != "b/k06" || p2.NextCursor != "" {
		t.Fatalf("namespace pages %v (next %q)", got, p2.NextCursor)
	}
	_, err := s.Fetch(c, store.FetchQuery{Offset: 2, Cursor: p.NextCursor})
	wantCode(t, err, store.CodeInvalidArgument, "offset with cursor")
}

// ---- list ----

func testList(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	keys := []string{"a", "b/1", "b/2", "b/3", "b0", "b\U0010FFFF", "b\U0010FFFFx", "c", "é", "é/x", "😀", "😀/1"}
	for _, k := range keys {
		must(s.Insert(c, "l", k, raw(`1`), store.WriteOptions{}))(t)
	}
	must(s.Insert(c, "l2", "b/1", raw(`1`), store.WriteOptions{}))(t)
	sorted := slices.Clone(keys)
	sort.Strings(sorted)
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"b", []string{"b/1", "b/2", "b/3", "b0", "b\U0010FFFF", "b\U0010FFFFx"}},
		{"b/", []string{"b/1", "b/2", "b/3"}},
		{"b/2", []string{"b/2"}},
		{"b\U0010FFFF", []string{"b\U0010FFFF", "b\U0010FFFFx"}},
		{"é", []string{"é", "é/x"}},
		{"😀", []string{"😀", "😀/1"}},
		{"zz", nil},
	}
	for _, tc := range cases {
		for _, limit := range []int{1, 2, 100} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(keys)+1 {
					t.Fatalf("prefix %q limit %d: cursor never ends", tc.prefix, limit)
				}
				p := must(s.List(c, "l", tc.prefix, cursor, limit))(t)
				for _, e := range p.Entries {
					if e.Name != "l" {
						t.Fatalf("list of l returned %s/%s", e.Name, e.Key)
					}
					got = append(got, e.Key)
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("prefix %q limit %d: got %q, want %q", tc.prefix, limit, got, tc.want)
			}
		}
	}
	p := must(s.List(c, "empty", "", "", 0))(t)
	if len(p.Entries) != 0 || p.NextCursor != "" {
		t.Fatalf("list of an empty namespace: %+v", p)
	}
}

func testListConcurrentInserts(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	var initial []string
	for i := 0; i < 40; i += 2 {
		k := fmt.Sprintf("k%03d", i)
		initial = append(initial, k)
		must(s.Insert(c, "grow", k, raw(`1`), store.WriteOptions{}))(t)
	}
	// A writer inserts other keys of the namespace all along.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := s.Insert(c, "grow", fmt.Sprintf("k%03d-%d", i%40, i), raw(`3`), store.WriteOptions{}); err != nil {
				done <- err
				return
			}
		}
	}()
	var got []string
	cursor := ""
	inserted := map[string]bool{}
	for page := 0; ; page++ {
		p := must(s.List(c, "grow", "k", cursor, 5))(t)
		for _, e := range p.Entries {
			got = append(got, e.Key)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		// Between pages, writers insert before and after the cursor.
		var mu sync.Mutex
		var wg sync.WaitGroup
		listed := got[len(got)-1]
		for _, off := range []int{-3, 1, 3} {
			i := page*10 + 5 + off*2
			if i < 0 || i >= 60 {
				continue
			}
			k := fmt.Sprintf("k%03d", i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Insert(c, "grow", k, raw(`2`), store.WriteOptions{}); err == nil {
					mu.Lock()
					inserted[k] = k > listed
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("background writer: %v", err)
	}
	if !sort.StringsAreSorted(got) {
		t.Fatalf("pages out of order: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("key %s listed twice", got[i])
		}
	}
	for _, k := range initial {
		if !slices.Contains(got, k) {
			t.Fatalf("initial key %s missing from the pages %v", k, got)
		}
	}
	// A key inserted ahead of the cursor before the next page is read
	// must be listed.
	for k, ahead := range inserted {
		if ahead && !slices.Contains(got, k) {
			t.Fatalf("key %s inserted ahead of the cursor was not listed (pages %v)", k, got)
		}
	}
}

// ---- cursors: forged or foreign cursors never escape their query ----

func testCursors(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	for _, n := range []string{"mine", "theirs", store.ReservedPrefix + "secret"} {
		for i := 0; i < 5; i++ {
			must(s.Insert(c, n, fmt.Sprintf("p%d", i), raw(`1`), store.WriteOptions{}))(t)
			must(s.Insert(c, n, fmt.Sprintf("q%d", i), raw(`1`), store.WriteOptions{}))(t)
		}
	}
	theirs := must(s.List(c, "theirs", "", "", 2))(t)
	forged := []string{
		"garbage",
		"%%%",
		strings.Repeat("A", 5000),
		store.EncodeCursor(),
		store.EncodeCursor("a", "b", "c", "d", "e"),
		store.EncodeCursor("theirs", "p1"),
		store.EncodeCursor("l", "theirs", "p1"),
		store.EncodeCursor("f", "theirs", "p1"),
		store.EncodeCursor("l", "mine", "\xff"),
		theirs.NextCursor,
	}
	for _, cur := range forged {
		p, err := s.List(c, "mine", "p", cur, 3)
		if err != nil {
			wantCode(t, err, store.CodeInvalidArgument, "list with forged cursor "+cur)
			continue
		}
		for _, e := range p.Entries {
			if e.Name != "mine" || !strings.HasPrefix(e.Key, "p") {
				t.Fatalf("forged cursor %q escaped to %s/%s", cur, e.Name, e.Key)
			}
		}
	}
	for _, cur := range forged {
		p, err := s.Fetch(c, store.FetchQuery{Names: []string{"mine"}, Limit: 3, Cursor: cur})
		if err != nil {
			wantCode(t, err, store.CodeInvalidArgument, "fetch with forged cursor")
			continue
		}
		for _, e := range p.Entries {
			if e.Name != "mine" {
				t.Fatalf("forged fetch cursor %q escaped to %s/%s", cur, e.Name, e.Key)
			}
		}
		p, err = s.Fetch(c, store.FetchQuery{Limit: 3, Cursor: cur})
		if err == nil {
			for _, e := range p.Entries {
				if store.IsReserved(e.Name) {
					t.Fatalf("forged fetch cursor %q reached reserved %s/%s", cur, e.Name, e.Key)
				}
			}
		}
	}
}

// ---- findName ----

func testFindName(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	for i := 9; i >= 0; i-- {
		must(s.Insert(c, "fn", fmt.Sprintf("k%d", i), raw(fmt.Sprint(i)), store.WriteOptions{}))(t)
	}
	must(s.Insert(c, "other", "k0", raw(`1`), store.WriteOptions{}))(t)
	cases := []struct {
		limit, offset int
		want          []string
	}{
		{0, 0, []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}},
		{3, 0, []string{"k0", "k1", "k2"}},
		{3, 8, []string{"k8", "k9"}},
		{5, 10, nil},
	}
	for _, tc := range cases {
		es := must(s.FindName(c, "fn", tc.limit, tc.offset))(t)
		var got []string
		for _, e := range es {
			if e.Name != "fn" {
				t.Fatalf("findName returned %s/%s", e.Name, e.Key)
			}
			got = append(got, e.Key)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("limit %d offset %d: %v, want %v", tc.limit, tc.offset, got, tc.want)
		}
	}
	if es := must(s.FindName(c, "none", 0, 0))(t); len(es) != 0 {
		t.Fatalf("findName of an empty namespace: %v", keysOf(es))
	}
}

// ---- names ----

func testNames(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	if ns := must(s.Names(c))(t); len(ns) != 0 {
		t.Fatalf("names of an empty store: %+v", ns)
	}
	for i := 0; i < 3; i++ {
		must(s.Insert(c, "zeta", fmt.Sprint(i), raw(`1`), store.WriteOptions{}))(t)
	}
	must(s.Insert(c, "alpha", "x", raw(`1`), store.WriteOptions{}))(t)
	must(s.Insert(c, "gone", "x", raw(`1`), store.WriteOptions{}))(t)
	must(s.Insert(c, store.ReservedPrefix+"tokens", "t", raw(`1`), store.WriteOptions{}))(t)
	must(s.Insert(c, "_flowkv", "not-reserved", raw(`1`), store.WriteOptions{}))(t)
	must(s.Delete(c, "gone", "x", store.DeleteOptions{}))(t)
	want := []store.NameCount{{Name: "_flowkv", Count: 1}, {Name: "alpha", Count: 1}, {Name: "zeta", Count: 3}}
	if ns := must(s.Names(c))(t); !slices.Equal(ns, want) {
		t.Fatalf("names %+v, want %+v", ns, want)
	}
}

// ---- unicode ----

func testUnicode(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	cases := []struct{ name, key string }{
		{"orders/2024", "a/b/c"},
		{"ns:with:colons", "key:1"},
		{"with spaces", "a key with spaces"},
		{"émoji 😀", "🔑 key"},
		{"日本語", "キー"},
		{"mixed/ :😀", "/:😀 "},
		{"%2F", "%00"},
		{"'quote\"", "back\\slash"},
		{"_flowkv", "not reserved"},
	}
	for i, tc := range cases {
		e := must(s.Insert(c, tc.name, tc.key, raw(fmt.Sprintf(`{"i":%d,"s":%q}`, i, tc.key)), store.WriteOptions{}))(t)
		if e.Name != tc.name || e.Key != tc.key {
			t.Fatalf("insert returned %q/%q", e.Name, e.Key)
		}
	}
	for i, tc := range cases {
		g := get(t, s, tc.name, tc.key)
		if g.Name != tc.name || g.Key != tc.key || string(g.Data) != canon(t, fmt.Sprintf(`{"i":%d,"s":%q}`, i, tc.key)) {
			t.Fatalf("get %q/%q: %+v", tc.name, tc.key, g)
		}
		first := string([]rune(tc.key)[:1])
		p := must(s.List(c, tc.name, first, "", 0))(t)
		if !slices.Equal(keysOf(p.Entries), []string{tc.name + "/" + tc.key}) {
			t.Fatalf("list %q prefix %q: %v", tc.name, first, keysOf(p.Entries))
		}
		p = must(s.Fetch(c, store.FetchQuery{Name: tc.name, Key: tc.key}))(t)
		if len(p.Entries) != 1 {
			t.Fatalf("fetch %q/%q: %v", tc.name, tc.key, keysOf(p.Entries))
		}
		p = must(s.Fetch(c, store.FetchQuery{Data: raw(fmt.Sprintf(`{"s":%q,"i":%d}`, tc.key, i))}))(t)
		if !slices.Equal(keysOf(p.Entries), []string{tc.name + "/" + tc.key}) {
			t.Fatalf("fetch by data %q: %v", tc.key, keysOf(p.Entries))
		}
	}
	ns := must(s.Names(c))(t)
	if len(ns) != len(cases) {
		t.Fatalf("names %+v", ns)
	}
	for _, tc := range cases {
		if ok := must(s.Delete(c, tc.name, tc.key, store.DeleteOptions{}))(t); !ok {
			t.Fatalf("delete %q/%q reported false", tc.name, tc.key)
		}
	}
	// A string with a NUL escape is valid JSON and either round-trips or is
	// refused as invalid_argument — never stored differently.
	e, err := s.Insert(c, "nul", "k", raw(`"a\u0000b"`), store.WriteOptions{})
	if err != nil {
		wantCode(t, err, store.CodeInvalidArgument, "data with \\u0000")
	} else if g := get(t, s, "nul", "k"); string(g.Data) != string(e.Data) {
		t.Fatalf("\\u0000 data came back as %s", g.Data)
	}
}

// ---- concurrency ----

func testConcurrentSum(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	const workers, each = 16, 12
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := s.Atomic(c, nil, []store.Mutation{
					{Op: store.OpSum, Name: "counter", Key: "total", Data: raw(`1`)},
					{Op: store.OpSum, Name: "counter", Key: "half", Data: raw(`0.5`)},
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent sum: %v", err)
	}
	if g := get(t, s, "counter", "total"); string(g.Data) != fmt.Sprint(workers*each) {
		t.Fatalf("total is %s, want %d", g.Data, workers*each)
	}
	if g := get(t, s, "counter", "half"); string(g.Data) != fmt.Sprint(workers*each/2) {
		t.Fatalf("half is %s, want %d", g.Data, workers*each/2)
	}

	// Compare-and-set increments: every success is counted exactly once.
	var mu sync.Mutex
	wins := 0
	must(s.Insert(c, "counter", "cas", raw(`0`), store.WriteOptions{}))(t)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				e, err := s.FindNameKey(c, "counter", "cas")
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := store.ParseNumber(e.Data)
				_, err = s.Atomic(c, []store.Check{{Name: "counter", Key: "cas", Version: e.Version}},
					[]store.Mutation{{Op: store.OpSet, Name: "counter", Key: "cas", Data: raw(fmt.Sprint(n.Int + 1))}})
				switch store.CodeOf(err) {
				case "":
					mu.Lock()
					wins++
					mu.Unlock()
				case store.CodeConflict:
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if g := get(t, s, "counter", "cas"); string(g.Data) != fmt.Sprint(wins) || wins == 0 {
		t.Fatalf("cas counter is %s after %d successful compare-and-sets", g.Data, wins)
	}
}

func testConcurrentInsert(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	const workers = 16
	for round, mode := range []string{"insert", "atomic check-absent"} {
		key := fmt.Sprint("race-", round)
		var wg sync.WaitGroup
		results := make(chan error, workers)
		start := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var err error
				data := raw(fmt.Sprint(w))
				if mode == "insert" {
					_, err = s.Insert(c, "race", key, data, store.WriteOptions{})
				} else {
					_, err = s.Atomic(c, []store.Check{{Name: "race", Key: key}}, []store.Mutation{{Op: store.OpSet, Name: "race", Key: key, Data: data}})
				}
				results <- err
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		wins := 0
		for err := range results {
			switch store.CodeOf(err) {
			case "":
				wins++
			case store.CodeAlreadyExists, store.CodeConflict:
			default:
				t.Fatalf("%s: unexpected error %v", mode, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%s: %d of %d racing writers won, want exactly 1", mode, wins, workers)
		}
		get(t, s, "race", key)
	}
}

// ---- import ----

func testImport(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	imp, ok := s.(store.Importer)
	if !ok {
		t.Skip("the store does not implement store.Importer")
	}
	c := ctx(t)
	created := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	updated := created.Add(time.Hour)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	in := store.Entry{Name: "imp", Key: "a", Data: raw(`{"y":2,"x":1}`), Version: 5000, FlowUUID: "fl", CreatedAt: created, UpdatedAt: updated, ExpiresAt: &expires}
	e := must(imp.Import(c, in))(t)
	g := get(t, s, "imp", "a")
	if g.Version < 5000 || g.Version != e.Version || string(g.Data) != `{"x":1,"y":2}` || g.FlowUUID != "fl" ||
		!g.CreatedAt.Equal(created) || !g.UpdatedAt.Equal(updated) || g.ExpiresAt == nil || !g.ExpiresAt.Equal(expires) {
		t.Fatalf("imported %+v, got %+v", in, g)
	}
	// Later writes continue above the imported version.
	up := must(s.Upsert(c, "imp", "a", raw(`1`), store.WriteOptions{}))(t)
	if up.Version <= g.Version {
		t.Fatalf("upsert after import: version %d, imported %d", up.Version, g.Version)
	}
	// Importing a lower version never lowers the entry's version.
	low := in
	low.Version = 1
	e2 := must(imp.Import(c, low))(t)
	if e2.Version <= up.Version || get(t, s, "imp", "a").Version != e2.Version {
		t.Fatalf("import of version 1 over version %d gave %d", up.Version, e2.Version)
	}
	// Nor after a delete: the old versions are never handed out again.
	must(s.Delete(c, "imp", "a", store.DeleteOptions{}))(t)
	e3 := must(imp.Import(c, low))(t)
	if e3.Version <= e2.Version {
		t.Fatalf("import after delete gave version %d, had %d", e3.Version, e2.Version)
	}
	// An entry without TTL, and an expired one (imported but invisible).
	must(imp.Import(c, store.Entry{Name: "imp", Key: "forever", Data: raw(`1`), Version: 3, CreatedAt: created, UpdatedAt: created}))(t)
	if g := get(t, s, "imp", "forever"); g.ExpiresAt != nil || g.Version < 3 {
		t.Fatalf("forever: %+v", g)
	}
	past := time.Now().Add(-time.Hour)
	must(imp.Import(c, store.Entry{Name: "imp", Key: "old", Data: raw(`1`), Version: 3, CreatedAt: created, UpdatedAt: created, ExpiresAt: &past}))(t)
	absent(t, s, "imp", "old")
	_, err := imp.Import(c, store.Entry{Name: "imp", Key: strings.Repeat("k", 257), Data: raw(`1`)})
	wantCode(t, err, store.CodeTooLarge, "import of a key over the limit")
	_, err = imp.Import(c, store.Entry{Name: "imp", Key: "bad", Data: raw(`{`)})
	wantCode(t, err, store.CodeInvalidArgument, "import of invalid data")
}

// testReadRanges: key ranges of Deno KV tuple keys (and flat keys beside
// them), forward and reverse, bounded, limited, expired entries left out.
func testReadRanges(t *testing.T, open Opener) {
	s := open(t, store.Limits{})
	c := ctx(t)
	key := func(parts ...any) string {
		b, err := store.PackTuple(parts)
		if err != nil {
			t.Fatal(err)
		}
		return store.TupleKey(b)
	}
	bound := func(parts []any, suffix ...byte) string {
		b, _ := store.PackTuple(parts)
		return store.TupleKey(append(b, suffix...))
	}
	// In Deno KV order.
	keys := []string{key("a", []byte{0}), key("a", ""), key("a", "x"), key("a", "x", 1.0), key("a", 2.0), key("a", 10.0), key("a", true), key("b")}
	for i := len(keys) - 1; i >= 0; i-- {
		must(s.Upsert(c, "rr", keys[i], raw(fmt.Sprint(i)), store.WriteOptions{}))(t)
	}
	must(s.Upsert(c, "rr", "flat", raw(`"flat"`), store.WriteOptions{}))(t)
	must(s.Upsert(c, "rr2", key("a", "x"), raw(`"other namespace"`), store.WriteOptions{}))(t)
	must(s.Upsert(c, "rr", key("a", "gone"), raw(`1`), store.WriteOptions{TTL: time.Millisecond}))(t)
	time.Sleep(5 * time.Millisecond)
	prefixA := []any{"a"}
	got := must(s.ReadRanges(c, "rr", []store.KeyRange{
		{Start: bound(prefixA, 0), End: bound(prefixA, 0xff), Limit: 100},
		{Start: bound(prefixA, 0), End: bound(prefixA, 0xff), Limit: 3, Reverse: true},
		{Start: key("a", "x"), End: key("a", 10.0), Limit: 100},
		{Start: key("a", "x"), End: key("a", 10.0), Limit: 2, Reverse: true},
		{Start: key("a", true), Limit: 100},
		{Start: key("b"), End: key("a"), Limit: 5},
		{Start: key("a", 2.0), End: bound([]any{"a", 2.0}, 0), Limit: 1},
	}))(t)
	keysOf := func(es []store.Entry) []string {
		out := []string{}
		for _, e := range es {
			if e.Name != "rr" {
				t.Errorf("an entry of %q in a range of rr", e.Name)
			}
			out = append(out, e.Key)
		}
		return out
	}
	rev := func(ks []string) []string {
		out := slices.Clone(ks)
		slices.Reverse(out)
		return out
	}
	want := [][]string{keys[:7], rev(keys[:7])[:3], keys[2:5], rev(keys[2:5])[:2], append(slices.Clone(keys[6:]), "flat"), {}, keys[4:5]}
	for i := range want {
		if g := keysOf(got[i]); !slices.Equal(g, want[i]) {
			t.Errorf("range %d: %q, want %q", i, g, want[i])
		}
	}
	if string(got[6][0].Data) != "4" || got[6][0].Version <= 0 {
		t.Errorf("point read: %+v", got[6][0])
	}
	_, err := s.ReadRanges(c, "rr", []store.KeyRange{{Start: key("a"), Limit: 0}})
	wantCode(t, err, store.CodeInvalidArgument, "limit 0")
	_, err = s.ReadRanges(c, "rr", make([]store.KeyRange, 11))
	wantCode(t, err, store.CodeInvalidArgument, "11 ranges")
	if out, err := s.ReadRanges(c, "rr", nil); err != nil || len(out) != 0 {
		t.Errorf("no ranges: %v %v", out, err)
	}
}
