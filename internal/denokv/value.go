package denokv

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Encoding is how a Deno KV value travels (KV Connect's ValueEncoding).
type Encoding int

// The value encodings.
const (
	EncV8    Encoding = 1 // V8 ValueSerializer bytes
	EncLE64  Encoding = 2 // Deno.KvU64: 8 bytes little-endian
	EncBytes Encoding = 3 // a top-level Uint8Array
)

// How Deno KV values are stored in flowkv entries:
//
//   - a value with an exact JSON form (null, booleans, finite numbers other
//     than -0, strings of valid UTF-16, arrays without holes or extra
//     properties, plain objects of such values, with no object referenced
//     twice) is stored as that JSON, so every face sees plain JSON;
//   - any other value is stored exactly (re-encoded in V8's version 15
//     format, which both clients read), wrapped in an object of one member:
//
//     {"$denokv": {"type": "Date", "text": "2024-01-01T00:00:00.000Z", "v8": "<base64 V8 bytes>"}}
//     {"$denokv": {"type": "KvU64", "text": "42", "u64": "42"}}
//     {"$denokv": {"type": "Uint8Array", "text": "Uint8Array(3)", "bytes": "<base64>"}}
//
//     "type" and "text" describe it to people (the store browser shows it
//     read-only); "v8", "u64" or "bytes" hold it.
//
// Reading goes the other way: a wrapper gives back its exact value, any
// other JSON is encoded as the matching V8 value. Object properties come
// back in the store's canonical (sorted) order.

// WrapperKey is the one member of a stored non-JSON value.
const WrapperKey = "$denokv"

// Wrapper is the stored form of a value with no JSON form.
type Wrapper struct {
	Type  string `json:"type"`
	Text  string `json:"text,omitempty"`
	V8    string `json:"v8,omitempty"`
	U64   string `json:"u64,omitempty"`
	Bytes string `json:"bytes,omitempty"`
}

// MaxValueBytes is Deno KV's value size limit.
const MaxValueBytes = 65536

// ToData turns a value as a client sent it into entry data.
func ToData(enc Encoding, raw []byte) (json.RawMessage, error) {
	switch enc {
	case EncLE64:
		if len(raw) != 8 {
			return nil, errors.New("a KvU64 value is 8 bytes")
		}
		n := strconv.FormatUint(binary.LittleEndian.Uint64(raw), 10)
		return wrap(Wrapper{Type: "KvU64", Text: n, U64: n})
	case EncBytes:
		return wrap(Wrapper{Type: "Uint8Array", Text: fmt.Sprintf("Uint8Array(%d)", len(raw)), Bytes: base64.StdEncoding.EncodeToString(raw)})
	case EncV8:
	default:
		return nil, fmt.Errorf("the value encoding %d is unknown", enc)
	}
	d, err := DecodeV8(raw)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return wrap(Wrapper{Type: "V8", Text: "unsupported V8 value", V8: base64.StdEncoding.EncodeToString(raw)})
		}
		return nil, err
	}
	if !d.Shared {
		if j, ok := toJSON(d.Value, 0); ok {
			return json.Marshal(j)
		}
	}
	// Stored re-encoded: the same value in the format both clients read
	// (Node's host-object typed arrays as Deno writes them; Deno 2.9's
	// version 16 header as version 15, which Node 20 reads).
	raw = EncodeV8(d.Value)
	return wrap(Wrapper{Type: TypeName(d.Value), Text: Preview(d.Value, 200), V8: base64.StdEncoding.EncodeToString(raw)})
}

func wrap(w Wrapper) (json.RawMessage, error) {
	return json.Marshal(map[string]Wrapper{WrapperKey: w})
}

// UnwrapData reports whether data is a stored non-JSON value, and which.
func UnwrapData(data json.RawMessage) (Wrapper, bool) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(WrapperKey)) {
		return Wrapper{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t, &m) != nil || len(m) != 1 || m[WrapperKey] == nil {
		return Wrapper{}, false
	}
	var w Wrapper
	dec := json.NewDecoder(bytes.NewReader(m[WrapperKey]))
	dec.DisallowUnknownFields()
	if dec.Decode(&w) != nil || w.Type == "" {
		return Wrapper{}, false
	}
	n := 0
	for _, s := range []string{w.V8, w.U64, w.Bytes} {
		if s != "" {
			n++
		}
	}
	if n != 1 && !(w.Type == "Uint8Array" && w.Bytes == "" && w.V8 == "" && w.U64 == "") {
		return Wrapper{}, false
	}
	return w, true
}

// FromData turns entry data into the value a client reads.
func FromData(data json.RawMessage) (Encoding, []byte, error) {
	if w, ok := UnwrapData(data); ok {
		switch {
		case w.U64 != "":
			n, err := strconv.ParseUint(w.U64, 10, 64)
			if err == nil {
				return EncLE64, binary.LittleEndian.AppendUint64(nil, n), nil
			}
		case w.V8 != "":
			b, err := base64.StdEncoding.DecodeString(w.V8)
			if err == nil {
				return EncV8, b, nil
			}
		default:
			b, err := base64.StdEncoding.DecodeString(w.Bytes)
			if err == nil {
				return EncBytes, b, nil
			}
		}
		// A malformed wrapper (written by hand) reads as the JSON it is.
	}
	v, err := FromJSON(data)
	if err != nil {
		return 0, nil, err
	}
	return EncV8, EncodeV8(v), nil
}

