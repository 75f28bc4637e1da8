package store_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/flowkv/flowkv/store"
)

// The seeds of these targets run with every `go test`; `go test -fuzz
// FuzzX ./store` explores further.

func FuzzValidateNameKey(f *testing.F) {
	for _, s := range []string{"", "a", "orders", "é", "a\x00", "\xff", strings.Repeat("k", 128), strings.Repeat("k", 129),
		strings.Repeat("k", 256), strings.Repeat("k", 257), "a\u2028b", "🙂", "_flowkv.tokens"} {
		f.Add(s)
	}
	l := store.DefaultLimits()
	f.Fuzz(func(t *testing.T, s string) {
		check := func(what string, err error, max int) {
			wantOK := s != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
			if what == "ValidateKey" && store.IsTupleKey(s) {
				// A stored Deno KV key (marker + escaped tuple bytes) is a
				// valid key when it decodes to a non-empty tuple.
				b, ok := store.TupleBytes(s)
				_, uerr := store.UnpackTuple(b)
				wantOK = len(s) <= max && ok && len(b) > 0 && uerr == nil
			}
			if wantOK != (err == nil) {
				t.Fatalf("%s(%q) = %v, want ok=%v", what, s, err, wantOK)
			}
			if err == nil {
				return
			}
			code := store.CodeOf(err)
			if len(s) > max && code != store.CodeTooLarge {
				t.Fatalf("%s(%q): %v, want too_large", what, s, err)
			}
			if len(s) <= max && code != store.CodeInvalidArgument {
				t.Fatalf("%s(%q): %v, want invalid_argument", what, s, err)
			}
		}
		check("ValidateName", l.ValidateName(s), l.MaxNameBytes)
		check("ValidateKey", l.ValidateKey(s), l.MaxKeyBytes)
	})
}

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"", "never", "0", "30s", "5m", "2h", "7d", "1.5h", "1h30m", "bad", "-1s", "0s", "1e400d", "nand", "36501d", "1ns", ".5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := store.ParseTTL(s)
		if err != nil {
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Fatalf("ParseTTL(%q): %v is not invalid_argument", s, err)
			}
			return
		}
		if d < 0 || d > store.MaxTTL {
			t.Fatalf("ParseTTL(%q) = %v, outside [0, MaxTTL]", s, d)
		}
	})
}

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"b":2,"a":1}`, `[1,1.0,1e0,-0,0.5]`, `"<&>"`, `{"a":{"b":[null,true,false]}}`, `123456789012345678901234567890`,
		`1e22`, `9007199254740993.0`, `1e400`, `{"a":1} x`, `[[[[`, `"\u00e9\ud83d\ude42"`, `"\xff"`, `{"a":1,"a":2}`,
		`-1.5e-7`, `1E+2`, `0.000001`, `1e21`, `12345678901234567890123.5`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := store.Canonicalize(in)
		if err != nil {
			if code := store.CodeOf(err); code != store.CodeInvalidArgument {
				t.Fatalf("Canonicalize(%q): %v is not invalid_argument", in, err)
			}
			return
		}
		if !json.Valid(c) {
			t.Fatalf("Canonicalize(%q) = %q is not valid JSON", in, c)
		}
		// Idempotent.
		again, err := store.Canonicalize(c)
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("Canonicalize(%q) = %q, again = %q, %v", in, c, again, err)
		}
		// The same value written differently (indented, re-encoded with
		// Go's sorted keys) hashes equal.
		var indented bytes.Buffer
		if err := json.Indent(&indented, in, "", "  "); err == nil {
			ci, err := store.Canonicalize(indented.Bytes())
			if err != nil || store.DataHash(ci) != store.DataHash(c) {
				t.Fatalf("indented %q canonicalises to %q (%v), plain to %q", indented.Bytes(), ci, err, c)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			re, err := json.Marshal(v)
			if err == nil {
				cr, err := store.Canonicalize(re)
				if err != nil || store.DataHash(cr) != store.DataHash(c) {
					t.Fatalf("re-encoded %q canonicalises to %q (%v), original to %q", re, cr, err, c)
				}
			}
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(store.EncodeCursor("orders", "o-1"), 2)
	f.Add(store.EncodeCursor("a"), 1)
	f.Add("", 1)
	f.Add("!!", 2)
	f.Add("WyJhIl0", 2)
	f.Add("bnVsbA", 1)
	f.Fuzz(func(t *testing.T, cursor string, n int) {
		if n < 0 || n > 8 {
			return
		}
		parts, err := store.DecodeCursor(cursor, n)
		if err != nil {
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Fatalf("DecodeCursor(%q): %v is not invalid_argument", cursor, err)
			}
			return
		}
		if len(parts) != n {
			t.Fatalf("DecodeCursor(%q, %d) returned %d parts", cursor, n, len(parts))
		}
		// A cursor that decodes re-encodes to a cursor with the same parts.
		back, err := store.DecodeCursor(store.EncodeCursor(parts...), n)
		if err != nil || len(back) != n {
			t.Fatalf("re-encoded cursor of %q: %q, %v", parts, back, err)
		}
		for i := range parts {
			if back[i] != parts[i] {
				t.Fatalf("part %d: %q became %q", i, parts[i], back[i])
			}
		}
	})
}
