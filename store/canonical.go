package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

func asError(err error, target **Error) bool { return errors.As(err, target) }

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
	// Check the nesting depth before decoding: the decoder recurses.
	if err := checkDepth(data, maxDepth); err != nil {
		return nil, err
	}
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

// checkDepth scans for nesting deeper than max without recursion, skipping
// brackets inside strings.
func checkDepth(data []byte, max int) error {
	depth := 0
	inStr, esc := false, false
	for _, c := range data {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '[', '{':
			depth++
			if depth > max {
				return Errorf(CodeInvalidArgument, "data is nested deeper than %d levels", max)
			}
		case ']', '}':
			depth--
		}
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

// canonicalNumber normalises a JSON number literal. Integers that fit in
// int64 print as integers; other values print as the shortest float64 that
// round-trips, in integer form when integral and below 1e21 (as JavaScript
// prints them). Integer literals beyond float64's exact range keep their
// digits so big IDs are not rounded.
func canonicalNumber(lit string) (string, error) {
	if !strings.ContainsAny(lit, ".eE") {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		var bi big.Int
		if _, ok := bi.SetString(lit, 10); ok {
			return bi.String(), nil
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", Errorf(CodeInvalidArgument, "data holds a number out of range: %.40s", lit)
	}
	return FormatNumber(f), nil
}

// FormatNumber prints a float64 as canonical JSON does.
func FormatNumber(f float64) string {
	if f == 0 {
		return "0" // also -0
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		if math.Abs(f) < 1<<63 {
			return strconv.FormatInt(int64(f), 10)
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
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
