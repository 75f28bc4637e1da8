package denokv

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"unicode/utf16"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Bytes Node's v8.serialize wrote (node 20), and what they are.
var nodeVectors = []struct {
	hex, json, typ, text string
}{
	{"ff0f6f4902490422016249022201612201787b03", `{"1":2,"a":"x","b":1}`, "", ""},
	{"ff0f220568e96c6c6f", `"héllo"`, "", ""},
	{"ff0f6304e5652c67", `"日本"`, "", ""},
	{"ff0f5c040401000200", "", "Uint16Array", "Uint16Array(2)"},
	{"ff0f5c0a020102", "", "Uint8Array", "Uint8Array(2)"},
	{"ff0f5a2100000000000000004000000000000000", "", "bigint", "-1180591620717411303424n"},
	{"ff0f440000000000000000", "", "Date", "1970-01-01T00:00:00.000Z"},
	{"ff0f522202616203", "", "RegExp", "/ab/gi"},
	{"ff0f3b49022201613a02", "", "Map", `Map(1) {1 => "a"}`},
	{"ff0f272201612c01", "", "Set", `Set(1) {"a"}`},
	{"ff0f61034900490249044906400203", "", "Array", "Array(3)"},
	{"ff0f6f2201616f22017849027b012201625e017b02", "", "Object", `{a: {x: 1}, b: {x: 1}}`},
	{"ff0f4e000000000000e041", "2147483648", "", ""},
	{"ff0f5f", "", "undefined", "undefined"},
	{"ff0f4e0000000000000080", "", "number", "-0"},
}

func TestToDataNodeVectors(t *testing.T) {
	for _, v := range nodeVectors {
		raw := mustHex(v.hex)
		d, err := ToData(EncV8, raw)
		if err != nil {
			t.Fatalf("%s: %v", v.hex, err)
		}
		w, wrapped := UnwrapData(d)
		if v.json != "" {
			if wrapped || string(d) != v.json {
				t.Errorf("%s: data %s, want JSON %s", v.hex, d, v.json)
			}
			continue
		}
		if !wrapped || w.Type != v.typ || w.Text != v.text {
			t.Errorf("%s: data %s, want a %s wrapper showing %q", v.hex, d, v.typ, v.text)
			continue
		}
		// Stored exactly; Node's host-object typed arrays are rewritten as
		// Deno writes them (buffer + view).
		enc, back, err := FromData(d)
		if err != nil || enc != EncV8 {
			t.Fatalf("%s: FromData: %v", v.hex, err)
		}
		if raw[2] == tHostObject {
			if bytes.Equal(back, raw) || back[2] != tArrayBuffer {
				t.Errorf("%s: a host object came back as %x", v.hex, back)
			}
			d1, _ := DecodeV8(raw)
			d2, err := DecodeV8(back)
			if err != nil || Preview(d1.Value, 100) != Preview(d2.Value, 100) {
				t.Errorf("%s: re-encoded %x reads as %v", v.hex, back, err)
			}
		} else if !bytes.Equal(back, raw) {
			t.Errorf("%s: came back as %x", v.hex, back)
		}
	}
}

