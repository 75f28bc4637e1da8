package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/flowkv/flowkv/internal/jsonx"
)

// Canonicalize returns the canonical encoding of a JSON value: compact, object
// keys sorted by their UTF-8 bytes, no HTML escaping, numbers normalised (so
// 1, 1.0 and 1e0 are the same value). Two values that are equal as JSON have
// the same canonical encoding, which is what exact `data` search compares.
func Canonicalize(data json.RawMessage) (json.RawMessage, error) {
	return canonicalize(data, DefaultMaxDepth)
}

// DataHash is the hex SHA-256 of a canonical encoding; backends index it to
// serve exact `data` search.
func DataHash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

func canonicalize(data []byte, maxDepth int) (json.RawMessage, error) {
	if err := checkDepth(data, maxDepth); err != nil {
		return nil, err
	}
	if out, ok := scanCanonical(data); ok {
		return out, nil
	}
	return decodeCanonical(data)
}

// decodeCanonical canonicalises by decoding into Go values: the reference
// for scanCanonical, and the path that explains invalid input.
func decodeCanonical(data []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Errorf(CodeInvalidArgument, "data is not valid JSON: %s", jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(CodeInvalidArgument, "data is not valid JSON: trailing data after the value")
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// checkDepth refuses data nested deeper than max (the decoder recurses, so
// this runs first).
func checkDepth(data []byte, max int) error {
	if at, _ := jsonx.TooDeep(data, max); at >= 0 {
		return Errorf(CodeInvalidArgument, "data is nested deeper than %d levels", max)
	}
	return nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		s, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case string:
		writeString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return Errorf(CodeInvalidArgument, "data holds an unsupported value %T", v)
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // strings always encode
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// canonicalNumber normalises a JSON number literal by its value, not its
// spelling. An integer value prints as its exact decimal digits, whatever the
// literal looks like (1, 1.0, 1e0 and 10e-1 are "1"; 1e22 and
// 10000000000000000000000 are the same digits), so big IDs are never rounded
// and equal values always encode equally. Other values print as the shortest
// float64 that round-trips, integral ones again as digits.
func canonicalNumber(lit string) (string, error) {
	if s, ok := exactInteger(lit, max(maxExpandedDigits, len(lit))); ok {
		return s, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", Errorf(CodeInvalidArgument, "data holds a number out of range: %.40s", lit)
	}
	return FormatNumber(f), nil
}

// maxExpandedDigits bounds how far an exponent may expand an integer
// (float64's largest value has 309 digits). An integer longer than this and
// than its own literal goes through float64, where it is out of range.
const maxExpandedDigits = 309

// exactInteger returns the decimal digits of the JSON number lit when its
// value is an integer of at most maxDigits digits.
func exactInteger(lit string, maxDigits int) (string, bool) {
	s, neg := strings.CutPrefix(lit, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1<<20 || e < -(1<<20) {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	exp -= len(frac)
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	if trimmed == "" {
		return "0", true // also -0
	}
	if exp < 0 || len(trimmed)+exp > maxDigits {
		return "", false
	}
	out := trimmed + strings.Repeat("0", exp)
	if neg {
		out = "-" + out
	}
	return out, true
}

// FormatNumber prints a float64 as canonical JSON does: the shortest
// decimal that round-trips, integral values as plain digits.
func FormatNumber(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if i, ok := exactInteger(s, maxExpandedDigits); ok {
		return i
	}
	return s
}

// Number is a JSON number kept exact when it is an integer.
type Number struct {
	Int     int64
	Float   float64
	IsFloat bool
}

// ParseNumber parses a JSON number (surrounding whitespace allowed).
func ParseNumber(data json.RawMessage) (Number, error) {
	s := strings.TrimSpace(string(data))
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return Number{}, Errorf(CodeInvalidArgument, "not a number")
	}
	if !json.Valid([]byte(s)) {
		return Number{}, Errorf(CodeInvalidArgument, "not a number")
	}
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Number{Int: n}, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return Number{}, Errorf(CodeInvalidArgument, "number out of range")
	}
	return Number{Float: f, IsFloat: true}, nil
}

func (n Number) float() float64 {
	if n.IsFloat {
		return n.Float
	}
	return float64(n.Int)
}

// Add returns a+b, exact for integers unless the sum overflows int64.
func (n Number) Add(b Number) Number {
	if !n.IsFloat && !b.IsFloat {
		s := n.Int + b.Int
		if (s > n.Int) == (b.Int > 0) {
			return Number{Int: s}
		}
	}
	return Number{Float: n.float() + b.float(), IsFloat: true}
}

// JSON encodes n canonically.
func (n Number) JSON() json.RawMessage {
	if !n.IsFloat {
		return json.RawMessage(strconv.FormatInt(n.Int, 10))
	}
	return json.RawMessage(FormatNumber(n.Float))
}

// SumData computes the data an OpSum writes: current (nil when absent,
// counting as 0) plus delta. A non-numeric current value is invalid_argument.
func SumData(current, delta json.RawMessage) (json.RawMessage, error) {
	d, err := ParseNumber(delta)
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "sum needs a number, got %.40s", string(delta))
	}
	var c Number
	if current != nil {
		if c, err = ParseNumber(current); err != nil {
			return nil, Errorf(CodeInvalidArgument, "sum on a value that is not a number")
		}
	}
	s := c.Add(d)
	if s.IsFloat && (math.IsInf(s.Float, 0) || math.IsNaN(s.Float)) {
		return nil, Errorf(CodeInvalidArgument, "sum overflows")
	}
	return s.JSON(), nil
}
