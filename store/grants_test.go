package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestParseGrants(t *testing.T) {
	t.Parallel()
	g, err := store.ParseGrants([]string{"orders:read", "orders:write", "users:r", "logs", "*:read", "ns:with:colon:rw"})
	if err != nil {
		t.Fatalf("ParseGrants: %v", err)
	}
	want := store.Grants{"orders": store.Write, "users": store.Read, "logs": store.Write, "*": store.Read, "ns:with:colon": store.Write}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("ParseGrants = %v, want %v", g, want)
	}
	// The higher access wins whatever the order.
	g, err = store.ParseGrants([]string{"a:write", "a:read"})
	if err != nil || g["a"] != store.Write {
		t.Fatalf("write then read = %v, %v", g, err)
	}
	if got := g.Strings(); !slices.Equal(got, []string{"a:write"}) {
		t.Fatalf("Strings() = %q", got)
	}
	for _, bad := range []string{"orders:admin", ":read", "a\x00b:read", string(make([]byte, 129)) + ":read", "x:"} {
		if _, err := store.ParseGrants([]string{bad}); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("ParseGrants(%.20q) = %v, want invalid_argument", bad, err)
		}
	}
	if g, err := store.ParseGrants(nil); err != nil || len(g) != 0 {
		t.Errorf("ParseGrants(nil) = %v, %v", g, err)
	}
}

func TestParseAccess(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]store.Access{"read": store.Read, "R": store.Read, " write ": store.Write, "rw": store.Write, "w": store.Write} {
		if got, err := store.ParseAccess(in); err != nil || got != want {
			t.Errorf("ParseAccess(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := store.ParseAccess("none"); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("ParseAccess(none) = %v", err)
	}
	if store.Read.String() != "read" || store.Write.String() != "write" || store.NoAccess.String() != "none" {
		t.Error("Access.String is wrong")
	}
}

func TestGrantsLevelAllow(t *testing.T) {
	t.Parallel()
	g := store.Grants{"orders": store.Write, "users": store.Read, "_flowkv.tokens": store.Write}
	cases := []struct {
		grants store.Grants
		name   string
		want   store.Access
	}{
		{g, "orders", store.Write},
		{g, "users", store.Read},
		{g, "other", store.NoAccess},
		{g, "_flowkv.tokens", store.NoAccess}, // reserved: never granted, even by name
		{store.AllGrants(), "anything", store.Write},
		{store.AllGrants(), "_flowkv.tokens", store.NoAccess},
		{store.Grants{"*": store.Read, "orders": store.Write}, "orders", store.Write},
		{store.Grants{"*": store.Write, "orders": store.Read}, "orders", store.Write},
		{store.Grants{"*": store.Read}, "x", store.Read},
		{nil, "orders", store.NoAccess},
		{store.NamespaceGrants([]string{"default", "orders"}), "orders", store.Write},
		{store.NamespaceGrants([]string{"default", "orders"}), "users", store.NoAccess},
		{store.NamespaceGrants([]string{"*"}), "users", store.Write},
	}
	for _, c := range cases {
		if got := c.grants.Level(c.name); got != c.want {
			t.Errorf("%v.Level(%q) = %v, want %v", c.grants, c.name, got, c.want)
		}
		for _, want := range []store.Access{store.Read, store.Write} {
			err := c.grants.Allow(c.name, want)
			if allowed := err == nil; allowed != (c.want >= want) {
				t.Errorf("%v.Allow(%q, %v) = %v", c.grants, c.name, want, err)
			}
			if err != nil && store.CodeOf(err) != store.CodeAccessDenied {
				t.Errorf("Allow error %v is not access_denied", err)
			}
		}
	}
}

func TestGrantsNames(t *testing.T) {
	t.Parallel()
	if n := store.AllGrants().Names(); n != nil {
		t.Errorf("wildcard Names() = %q, want nil (all)", n)
	}
	if n := (store.Grants{"*": store.Read}).Names(); n != nil {
		t.Errorf("wildcard read Names() = %q, want nil", n)
	}
	g := store.Grants{"b": store.Read, "a": store.Write, "_flowkv.flows": store.Write, "c": store.NoAccess}
	if n := g.Names(); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("Names() = %q, want [a b]", n)
	}
	if n := (store.Grants{}).Names(); n == nil || len(n) != 0 {
		t.Errorf("empty grants Names() = %#v, want empty non-nil (nothing)", n)
	}
}

