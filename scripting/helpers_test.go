package scripting

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// openStore opens a fresh SQLite store for t.
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{ReapInterval: -1})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// run runs src with all grants and returns the result.
func run(t testing.TB, e *Engine, st store.Store, src string, input any) (Result, error) {
	t.Helper()
	var in json.RawMessage
	if input != nil {
		b, err := json.Marshal(input)
		if err != nil {
			t.Fatal(err)
		}
		in = b
	}
	return e.Run(context.Background(), Run{Source: src, Input: in, Store: st, Grants: store.AllGrants()})
}

// mustRun runs src and fails t on error, returning the result as JSON text.
func mustRun(t testing.TB, e *Engine, st store.Store, src string, input any) string {
	t.Helper()
	res, err := run(t, e, st, src, input)
	if err != nil {
		t.Fatalf("run failed: %v\nscript:\n%s\nlogs: %v", err, src, res.Logs)
	}
	return string(res.Value)
}

// wantCode runs src and checks it fails with code.
func wantCode(t testing.TB, e *Engine, st store.Store, src string, code store.Code) error {
	t.Helper()
	res, err := run(t, e, st, src, nil)
	if err == nil {
		t.Fatalf("want %s, got result %s\nscript:\n%s", code, res.Value, src)
	}
	if got := store.CodeOf(err); got != code {
		t.Fatalf("want %s, got %s (%v)\nscript:\n%s", code, got, err, src)
	}
	return err
}

func jsonEq(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("result %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("got %s, want %s", gb, wb)
	}
}