// FromJSON converts JSON text into a Value, keeping object member order.
func FromJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jsonValue(dec, 0)
	if err != nil {
		return Value{}, fmt.Errorf("stored data is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Value{}, errors.New("stored data has trailing JSON")
	}
	return v, nil
}

func jsonValue(dec *json.Decoder, depth int) (Value, error) {
	if depth > maxDecodeDepth {
		return Value{}, errors.New("nested too deeply")
	}
	t, err := dec.Token()
	if err != nil {
		return Value{}, err
	}
	switch x := t.(type) {
	case nil:
		return Value{Kind: Null}, nil
	case bool:
		return Value{Kind: Bool, B: x}, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return Value{}, err
		}
		return Value{Kind: Number, N: f}, nil
	case string:
		return Value{Kind: String, S: utf16.Encode([]rune(x))}, nil
	case json.Delim:
		if x == '[' {
			o := &Object{Type: DenseArray}
			for dec.More() {
				e, err := jsonValue(dec, depth+1)
				if err != nil {
					return Value{}, err
				}
				o.Elems = append(o.Elems, e)
			}
			_, err := dec.Token()
			o.Length = uint32(len(o.Elems))
			return Value{Kind: Ref, Obj: o}, err
		}
		o := &Object{Type: PlainObject}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return Value{}, err
			}
			k, _ := kt.(string)
			v, err := jsonValue(dec, depth+1)
			if err != nil {
				return Value{}, err
			}
			o.Props = append(o.Props, Prop{Key: Value{Kind: String, S: utf16.Encode([]rune(k))}, Val: v})
		}
		_, err := dec.Token()
		return Value{Kind: Ref, Obj: o}, err
	}
	return Value{}, fmt.Errorf("unexpected JSON token %v", t)
}

// str16 converts UTF-16 to a Go string; ok is false for lone surrogates.
func str16(s []uint16) (string, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0xD800 && c < 0xDC00:
			if i+1 >= len(s) || s[i+1] < 0xDC00 || s[i+1] >= 0xE000 {
				return "", false
			}
			i++
		case c >= 0xDC00 && c < 0xE000:
			return "", false
		}
	}
	return string(utf16.Decode(s)), true
}

// jsonString is a JS string as stored JSON: valid UTF-16, and no U+0000
// (which PostgreSQL's jsonb cannot hold; the value is then kept as V8).
func jsonString(s []uint16) (string, bool) {
	for _, c := range s {
		if c == 0 {
			return "", false
		}
	}
	return str16(s)
}

