package store_test

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowkv/flowkv/store"
)

func bi(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

// TestPackTupleBytes pins the packing to the bytes Deno's clients send
// (npm/src/kv_key.ts, ext/kv codec.rs).
func TestPackTupleBytes(t *testing.T) {
	for _, c := range []struct {
		parts []any
		hex   string
	}{
		{[]any{"users", "1"}, "027573657273000231" + "00"},
		{[]any{1.0}, "21bff0000000000000"},
		{[]any{-1.0}, "21400fffffffffffff"},
		{[]any{bi("0")}, "14"},
		{[]any{bi("255")}, "15ff"},
		{[]any{bi("-1")}, "13fe"},
		{[]any{bi("-256")}, "12feff"},
		{[]any{true, false}, "2726"},
		{[]any{[]byte{0, 1}}, "0100ff0100"},
		{[]any{"a\x00b"}, "026100ff6200"},
	} {
		b, err := store.PackTuple(c.parts)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != c.hex {
			t.Errorf("PackTuple(%v) = %s, want %s", c.parts, got, c.hex)
		}
		back, err := store.UnpackTuple(b)
		if err != nil {
			t.Fatalf("UnpackTuple(%s): %v", c.hex, err)
		}
		if store.FormatJSONKey(back) != store.FormatJSONKey(c.parts) {
			t.Errorf("round trip of %v gave %v", store.FormatJSONKey(c.parts), store.FormatJSONKey(back))
		}
	}
}

// TestTupleKeyOrder: keys in Deno KV's order stay in that order as stored
// keys (byte-wise string order, as every backend compares).
func TestTupleKeyOrder(t *testing.T) {
	ordered := [][]any{
		{[]byte{}},
		{[]byte{0}},
		{[]byte{0, 0}},
		{[]byte{1}},
		{[]byte{0xff}},
		{""},
		{"\x00"},
		{"a"},
		{"a", "b"},
		{"a", 1.0},
		{"a\x00"},
		{"ab"},
		{"é"},
		{"日本"},
		{bi("-100000000000000000000000")},
		{bi("-65536")},
		{bi("-1")},
		{bi("0")},
		{bi("1")},
		{bi("2")},
		{bi("10")},
		{bi("100000000000000000000000")},
		{math.Inf(-1)},
		{-1e300},
		{-2.0},
		{-1.0},
		{math.Copysign(0, -1)},
		{0.0},
		{1.0},
		{2.0},
		{10.0},
		{math.Inf(1)},
		{math.NaN()},
		{false},
		{true},
		{true, "x"},
	}
	var prev string
	for i, parts := range ordered {
		b, err := store.PackTuple(parts)
		if err != nil {
			t.Fatal(err)
		}
		k := store.TupleKey(b)
		if !utf8.ValidString(k) || !store.IsTupleKey(k) {
			t.Fatalf("TupleKey(%v) = %q is not a valid stored tuple key", parts, k)
		}
		if err := store.DefaultLimits().ValidateKey(k); err != nil {
			t.Fatalf("ValidateKey(%s): %v", store.FormatJSONKey(parts), err)
		}
		if i > 0 && !(prev < k) {
			t.Errorf("%s does not sort after %s", store.FormatJSONKey(parts), store.FormatJSONKey(ordered[i-1]))
		}
		prev = k
	}
}

// TestTupleKeyKeepsByteOrder checks the map from bytes to stored keys on
// random byte strings (range bounds are arbitrary bytes).
func TestTupleKeyKeepsByteOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		b := make([]byte, r.IntN(6))
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.IntN(3)) // 0x00, 0x01, 0x02: the escaped bytes
			case 1:
				b[i] = 0x7e + byte(r.IntN(4))
			default:
				b[i] = byte(r.IntN(256))
			}
		}
		return b
	}
	for i := 0; i < 20000; i++ {
		a, b := gen(), gen()
		ka, kb := store.TupleKey(a), store.TupleKey(b)
		if got, want := strings.Compare(ka, kb), bytes.Compare(a, b); got != want {
			t.Fatalf("order of %x, %x: stored %d, bytes %d", a, b, got, want)
		}
		back, ok := store.TupleBytes(ka)
		if !ok || !bytes.Equal(back, a) {
			t.Fatalf("TupleBytes(TupleKey(%x)) = %x, %v", a, back, ok)
		}
	}
}

func TestValidateKeyTupleMarker(t *testing.T) {
	l := store.DefaultLimits()
	for _, bad := range []string{store.TupleMarker, store.TupleMarker + "\x05", store.TupleMarker + "\x02abc", store.TupleMarker + "\x01\x03"} {
		if err := l.ValidateKey(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("ValidateKey(%q) = %v, want invalid_argument", bad, err)
		}
	}
	long, _ := store.PackTuple([]any{strings.Repeat("x", 300)})
	err := l.ValidateKey(store.TupleKey(long))
	if store.CodeOf(err) != store.CodeTooLarge || !strings.Contains(err.Error(), "FLOWKV_MAX_KEY_BYTES") {
		t.Errorf("a long Deno key: %v, want too_large naming flowkv's key limit", err)
	}
	if err := l.ValidateKey("a\x1eb"); err == nil {
		t.Error("a flat key with a control character was accepted")
	}
}

func TestJSONKey(t *testing.T) {
	for _, s := range []string{
		`["users","1"]`,
		`["a",1,2.5,-3,true,false,{"bigint":"-12345678901234567890"},{"bytes":"AAEC"},{"number":"NaN"},{"number":"-0"},{"number":"Infinity"}]`,
	} {
		parts, err := store.ParseJSONKey(s)
		if err != nil {
			t.Fatalf("ParseJSONKey(%s): %v", s, err)
		}
		if got := store.FormatJSONKey(parts); got != s {
			t.Errorf("FormatJSONKey(ParseJSONKey(%s)) = %s", s, got)
		}
		k, err := store.KeyFromJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if j, ok := store.JSONKeyOf(k); !ok || j != s {
			t.Errorf("JSONKeyOf(KeyFromJSON(%s)) = %s, %v", s, j, ok)
		}
	}
	for _, bad := range []string{`[]`, `[null]`, `[[1]]`, `{"a":1}`, `["a"] x`, `[{"bigint":"1.5"}]`, `[{"bytes":"!!"}]`, `[{"x":"1"}]`, `[1e999]`} {
		if _, err := store.ParseJSONKey(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("ParseJSONKey(%s) = %v, want invalid_argument", bad, err)
		}
	}
	parts, _ := store.ParseJSONKey(`["a",{"bytes":""}]`)
	if !reflect.DeepEqual(parts, []any{"a", []byte{}}) {
		t.Errorf("empty bytes part: %#v", parts)
	}
}

func FuzzUnpackTuple(f *testing.F) {
	f.Add([]byte{0x02, 'a', 0})
	f.Add([]byte{0x1d, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x0b, 0xf6, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := store.UnpackTuple(b)
		if err != nil {
			return
		}
		again, err := store.PackTuple(parts)
		if err != nil {
			t.Fatalf("repack of %x: %v", b, err)
		}
		back, err := store.UnpackTuple(again)
		if err != nil || store.FormatJSONKey(back) != store.FormatJSONKey(parts) {
			t.Fatalf("unpack(pack(unpack(%x))) differs", b)
		}
		k := store.TupleKey(b)
		if raw, ok := store.TupleBytes(k); !ok || !bytes.Equal(raw, b) {
			t.Fatalf("TupleBytes(TupleKey(%x)) = %x", b, raw)
		}
	})
}
