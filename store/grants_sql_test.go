package store_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// TestWithGrantsOnSQLite checks the grant guard in front of a real store:
// what a guarded view can see and change, and that a refused write leaves
// the database untouched.
func TestWithGrantsOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	raw, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	for _, ns := range []string{"orders", "users", "secret", "_flowkv.tokens"} {
		if _, err := raw.Insert(ctx, ns, "k", json.RawMessage(`{"v":1}`), store.WriteOptions{}); err != nil {
			t.Fatalf("insert %s: %v", ns, err)
		}
	}
	g := store.WithGrants(raw, store.Grants{"orders": store.Write, "users": store.Read})

	page, err := g.Fetch(ctx, store.FetchQuery{Data: json.RawMessage(`{"v":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range page.Entries {
		seen = append(seen, e.Name)
	}
	if !slices.Equal(seen, []string{"orders", "users"}) {
		t.Fatalf("guarded fetch saw %q, want orders and users", seen)
	}
	names, err := g.Names(ctx)
	if err != nil || len(names) != 2 || names[0].Name != "orders" || names[1].Name != "users" {
		t.Fatalf("guarded names = %v, %v", names, err)
	}

	if _, err := g.Upsert(ctx, "users", "k", json.RawMessage(`2`), store.WriteOptions{}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("write with a read grant: %v", err)
	}
	if _, err := g.Delete(ctx, "secret", "k", store.DeleteOptions{}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("delete without a grant: %v", err)
	}
	if _, err := g.Atomic(ctx, nil, []store.Mutation{
		{Op: store.OpSet, Name: "orders", Key: "k", Data: json.RawMessage(`3`)},
		{Op: store.OpSet, Name: "secret", Key: "k", Data: json.RawMessage(`3`)},
	}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("atomic touching an ungranted namespace: %v", err)
	}
	for _, ns := range []string{"orders", "users", "secret"} {
		e, err := raw.FindNameKey(ctx, ns, "k")
		if err != nil || string(e.Data) != `{"v":1}` {
			t.Fatalf("%s/k after refused writes: %s, %v", ns, e.Data, err)
		}
	}
	if _, err := g.Upsert(ctx, "orders", "k", json.RawMessage(`4`), store.WriteOptions{}); err != nil {
		t.Fatalf("write with a write grant: %v", err)
	}

	// Even a wildcard grant does not reach flowkv's reserved namespaces.
	all := store.WithGrants(raw, store.AllGrants())
	if _, err := all.FindNameKey(ctx, "_flowkv.tokens", "k"); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("wildcard read of a reserved namespace: %v", err)
	}
	if _, err := all.Fetch(ctx, store.FetchQuery{Name: "_flowkv.tokens"}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("wildcard fetch of a reserved namespace: %v", err)
	}
	page, err = all.Fetch(ctx, store.FetchQuery{Key: "k"})
	if err != nil || len(page.Entries) != 3 {
		t.Fatalf("wildcard fetch: %d entries, %v; want the 3 user namespaces", len(page.Entries), err)
	}
}
