package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// Fuzz targets through the SQL backend (SQLite, and PostgreSQL where it
// runs). Their seeds run with every `go test`; scripts/fuzz.sh runs them
// with -fuzz.

func fuzzStore(f *testing.F, dsn string) *sqlstore.Store {
	f.Helper()
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{ReapInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	return st
}

// cursorData fills namespaces "a" (the caller's) and "b", "secret" and a
// reserved one (not the caller's), keys chosen to sit around "a"'s in
// every order.
func cursorData(f *testing.F, st store.Store) {
	ctx := context.Background()
	for _, name := range []string{"a", "b", "secret", "_flowkv.fuzz", "a~", "a b", "aa", "`"} {
		for i := 0; i < 12; i++ {
			k := fmt.Sprintf("k%02d", i)
			if i%3 == 0 {
				k = "p/" + k
			}
			if _, err := st.Upsert(ctx, name, k, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), store.WriteOptions{}); err != nil {
				f.Fatal(err)
			}
		}
	}
}

func cursorSeeds(f *testing.F) {
	for _, c := range []string{
		"", store.EncodeCursor("k03"), store.EncodeCursor("a", "k03"), store.EncodeCursor("secret", "k03"),
		store.EncodeCursor("_flowkv.fuzz", "k00"), store.EncodeCursor("b"), store.EncodeCursor("", ""),
		store.EncodeCursor("a", "k03", "x"), store.EncodeCursor("\x00"), store.EncodeCursor("zzz", "zzz"),
		"!!", "WyJhIl0", "bnVsbA", "W10", strings.Repeat("A", 5000), "WyJhIiwi", "eyJhIjoxfQ",
	} {
		f.Add(c, "", 3)
		f.Add(c, "p/", 2)
	}
}

// checkCursor runs List and Fetch on namespace "a" with a fuzzed cursor:
// an answer is invalid_argument or entries of "a" only (with the prefix);
// never a panic, another error or another namespace's data.
func checkCursor(t *testing.T, st store.Store, cursor, prefix string, limit int) {
	ctx := context.Background()
	if limit < 0 || limit > 50 {
		limit = 3
	}
	okErr := func(what string, err error) bool {
		if err == nil {
			return false
		}
		c := store.CodeOf(err)
		if c == store.CodeTooLarge && len(prefix) > st.Limits().MaxKeyBytes {
			return true // an over-long prefix
		}
		if c != store.CodeInvalidArgument {
			t.Fatalf("%s with cursor %q: %v (code %s), want invalid_argument", what, cursor, err, c)
		}
		return true
	}
	only := func(what string, es []store.Entry) {
		for _, e := range es {
			if e.Name != "a" {
				t.Fatalf("%s with cursor %q returned %s/%s of another namespace", what, cursor, e.Name, e.Key)
			}
			if !strings.HasPrefix(e.Key, prefix) {
				t.Fatalf("%s with cursor %q, prefix %q returned key %q", what, cursor, prefix, e.Key)
			}
		}
	}
	p, err := st.List(ctx, "a", prefix, cursor, limit)
	if !okErr("List", err) {
		only("List", p.Entries)
	}
	p, err = st.Fetch(ctx, store.FetchQuery{Names: []string{"a"}, KeyPrefix: prefix, Cursor: cursor, Limit: limit})
	if !okErr("Fetch(Names)", err) {
		only("Fetch(Names)", p.Entries)
	}
	p, err = st.Fetch(ctx, store.FetchQuery{Name: "a", KeyPrefix: prefix, Cursor: cursor, Limit: limit})
	if !okErr("Fetch(Name)", err) {
		only("Fetch(Name)", p.Entries)
	}
	// Through the grants wrapper, as every API face calls it.
	g := store.WithGrants(st, store.Grants{"a": store.Read})
	p, err = g.Fetch(ctx, store.FetchQuery{Cursor: cursor, KeyPrefix: prefix, Limit: limit})
	if !okErr("WithGrants.Fetch", err) {
		only("WithGrants.Fetch", p.Entries)
	}
}