// TestEncodeDecode round-trips values through the encoder and decoder.
func TestEncodeDecode(t *testing.T) {
	shared := &Object{Type: PlainObject, Props: []Prop{{Key: str("k"), Val: Value{Kind: Number, N: 1}}}}
	buf := &Object{Type: ArrayBuffer, Bytes: []byte{1, 0, 2, 0}}
	msg := []uint16{'b', 'o', 'o', 'm'}
	vals := []Value{
		{Kind: Undefined}, {Kind: Null}, {Kind: Bool, B: true},
		{Kind: Number, N: 1.5}, {Kind: Number, N: -(1 << 30)}, {Kind: Number, N: math.Inf(-1)},
		{Kind: BigInt, I: bi("-123456789012345678901234567890")}, {Kind: BigInt, I: bi("0")},
		str("plain"), str("日本"), {Kind: String, S: []uint16{0xD800}},
		{Kind: Ref, Obj: &Object{Type: DenseArray, Length: 3, Elems: []Value{{Kind: Hole}, str("x"), {Kind: Ref, Obj: shared}}}},
		{Kind: Ref, Obj: &Object{Type: Map, Items: []Value{{Kind: Ref, Obj: shared}, {Kind: Ref, Obj: shared}}}},
		{Kind: Ref, Obj: &Object{Type: Set, Items: []Value{str("a"), {Kind: Number, N: 2}}}},
		{Kind: Ref, Obj: &Object{Type: Date, N: 1e12}},
		{Kind: Ref, Obj: &Object{Type: RegExp, S: []uint16{'a', '+'}, Flags: 1 | 4}},
		{Kind: Ref, Obj: &Object{Type: ArrayBufferView, SubTag: 'W', Buffer: buf, ByteLn: 4}},
		{Kind: Ref, Obj: &Object{Type: Error, ErrProto: 'T', Message: &msg}},
		{Kind: Ref, Obj: &Object{Type: NumberObject, N: 3}},
		{Kind: Ref, Obj: &Object{Type: StringObject, S: msg}},
		{Kind: Ref, Obj: &Object{Type: BigIntObject, I: bi("7")}},
	}
	for _, v := range vals {
		b := EncodeV8(v)
		d, err := DecodeV8(b)
		if err != nil {
			t.Fatalf("%s: decode of %x: %v", Preview(v, 100), b, err)
		}
		if !bytes.Equal(EncodeV8(d.Value), b) {
			t.Errorf("%s: %x re-encodes as %x", Preview(v, 100), b, EncodeV8(d.Value))
		}
		if Preview(d.Value, 100) != Preview(v, 100) {
			t.Errorf("decoded %s as %s", Preview(v, 100), Preview(d.Value, 100))
		}
	}
}

func bi(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 10)
	return n
}

func str(s string) Value {
	return Value{Kind: String, S: utf16.Encode([]rune(s))}
}

// TestFromJSON: JSON written by other faces reads as the matching V8
// value, members in the stored order.
func TestFromJSON(t *testing.T) {
	enc, b, err := FromData(json.RawMessage(`{"b":[1,2.5,"x",null,true],"a":{"c":-1e300}}`))
	if err != nil || enc != EncV8 {
		t.Fatal(err)
	}
	d, err := DecodeV8(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := Preview(d.Value, 200); got != `{b: [1, 2.5, "x", null, true], a: {c: -1e+300}}` {
		t.Errorf("preview %s", got)
	}
	back, err := ToData(EncV8, b)
	if err != nil || string(back) != `{"a":{"c":-1e+300},"b":[1,2.5,"x",null,true]}` {
		t.Errorf("ToData: %s %v", back, err)
	}
	for _, in := range []string{`{"$denokv":{"type":"KvU64","u64":"x"}}`, `{"$denokv":{"type":"Date","v8":"!!"}}`} {
		if _, _, err := FromData(json.RawMessage(in)); err != nil {
			t.Errorf("a malformed wrapper %s must read as plain JSON: %v", in, err)
		}
	}
}

func TestKvU64AndBytes(t *testing.T) {
	d, err := ToData(EncLE64, []byte{42, 0, 0, 0, 0, 0, 0, 0})
	if err != nil || !strings.Contains(string(d), `"u64":"42"`) {
		t.Fatalf("KvU64: %s %v", d, err)
	}
	enc, b, _ := FromData(d)
	if enc != EncLE64 || b[0] != 42 {
		t.Errorf("KvU64 back: %d %x", enc, b)
	}
	d, _ = ToData(EncBytes, []byte{0, 1, 2})
	enc, b, _ = FromData(d)
	if enc != EncBytes || !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Errorf("bytes back: %d %x", enc, b)
	}
	if _, err := ToData(EncLE64, []byte{1}); err == nil {
		t.Error("a 1-byte KvU64 was accepted")
	}
}

// FuzzDecodeV8: hostile bytes never panic, and what decodes re-encodes to
// bytes that decode the same.
func FuzzDecodeV8(f *testing.F) {
	for _, v := range nodeVectors {
		f.Add(mustHex(v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeV8(b)
		if err != nil {
			return
		}
		again := EncodeV8(d.Value)
		d2, err := DecodeV8(again)
		if err != nil {
			t.Fatalf("%x decoded, its re-encoding %x does not: %v", b, again, err)
		}
		if Preview(d.Value, 300) != Preview(d2.Value, 300) {
			t.Fatalf("%x: %s became %s", b, Preview(d.Value, 300), Preview(d2.Value, 300))
		}
		_, _ = ToData(EncV8, b)
	})
}
