package store

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Deno KV keys (tuples) as entry keys.
//
// A Deno KV key is a list of parts — string, number (float64), bigint,
// boolean, Uint8Array — packed by the clients into bytes with the
// FoundationDB tuple encoding, whose byte order is Deno KV's key order.
// flowkv stores such a key as an entry key that keeps that order under
// byte-wise comparison (SQLite's BINARY, PostgreSQL's "C" collation,
// DynamoDB's string sort keys):
//
//	TupleMarker, then each packed byte b written as
//	  0x00 -> 0x01 0x01, 0x01 -> 0x01 0x02,
//	  0x02..0x7F -> itself,
//	  0x80..0xFF -> the UTF-8 encoding of U+0080..U+00FF.
//
// The map is increasing and prefix-free, so it keeps the order of any two
// byte strings, keys or range bounds alike. Flat keys never hold control
// characters (ValidateKey), so a key starting with TupleMarker is always a
// tuple key and existing keys need no migration.

// TupleMarker starts every stored tuple key.
const TupleMarker = "\x1e"

// TupleKey returns the entry key that stores the packed tuple bytes b
// (also used for range bounds: any byte string maps, order kept).
func TupleKey(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4 + 2)
	sb.WriteString(TupleMarker)
	for _, c := range b {
		switch {
		case c == 0:
			sb.WriteString("\x01\x01")
		case c == 1:
			sb.WriteString("\x01\x02")
		case c < 0x80:
			sb.WriteByte(c)
		default:
			sb.WriteByte(0xC0 | c>>6)
			sb.WriteByte(0x80 | c&0x3F)
		}
	}
	return sb.String()
}

// IsTupleKey reports whether key is a stored tuple key (by its marker).
func IsTupleKey(key string) bool { return strings.HasPrefix(key, TupleMarker) }

// TupleBytes inverts TupleKey; ok is false when key is not a well-formed
// stored tuple key.
func TupleBytes(key string) (b []byte, ok bool) {
	s, found := strings.CutPrefix(key, TupleMarker)
	if !found {
		return nil, false
	}
	b = make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 1:
			if i+1 >= len(s) || (s[i+1] != 1 && s[i+1] != 2) {
				return nil, false
			}
			b = append(b, s[i+1]-1)
			i += 2
		case c >= 2 && c < 0x80:
			b = append(b, c)
			i++
		case c == 0xC2 || c == 0xC3:
			if i+1 >= len(s) || s[i+1]&0xC0 != 0x80 {
				return nil, false
			}
			b = append(b, (c&0x03)<<6|s[i+1]&0x3F)
			i += 2
		default:
			return nil, false
		}
	}
	return b, true
}

// The tuple type codes Deno KV uses.
const (
	tupBytes    = 0x01
	tupString   = 0x02
	tupNegIntN  = 0x0b // negative integer of more than 8 bytes
	tupIntZero  = 0x14
	tupPosIntN  = 0x1d // positive integer of more than 8 bytes
	tupDouble   = 0x21
	tupFalse    = 0x26
	tupTrue     = 0x27
	maxTupleInt = 8
)

// PackTuple packs key parts into Deno KV's tuple bytes. Parts are string,
// float64 (or int / int64, packed as numbers), *big.Int (bigint), bool and
// []byte (Uint8Array).
func PackTuple(parts []any) ([]byte, error) {
	var out []byte
	for i, p := range parts {
		switch x := p.(type) {
		case string:
			if !utf8.ValidString(x) {
				return nil, Errorf(CodeInvalidArgument, "key part %d is not valid UTF-8", i)
			}
			out = append(out, tupString)
			out = appendEscaped(out, []byte(x))
		case []byte:
			out = append(out, tupBytes)
			out = appendEscaped(out, x)
		case bool:
			if x {
				out = append(out, tupTrue)
			} else {
				out = append(out, tupFalse)
			}
		case int:
			out = appendDouble(out, float64(x))
		case int64:
			out = appendDouble(out, float64(x))
		case float64:
			out = appendDouble(out, x)
		case *big.Int:
			var err error
			if out, err = appendBigInt(out, x); err != nil {
				return nil, err
			}
		default:
			return nil, Errorf(CodeInvalidArgument, "key part %d has type %T; parts are string, number, bigint, boolean or Uint8Array", i, p)
		}
	}
	return out, nil
}

func appendEscaped(out, b []byte) []byte {
	for _, c := range b {
		out = append(out, c)
		if c == 0 {
			out = append(out, 0xff)
		}
	}
	return append(out, 0)
}

func appendDouble(out []byte, f float64) []byte {
	if math.IsNaN(f) { // canonical NaN, as Deno packs it
		if math.Signbit(f) {
			f = math.Float64frombits(0xfff8000000000000)
		} else {
			f = math.Float64frombits(0x7ff8000000000000)
		}
	}
	u := math.Float64bits(f)
	if math.Signbit(f) {
		u = ^u
	} else {
		u ^= 1 << 63
	}
	out = append(out, tupDouble)
	return binary.BigEndian.AppendUint64(out, u)
}