func FuzzCursorSQLite(f *testing.F) {
	st := fuzzStore(f, testenv.SQLiteDSN(f))
	cursorData(f, st)
	cursorSeeds(f)
	f.Fuzz(func(t *testing.T, cursor, prefix string, limit int) { checkCursor(t, st, cursor, prefix, limit) })
}

func FuzzCursorPostgres(f *testing.F) {
	st := fuzzStore(f, testenv.PostgresDSN(f))
	cursorData(f, st)
	cursorSeeds(f)
	f.Fuzz(func(t *testing.T, cursor, prefix string, limit int) { checkCursor(t, st, cursor, prefix, limit) })
}

var roundTripSeeds = []string{
	`{"b":2,"a":1}`, `[1,1.0,1e0,-0,0.5]`, `"<&>\u2028"`, `{"a":{"b":[null,true,false]}}`, `123456789012345678901234567890`,
	`1e22`, `9007199254740993`, `-1.5e-7`, `{"aa":1,"b":2,"a":3}`, `{"é":1,"e":2,"z":3}`, `""`, `0`, `null`,
	`{"a":1,"a":2}`, `"\u0000"`, `[{}]`, `{"":{"":[]}}`, `1E+2`, `0.1`, `1e-400`, `{"k":"` + strings.Repeat("x", 300) + `"}`,
}

// checkRoundTrip writes data and reads it back: what comes back is the
// canonical form, byte for byte, on every read path; the exact-match
// filter finds it from the value written differently.
func checkRoundTrip(t *testing.T, st store.Store, in []byte) {
	ctx := context.Background()
	want, err := store.Canonicalize(in)
	if err != nil {
		if c := store.CodeOf(err); c != store.CodeInvalidArgument && c != store.CodeTooLarge {
			t.Fatalf("Canonicalize(%q): %v", in, err)
		}
		return
	}
	e, err := st.Upsert(ctx, "rt", "k", in, store.WriteOptions{})
	if err != nil {
		if c := store.CodeOf(err); c == store.CodeInvalidArgument || c == store.CodeTooLarge {
			return
		}
		t.Fatalf("Upsert(%q): %v", in, err)
	}
	if !bytes.Equal(e.Data, want) {
		t.Fatalf("Upsert(%q) answered %q, want %q", in, e.Data, want)
	}
	got, err := st.FindNameKey(ctx, "rt", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data, want) {
		t.Fatalf("FindNameKey after writing %q = %q, want %q", in, got.Data, want)
	}
	p, err := st.List(ctx, "rt", "k", "", 1)
	if err != nil || len(p.Entries) != 1 || !bytes.Equal(p.Entries[0].Data, want) {
		t.Fatalf("List after writing %q: %v %v, want %q", in, p.Entries, err, want)
	}
	// Exact match from the value indented (another spelling).
	var ind bytes.Buffer
	if json.Indent(&ind, in, "", " ") == nil {
		p, err := st.Fetch(ctx, store.FetchQuery{Name: "rt", Data: ind.Bytes()})
		if err != nil {
			t.Fatalf("Fetch(data=%q): %v", ind.Bytes(), err)
		}
		if len(p.Entries) != 1 || !bytes.Equal(p.Entries[0].Data, want) {
			t.Fatalf("Fetch(data=%q) after writing %q found %v", ind.Bytes(), in, p.Entries)
		}
	}
}

func FuzzRoundTripSQLite(f *testing.F) {
	st := fuzzStore(f, testenv.SQLiteDSN(f))
	for _, s := range roundTripSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRoundTrip(t, st, in) })
}

func FuzzRoundTripPostgres(f *testing.F) {
	st := fuzzStore(f, testenv.PostgresDSN(f))
	for _, s := range roundTripSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRoundTrip(t, st, in) })
}