// toJSON returns v's exact JSON form, if it has one.
func toJSON(v Value, depth int) (any, bool) {
	if depth > maxDecodeDepth {
		return nil, false
	}
	switch v.Kind {
	case Null:
		return nil, true
	case Bool:
		return v.B, true
	case Number:
		if math.IsNaN(v.N) || math.IsInf(v.N, 0) || (v.N == 0 && math.Signbit(v.N)) {
			return nil, false
		}
		return v.N, true
	case String:
		return jsonString(v.S)
	case Ref:
	default:
		return nil, false
	}
	o := v.Obj
	switch o.Type {
	case DenseArray:
		if len(o.Props) > 0 || uint32(len(o.Elems)) != o.Length {
			return nil, false
		}
		out := make([]any, len(o.Elems))
		for i, e := range o.Elems {
			j, ok := toJSON(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = j
		}
		return out, true
	case PlainObject:
		out := make(map[string]any, len(o.Props))
		for _, p := range o.Props {
			var k string
			if p.Key.Kind == Number {
				if p.Key.N != math.Trunc(p.Key.N) || p.Key.N < 0 || p.Key.N > math.MaxUint32 {
					return nil, false
				}
				k = strconv.FormatFloat(p.Key.N, 'f', -1, 64)
			} else {
				var ok bool
				if k, ok = jsonString(p.Key.S); !ok {
					return nil, false
				}
			}
			if _, dup := out[k]; dup {
				return nil, false
			}
			j, ok := toJSON(p.Val, depth+1)
			if !ok {
				return nil, false
			}
			out[k] = j
		}
		return out, true
	}
	return nil, false
}

// TypeName names v's type for people ("Date", "Map", "bigint", …).
func TypeName(v Value) string {
	switch v.Kind {
	case Undefined:
		return "undefined"
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case BigInt:
		return "bigint"
	case String:
		return "string"
	case Hole:
		return "hole"
	}
	switch o := v.Obj; o.Type {
	case PlainObject:
		return "Object"
	case DenseArray, SparseArray:
		return "Array"
	case Date:
		return "Date"
	case RegExp:
		return "RegExp"
	case Map:
		return "Map"
	case Set:
		return "Set"
	case ArrayBuffer:
		return "ArrayBuffer"
	case ArrayBufferView:
		return ViewName(o.SubTag)
	case BooleanObject:
		return "Boolean"
	case NumberObject:
		return "Number"
	case BigIntObject:
		return "BigInt"
	case StringObject:
		return "String"
	case Error:
		return errorName(o.ErrProto)
	}
	return "Object"
}

func errorName(p byte) string {
	switch p {
	case 'E':
		return "EvalError"
	case 'R':
		return "RangeError"
	case 'F':
		return "ReferenceError"
	case 'S':
		return "SyntaxError"
	case 'T':
		return "TypeError"
	case 'U':
		return "URIError"
	}
	return "Error"
}

// Preview writes v the way a console would, cut at about max bytes.
func Preview(v Value, max int) string {
	var b strings.Builder
	preview(&b, v, max, map[*Object]bool{})
	s := b.String()
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func preview(b *strings.Builder, v Value, max int, seen map[*Object]bool) {
	if b.Len() > max {
		return
	}
	switch v.Kind {
	case Undefined:
		b.WriteString("undefined")
	case Null:
		b.WriteString("null")
	case Bool:
		b.WriteString(strconv.FormatBool(v.B))
	case Number:
		b.WriteString(jsNumber(v.N))
	case BigInt:
		b.WriteString(v.I.String() + "n")
	case String:
		s, _ := str16(v.S)
		if s == "" && len(v.S) > 0 {
			s = string(utf16.Decode(v.S))
		}
		b.WriteString(strconv.Quote(s))
	case Hole:
		b.WriteString("<empty>")
	case Ref:
		o := v.Obj
		if seen[o] {
			b.WriteString("[Circular]")
			return
		}
		seen[o] = true
		defer delete(seen, o)
		switch o.Type {
		case PlainObject:
			b.WriteString("{")
			for i, p := range o.Props {
				if i > 0 {
					b.WriteString(", ")
				}
				if p.Key.Kind == Number {
					b.WriteString(jsNumber(p.Key.N))
				} else {
					s, _ := str16(p.Key.S)
					b.WriteString(s)
				}
				b.WriteString(": ")
				preview(b, p.Val, max, seen)
			}
			b.WriteString("}")
		case DenseArray:
			b.WriteString("[")
			for i, e := range o.Elems {
				if i > 0 {
					b.WriteString(", ")
				}
				preview(b, e, max, seen)
			}
			b.WriteString("]")
		case SparseArray:
			fmt.Fprintf(b, "Array(%d)", o.Length)
		case Date:
			if math.IsNaN(o.N) {
				b.WriteString("Invalid Date")
			} else {
				b.WriteString(time.UnixMilli(int64(o.N)).UTC().Format("2006-01-02T15:04:05.000Z"))
			}
		case RegExp:
			s, _ := str16(o.S)
			b.WriteString("/" + s + "/" + regexpFlags(o.Flags))
		case Map:
			fmt.Fprintf(b, "Map(%d) {", len(o.Items)/2)
			for i := 0; i+1 < len(o.Items); i += 2 {
				if i > 0 {
					b.WriteString(", ")
				}
				preview(b, o.Items[i], max, seen)
				b.WriteString(" => ")
				preview(b, o.Items[i+1], max, seen)
			}
			b.WriteString("}")
		case Set:
			fmt.Fprintf(b, "Set(%d) {", len(o.Items))
			for i, it := range o.Items {
				if i > 0 {
					b.WriteString(", ")
				}
				preview(b, it, max, seen)
			}
			b.WriteString("}")
		case ArrayBuffer:
			fmt.Fprintf(b, "ArrayBuffer(%d)", len(o.Bytes))
		case ArrayBufferView:
			fmt.Fprintf(b, "%s(%d)", ViewName(o.SubTag), o.ByteLn/max1(viewElemSize[o.SubTag]))
		case BooleanObject:
			fmt.Fprintf(b, "[Boolean: %t]", o.B)
		case NumberObject:
			b.WriteString("[Number: " + jsNumber(o.N) + "]")
		case BigIntObject:
			b.WriteString("[BigInt: " + o.I.String() + "n]")
		case StringObject:
			s, _ := str16(o.S)
			b.WriteString("[String: " + strconv.Quote(s) + "]")
		case Error:
			b.WriteString(errorName(o.ErrProto))
			if o.Message != nil {
				s, _ := str16(*o.Message)
				b.WriteString(": " + s)
			}
		}
	}
}

func max1(n uint32) uint32 {
	if n == 0 {
		return 1
	}
	return n
}

func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0 && math.Signbit(f):
		return "-0"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func regexpFlags(f uint32) string {
	var s string
	for i, c := range "gimyusldv" { // V8's JSRegExp flag bits
		if f&(1<<i) != 0 {
			s += string(c)
		}
	}
	return s
}