func appendBigInt(out []byte, x *big.Int) ([]byte, error) {
	if x.Sign() == 0 {
		return append(out, tupIntZero), nil
	}
	mag := new(big.Int).Abs(x).Bytes()
	n := len(mag)
	if n > 255 {
		return nil, Errorf(CodeInvalidArgument, "a bigint key part is limited to 255 bytes")
	}
	if x.Sign() > 0 {
		if n <= maxTupleInt {
			out = append(out, byte(tupIntZero+n))
		} else {
			out = append(out, tupPosIntN, byte(n))
		}
		return append(out, mag...), nil
	}
	if n <= maxTupleInt {
		out = append(out, byte(tupIntZero-n))
	} else {
		out = append(out, tupNegIntN, byte(n)^0xff)
	}
	for _, c := range mag {
		out = append(out, ^c)
	}
	return out, nil
}

// UnpackTuple decodes Deno KV tuple bytes into parts (string, float64,
// *big.Int, bool, []byte).
func UnpackTuple(b []byte) ([]any, error) {
	var parts []any
	bad := func(msg string) ([]any, error) {
		return nil, Errorf(CodeInvalidArgument, "not a Deno KV key: %s at byte %d", msg, len(b))
	}
	for len(b) > 0 {
		tag := b[0]
		b = b[1:]
		switch {
		case tag == tupString || tag == tupBytes:
			var raw []byte
			done := false
			for len(b) > 0 {
				c := b[0]
				b = b[1:]
				if c == 0 {
					if len(b) > 0 && b[0] == 0xff {
						raw = append(raw, 0)
						b = b[1:]
						continue
					}
					done = true
					break
				}
				raw = append(raw, c)
			}
			if !done {
				return bad("unterminated string")
			}
			if tag == tupString {
				if !utf8.Valid(raw) {
					return bad("string part is not UTF-8")
				}
				parts = append(parts, string(raw))
			} else {
				if raw == nil {
					raw = []byte{}
				}
				parts = append(parts, raw)
			}
		case tag >= tupNegIntN && tag <= tupPosIntN:
			var n int
			neg := tag < tupIntZero
			switch {
			case tag == tupPosIntN || tag == tupNegIntN:
				if len(b) == 0 {
					return bad("truncated integer")
				}
				n = int(b[0])
				if neg {
					n = int(b[0] ^ 0xff)
				}
				b = b[1:]
			case neg:
				n = int(tupIntZero - tag)
			default:
				n = int(tag - tupIntZero)
			}
			if len(b) < n {
				return bad("truncated integer")
			}
			mag := append([]byte(nil), b[:n]...)
			b = b[n:]
			if neg {
				for i := range mag {
					mag[i] = ^mag[i]
				}
			}
			v := new(big.Int).SetBytes(mag)
			if neg {
				v.Neg(v)
			}
			parts = append(parts, v)
		case tag == tupDouble:
			if len(b) < 8 {
				return bad("truncated number")
			}
			u := binary.BigEndian.Uint64(b)
			b = b[8:]
			if u&(1<<63) == 0 {
				u = ^u
			} else {
				u ^= 1 << 63
			}
			parts = append(parts, math.Float64frombits(u))
		case tag == tupFalse:
			parts = append(parts, false)
		case tag == tupTrue:
			parts = append(parts, true)
		default:
			return bad(fmt.Sprintf("unknown type code 0x%02x", tag))
		}
	}
	return parts, nil
}

// validTupleKey checks a stored tuple key: well formed, and a non-empty
// tuple of Deno KV parts.
func validTupleKey(key string) error {
	b, ok := TupleBytes(key)
	if !ok {
		return Errorf(CodeInvalidArgument, "key starts with the Deno KV key marker but is not a stored Deno KV key")
	}
	if len(b) == 0 {
		return Errorf(CodeInvalidArgument, "a Deno KV key must have at least one part")
	}
	if _, err := UnpackTuple(b); err != nil {
		return err
	}
	return nil
}

// Deno KV keys in JSON: an array whose items are the parts, strings and
// booleans as themselves, finite numbers as JSON numbers, and the rest as
// one-member objects:
//
//	{"number": "NaN" | "Infinity" | "-Infinity" | "-0"}
//	{"bigint": "123"}
//	{"bytes": "<base64>"}  (a Uint8Array)
//
// so ["users", 1, {"bigint": "2"}] is the key ["users", 1, 2n]. The store
// browser shows tuple keys this way and every face accepts a key written
// so (ParseJSONKey).

