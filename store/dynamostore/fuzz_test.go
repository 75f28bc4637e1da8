package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

// FuzzRoundTripDynamo writes arbitrary JSON through DynamoDB Local and reads
// it back: the canonical form comes back byte for byte on every read path,
// and the exact-match filter finds it from another spelling of the value.
// (The SQL backends run the same check in store/sqlstore's fuzz targets.)
func FuzzRoundTripDynamo(f *testing.F) {
	for _, s := range []string{
		`{"b":2,"a":1}`, `[1,1.0,1e0,-0,0.5]`, `"<&>\u2028"`, `{"a":{"b":[null,true,false]}}`, `123456789012345678901234567890`,
		`1e22`, `9007199254740993`, `-1.5e-7`, `{"aa":1,"b":2,"a":3}`, `{"é":1,"e":2,"z":3}`, `""`, `0`, `null`,
		`{"a":1,"a":2}`, `"\u0000"`, `[{}]`, `{"":{"":[]}}`, `1E+2`, `0.1`, `{"k":"` + strings.Repeat("x", 300) + `"}`,
	} {
		f.Add([]byte(s))
	}
	st := open(f, store.Limits{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in []byte) {
		want, err := store.Canonicalize(in)
		if err != nil {
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
		if err != nil || !bytes.Equal(got.Data, want) {
			t.Fatalf("FindNameKey after writing %q = %q (%v), want %q", in, got.Data, err, want)
		}
		p, err := st.List(ctx, "rt", "k", "", 1)
		if err != nil || len(p.Entries) != 1 || !bytes.Equal(p.Entries[0].Data, want) {
			t.Fatalf("List after writing %q: %v %v, want %q", in, p.Entries, err, want)
		}
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
	})
}