// recorder is a minimal store.Store that records which methods reached it
// and what they were asked. It checks only that the WithGrants and WithFlow
// wrappers forward or refuse; it is not a database.
type recorder struct {
	calls  []string
	query  store.FetchQuery
	opts   store.WriteOptions
	muts   []store.Mutation
	names  []store.NameCount
	closed bool
}

func (r *recorder) Fetch(_ context.Context, q store.FetchQuery) (store.Page, error) {
	r.calls, r.query = append(r.calls, "Fetch"), q
	return store.Page{}, nil
}
func (r *recorder) FindName(context.Context, string, int, int) ([]store.Entry, error) {
	r.calls = append(r.calls, "FindName")
	return nil, nil
}
func (r *recorder) FindNameKey(context.Context, string, string) (store.Entry, error) {
	r.calls = append(r.calls, "FindNameKey")
	return store.Entry{}, nil
}
func (r *recorder) Insert(_ context.Context, _, _ string, _ json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	r.calls, r.opts = append(r.calls, "Insert"), o
	return store.Entry{}, nil
}
func (r *recorder) Upsert(_ context.Context, _, _ string, _ json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	r.calls, r.opts = append(r.calls, "Upsert"), o
	return store.Entry{}, nil
}
func (r *recorder) Update(_ context.Context, _, _ string, _ json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	r.calls, r.opts = append(r.calls, "Update"), o
	return store.Entry{}, nil
}
func (r *recorder) Delete(context.Context, string, string, store.DeleteOptions) (bool, error) {
	r.calls = append(r.calls, "Delete")
	return true, nil
}
func (r *recorder) Atomic(_ context.Context, _ []store.Check, m []store.Mutation) (store.AtomicResult, error) {
	r.calls, r.muts = append(r.calls, "Atomic"), m
	return store.AtomicResult{OK: true}, nil
}
func (r *recorder) List(context.Context, string, string, string, int) (store.Page, error) {
	r.calls = append(r.calls, "List")
	return store.Page{}, nil
}
func (r *recorder) ReadRanges(context.Context, string, []store.KeyRange) ([][]store.Entry, error) {
	return nil, nil
}
func (r *recorder) Names(context.Context) ([]store.NameCount, error) {
	r.calls = append(r.calls, "Names")
	return r.names, nil
}
func (r *recorder) Query(context.Context, store.Query) (store.QueryPage, error) {
	r.calls = append(r.calls, "Query")
	return store.QueryPage{}, nil
}
func (r *recorder) CreateIndex(context.Context, string, string) (store.Index, error) {
	r.calls = append(r.calls, "CreateIndex")
	return store.Index{}, nil
}
func (r *recorder) DropIndex(context.Context, string, string) (bool, error) {
	r.calls = append(r.calls, "DropIndex")
	return false, nil
}
func (r *recorder) Indexes(context.Context, string) ([]store.Index, error) {
	r.calls = append(r.calls, "Indexes")
	return nil, nil
}
func (r *recorder) Limits() store.Limits       { return store.DefaultLimits() }
func (r *recorder) Ping(context.Context) error { return nil }
func (r *recorder) Close() error               { r.closed = true; return nil }
func (r *recorder) Import(context.Context, store.Entry) (store.Entry, error) {
	r.calls = append(r.calls, "Import")
	return store.Entry{}, nil
}

func TestWithGrantsForwardsOrRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := json.RawMessage(`1`)
	g := store.Grants{"rw": store.Write, "ro": store.Read}
	ops := []struct {
		name string
		call func(s store.Store, ns string) error
		need store.Access
	}{
		{"FindName", func(s store.Store, ns string) error { _, err := s.FindName(ctx, ns, 0, 0); return err }, store.Read},
		{"FindNameKey", func(s store.Store, ns string) error { _, err := s.FindNameKey(ctx, ns, "k"); return err }, store.Read},
		{"List", func(s store.Store, ns string) error { _, err := s.List(ctx, ns, "", "", 0); return err }, store.Read},
		{"Fetch", func(s store.Store, ns string) error { _, err := s.Fetch(ctx, store.FetchQuery{Name: ns}); return err }, store.Read},
		{"Insert", func(s store.Store, ns string) error {
			_, err := s.Insert(ctx, ns, "k", data, store.WriteOptions{})
			return err
		}, store.Write},
		{"Upsert", func(s store.Store, ns string) error {
			_, err := s.Upsert(ctx, ns, "k", data, store.WriteOptions{})
			return err
		}, store.Write},
		{"Update", func(s store.Store, ns string) error {
			_, err := s.Update(ctx, ns, "k", data, store.WriteOptions{})
			return err
		}, store.Write},
		{"Delete", func(s store.Store, ns string) error {
			_, err := s.Delete(ctx, ns, "k", store.DeleteOptions{})
			return err
		}, store.Write},
		{"Atomic", func(s store.Store, ns string) error {
			_, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSet, Name: ns, Key: "k", Data: data}})
			return err
		}, store.Write},
		{"Atomic", func(s store.Store, ns string) error {
			_, err := s.Atomic(ctx, []store.Check{{Name: ns, Key: "k"}}, nil)
			return err
		}, store.Read},
		{"Query", func(s store.Store, ns string) error { _, err := s.Query(ctx, store.Query{Name: ns}); return err }, store.Read},
		{"CreateIndex", func(s store.Store, ns string) error { _, err := s.CreateIndex(ctx, ns, "f"); return err }, store.Write},
		{"DropIndex", func(s store.Store, ns string) error { _, err := s.DropIndex(ctx, ns, "f"); return err }, store.Write},
		{"Indexes", func(s store.Store, ns string) error { _, err := s.Indexes(ctx, ns); return err }, store.Read},
	}
	for _, op := range ops {
		for _, ns := range []string{"rw", "ro", "none", "_flowkv.tokens"} {
			rec := &recorder{}
			err := op.call(store.WithGrants(rec, g), ns)
			allowed := g.Level(ns) >= op.need
			if allowed && (err != nil || !slices.Equal(rec.calls, []string{op.name})) {
				t.Errorf("%s on %q: err %v, calls %q; want forwarded", op.name, ns, err, rec.calls)
			}
			if !allowed && (store.CodeOf(err) != store.CodeAccessDenied || len(rec.calls) != 0) {
				t.Errorf("%s on %q: err %v, calls %q; want access_denied and nothing forwarded", op.name, ns, err, rec.calls)
			}
		}
	}
	// Atomic touching one allowed and one refused namespace forwards nothing.
	rec := &recorder{}
	_, err := store.WithGrants(rec, g).Atomic(ctx, nil, []store.Mutation{
		{Op: store.OpSet, Name: "rw", Key: "k", Data: data},
		{Op: store.OpSet, Name: "ro", Key: "k", Data: data},
	})
	if store.CodeOf(err) != store.CodeAccessDenied || len(rec.calls) != 0 {
		t.Errorf("mixed atomic: %v, %q", err, rec.calls)
	}
}

func TestWithGrantsFetchAndNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	g := store.Grants{"a": store.Read, "b": store.Write}
	if _, err := store.WithGrants(rec, g).Fetch(ctx, store.FetchQuery{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.query.Names, []string{"a", "b"}) || rec.query.Key != "k" {
		t.Errorf("unfiltered fetch forwarded %+v, want Names [a b]", rec.query)
	}
	rec = &recorder{}
	if _, err := store.WithGrants(rec, g).Fetch(ctx, store.FetchQuery{Names: []string{"b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.query.Names, []string{"b"}) {
		t.Errorf("fetch with Names [b c] forwarded %q, want [b]", rec.query.Names)
	}
	rec = &recorder{}
	if _, err := store.WithGrants(rec, store.Grants{}).Fetch(ctx, store.FetchQuery{}); err != nil {
		t.Fatal(err)
	}
	if rec.query.Names == nil || len(rec.query.Names) != 0 {
		t.Errorf("no grants forwarded Names %#v, want empty non-nil (matches nothing)", rec.query.Names)
	}
	rec = &recorder{}
	if _, err := store.WithGrants(rec, store.AllGrants()).Fetch(ctx, store.FetchQuery{}); err != nil {
		t.Fatal(err)
	}
	if rec.query.Names != nil {
		t.Errorf("wildcard forwarded Names %q, want nil", rec.query.Names)
	}

	rec = &recorder{names: []store.NameCount{{Name: "a", Count: 1}, {Name: "b", Count: 2}, {Name: "c", Count: 3}}}
	got, err := store.WithGrants(rec, store.Grants{"a": store.Read, "c": store.Write}).Names(ctx)
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("Names = %v, %v; want a and c", got, err)
	}
	if len(rec.names) != 3 || rec.names[1].Name != "b" {
		t.Errorf("Names modified the wrapped store's slice: %v", rec.names)
	}

	// A guarded view does not own the store; its Import checks Write.
	guarded := store.WithGrants(rec, store.Grants{"a": store.Write, "b": store.Read})
	if err := guarded.Close(); err != nil || rec.closed {
		t.Errorf("guarded Close closed the wrapped store")
	}
	imp, ok := guarded.(store.Importer)
	if !ok {
		t.Fatal("a guarded view of an Importer does not import")
	}
	rec.calls = nil
	if _, err := imp.Import(ctx, store.Entry{Name: "b", Key: "k"}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Errorf("Import into a read-only namespace: %v, want access_denied", err)
	}
	if _, err := imp.Import(ctx, store.Entry{Name: "_flowkv.tokens", Key: "k"}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Errorf("Import into a reserved namespace: %v, want access_denied", err)
	}
	if _, err := imp.Import(ctx, store.Entry{Name: "a", Key: "k"}); err != nil || len(rec.calls) != 1 || rec.calls[0] != "Import" {
		t.Errorf("Import into a granted namespace: %v, calls %v", err, rec.calls)
	}
	// A view of a store without Import has none either.
	if _, ok := store.WithGrants(struct{ store.Store }{rec}, store.AllGrants()).(store.Importer); ok {
		t.Errorf("a guarded view invents Import")
	}
	// A flow's view (WithFlow) never imports: a flow cannot restore another flow's flowUuid.
	if _, ok := store.WithFlow(guarded, "f").(store.Importer); ok {
		t.Errorf("a flow-stamped view exposes Import")
	}
}

func TestWithFlowStampsWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	s := store.WithFlow(rec, "flow-1")
	_, _ = s.Insert(ctx, "a", "k", json.RawMessage(`1`), store.WriteOptions{FlowUUID: "forged", IfVersion: 3})
	if rec.opts.FlowUUID != "flow-1" || rec.opts.IfVersion != 3 {
		t.Errorf("Insert forwarded %+v", rec.opts)
	}
	_, _ = s.Upsert(ctx, "a", "k", json.RawMessage(`1`), store.WriteOptions{})
	if rec.opts.FlowUUID != "flow-1" {
		t.Errorf("Upsert forwarded %+v", rec.opts)
	}
	_, _ = s.Update(ctx, "a", "k", json.RawMessage(`1`), store.WriteOptions{})
	if rec.opts.FlowUUID != "flow-1" {
		t.Errorf("Update forwarded %+v", rec.opts)
	}
	muts := []store.Mutation{{Op: store.OpSet, Name: "a", Key: "k", Data: json.RawMessage(`1`)}}
	_, _ = s.Atomic(ctx, nil, muts)
	if len(rec.muts) != 1 || rec.muts[0].FlowUUID != "flow-1" || muts[0].FlowUUID != "" {
		t.Errorf("Atomic forwarded %+v (caller's slice %+v)", rec.muts, muts)
	}
	if err := s.Close(); err != nil || rec.closed {
		t.Error("stamped Close closed the wrapped store")
	}
}