// FormatJSONKey writes parts as a JSON array (see above).
func FormatJSONKey(parts []any) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		switch x := p.(type) {
		case string:
			j, _ := json.Marshal(x)
			b.Write(j)
		case bool:
			b.WriteString(strconv.FormatBool(x))
		case float64:
			switch {
			case math.IsNaN(x):
				b.WriteString(`{"number":"NaN"}`)
			case math.IsInf(x, 1):
				b.WriteString(`{"number":"Infinity"}`)
			case math.IsInf(x, -1):
				b.WriteString(`{"number":"-Infinity"}`)
			case x == 0 && math.Signbit(x):
				b.WriteString(`{"number":"-0"}`)
			default:
				b.WriteString(FormatNumber(x))
			}
		case *big.Int:
			b.WriteString(`{"bigint":"` + x.String() + `"}`)
		case []byte:
			b.WriteString(`{"bytes":"` + base64.StdEncoding.EncodeToString(x) + `"}`)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// JSONKeyOf returns a stored tuple key as its JSON array, ok false for a
// flat key.
func JSONKeyOf(key string) (string, bool) {
	b, ok := TupleBytes(key)
	if !ok {
		return "", false
	}
	parts, err := UnpackTuple(b)
	if err != nil {
		return "", false
	}
	return FormatJSONKey(parts), true
}

// ParseJSONKey parses a Deno KV key written as a JSON array (see above).
func ParseJSONKey(s string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw []json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, Errorf(CodeInvalidArgument, "a Deno KV key is a JSON array: %v", err)
	}
	if dec.More() {
		return nil, Errorf(CodeInvalidArgument, "a Deno KV key is one JSON array")
	}
	if len(raw) == 0 {
		return nil, Errorf(CodeInvalidArgument, "a Deno KV key must have at least one part")
	}
	parts := make([]any, 0, len(raw))
	for i, r := range raw {
		var v any
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, Errorf(CodeInvalidArgument, "key part %d: %v", i, err)
		}
		switch x := v.(type) {
		case string, bool:
			parts = append(parts, x)
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, Errorf(CodeInvalidArgument, "key part %d: %s is not a float64", i, x)
			}
			parts = append(parts, f)
		case map[string]any:
			p, err := parseTypedPart(x)
			if err != nil {
				return nil, Errorf(CodeInvalidArgument, "key part %d: %s", i, Text(err))
			}
			parts = append(parts, p)
		default:
			return nil, Errorf(CodeInvalidArgument, "key part %d must be a string, number, boolean or {\"bigint\"|\"bytes\"|\"number\": \"…\"}", i)
		}
	}
	return parts, nil
}

func parseTypedPart(m map[string]any) (any, error) {
	if len(m) != 1 {
		return nil, Errorf(CodeInvalidArgument, "a typed key part is an object of one member: bigint, bytes or number")
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, Errorf(CodeInvalidArgument, "%q must be a string", k)
		}
		switch k {
		case "bigint":
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return nil, Errorf(CodeInvalidArgument, "bigint %q is not a decimal integer", s)
			}
			return n, nil
		case "bytes":
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, Errorf(CodeInvalidArgument, "bytes must be standard base64")
			}
			return b, nil
		case "number":
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			case "-0":
				return math.Copysign(0, -1), nil
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, Errorf(CodeInvalidArgument, "number %q is not a number", s)
			}
			return f, nil
		}
		return nil, Errorf(CodeInvalidArgument, "unknown typed key part %q (bigint, bytes or number)", k)
	}
	return nil, nil
}

// KeyFromJSON returns the stored key for a key given as a JSON array of
// Deno KV parts.
func KeyFromJSON(s string) (string, error) {
	parts, err := ParseJSONKey(s)
	if err != nil {
		return "", err
	}
	b, err := PackTuple(parts)
	if err != nil {
		return "", err
	}
	return TupleKey(b), nil
}

// LooksLikeJSONKey reports whether a key given by a person (a path, a form,
// a block) is meant as a Deno KV key: it is a JSON array. Flat keys that
// start with '[' and end with ']' are read as Deno keys when they parse.
func LooksLikeJSONKey(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']'
}

// ResolveKey reads a key given by a person or a flow (an HTTP path, a
// form, a block's key): a JSON array of Deno KV parts that parses
// (LooksLikeJSONKey, ParseJSONKey) names the Deno KV key; anything else is
// the flat key it is.
func ResolveKey(s string) string {
	if !LooksLikeJSONKey(s) {
		return s
	}
	k, err := KeyFromJSON(s)
	if err != nil {
		return s
	}
	return k
}

// ResolvePrefix reads a key prefix given by a person or a flow: a JSON
// array of Deno KV parts is the prefix of the Deno KV keys that start with
// those parts (["users"] covers ["users", …] and ["users"] itself);
// anything else is the flat prefix it is.
func ResolvePrefix(s string) string {
	if !LooksLikeJSONKey(s) {
		return s
	}
	parts, err := ParseJSONKey(s)
	if err != nil {
		return s
	}
	b, err := PackTuple(parts)
	if err != nil {
		return s
	}
	return TupleKey(b)
}
