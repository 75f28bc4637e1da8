package store

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a value a query compares.
type Kind uint8

// The kinds of value. KindTime is an entry's time field ($createdAt, …).
const (
	KindMissing Kind = iota
	KindNumber
	KindString
	KindTime
	KindNull
	KindFalse
	KindTrue
	KindObject
	KindArray
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "a number"
	case KindString:
		return "a string"
	case KindTime:
		return "a time"
	case KindNull:
		return "null"
	case KindFalse, KindTrue:
		return "a boolean"
	case KindObject:
		return "an object"
	case KindArray:
		return "an array"
	}
	return "missing"
}

// Ranks order values of different kinds: numbers, strings (and times),
// null, false, true, objects and arrays (which tie), then missing.
const (
	RankNumber  = 1
	RankString  = 2
	RankNull    = 3
	RankFalse   = 4
	RankTrue    = 5
	RankObject  = 6
	RankMissing = 7
)

// Rank returns k's place in the order of kinds.
func (k Kind) Rank() int {
	switch k {
	case KindNumber:
		return RankNumber
	case KindString, KindTime:
		return RankString
	case KindNull:
		return RankNull
	case KindFalse:
		return RankFalse
	case KindTrue:
		return RankTrue
	case KindObject, KindArray:
		return RankObject
	}
	return RankMissing
}

// Value is a typed value a query compares: a JSON value, an entry's time,
// or missing.
type Value struct {
	kind Kind
	// str is the string, or a number's canonical literal.
	str string
	// nkey orders numbers (see NumberKey).
	nkey string
	// t is a time in unix microseconds.
	t int64
	// raw is an object's or array's decoded JSON (json.Number numbers).
	raw any
}

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.kind }

// Str returns a string value (or a number's canonical literal).
func (v Value) Str() string { return v.str }

// Micros returns a time value in unix microseconds.
func (v Value) Micros() int64 { return v.t }

// NumberKey returns a number value's order key (see NumberKey).
func (v Value) NumberKey() string { return v.nkey }

// Missing is the value of a field an entry does not have.
var Missing = Value{}

// StringValue returns a string value.
func StringValue(s string) Value { return Value{kind: KindString, str: s} }

// TimeValue returns a time value (microsecond precision).
func TimeValue(t time.Time) Value { return Value{kind: KindTime, t: t.UnixMicro()} }

// NumberValue returns the number value of a JSON number literal; it is
// invalid_argument when lit is not one.
func NumberValue(lit string) (Value, error) {
	c, err := canonicalNumber(lit)
	if err != nil || !json.Valid([]byte(lit)) || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return Value{}, Errorf(CodeInvalidArgument, "not a number: %.40s", lit)
	}
	return Value{kind: KindNumber, str: c, nkey: NumberKey(c)}, nil
}

// NullValue, BoolValue and ObjectValue build the other kinds.
func NullValue() Value { return Value{kind: KindNull} }

// BoolValue returns true or false.
func BoolValue(b bool) Value {
	if b {
		return Value{kind: KindTrue}
	}
	return Value{kind: KindFalse}
}

// ValueOfJSON returns the value of a JSON text.
func ValueOfJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return Value{}, Errorf(CodeInvalidArgument, "value is not valid JSON")
	}
	return valueOfAny(x), nil
}

// valueOfAny converts decoded JSON (json.Number numbers) to a Value.
func valueOfAny(x any) Value {
	switch t := x.(type) {
	case nil:
		return Value{kind: KindNull}
	case bool:
		return BoolValue(t)
	case json.Number:
		c, err := canonicalNumber(string(t))
		if err != nil {
			c = string(t)
		}
		return Value{kind: KindNumber, str: c, nkey: NumberKey(c)}
	case string:
		return Value{kind: KindString, str: t}
	case []any:
		return Value{kind: KindArray, raw: t}
	case map[string]any:
		return Value{kind: KindObject, raw: t}
	}
	return Value{}
}

// JSON returns v's canonical JSON ("" for missing and times).
func (v Value) JSON() string {
	switch v.kind {
	case KindNumber:
		return v.str
	case KindString:
		return jsonString(v.str)
	case KindNull:
		return "null"
	case KindFalse:
		return "false"
	case KindTrue:
		return "true"
	case KindObject, KindArray:
		var b bytes.Buffer
		if err := writeCanonical(&b, v.raw); err != nil {
			return ""
		}
		return b.String()
	}
	return ""
}

// Elements returns an array value's elements.
func (v Value) Elements() []Value {
	elems, _ := v.raw.([]any)
	out := make([]Value, len(elems))
	for i, e := range elems {
		out[i] = valueOfAny(e)
	}
	return out
}

// sameType reports whether a and b have the same type (the two booleans
// are one type).
func sameType(a, b Value) bool {
	if a.kind == b.kind {
		return true
	}
	return (a.kind == KindTrue || a.kind == KindFalse) && (b.kind == KindTrue || b.kind == KindFalse)
}

// Equal reports whether a and b are the same value: same type and value,
// objects and arrays by their canonical JSON. Missing equals nothing.
func Equal(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindMissing:
		return false
	case KindNumber:
		return a.nkey == b.nkey
	case KindString:
		return a.str == b.str
	case KindTime:
		return a.t == b.t
	case KindObject, KindArray:
		return a.JSON() == b.JSON()
	}
	return true
}

// Compare orders values: by rank (numbers, strings and times, null,
// false, true, objects and arrays, missing), numbers by value, strings by
// code point, times by time; values of one rank that have no order
// (objects and arrays) compare equal.
func Compare(a, b Value) int {
	ra, rb := a.kind.Rank(), b.kind.Rank()
	if ra != rb {
		if ra < rb {
			return -1
		}
		return 1
	}
	switch {
	case a.kind == KindNumber && b.kind == KindNumber:
		return strings.Compare(a.nkey, b.nkey)
	case a.kind == KindString && b.kind == KindString:
		return strings.Compare(a.str, b.str)
	case a.kind == KindTime && b.kind == KindTime:
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	case a.kind == KindTime:
		return -1 // never mixed in practice: one field has one of them
	case b.kind == KindTime:
		return 1
	}
	return 0
}

// NumberKey returns a string whose byte order is the numeric order of JSON
// number literals (exact, whatever their size): "1" for zero, "2"+exponent+
// digits for positive numbers, "0"+inverted exponent+inverted digits+"~"
// for negative ones.
func NumberKey(lit string) string {
	neg := strings.HasPrefix(lit, "-")
	s := strings.TrimPrefix(lit, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, _ = strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		mant = s[:i]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	e := len(intPart) + exp // value = 0.digits × 10^e
	trimmed := strings.TrimLeft(digits, "0")
	e -= len(digits) - len(trimmed)
	trimmed = strings.TrimRight(trimmed, "0")
	if trimmed == "" {
		return "1"
	}
	const bias = 1_000_000_000
	if !neg {
		return "2" + orderedUint(int64(e)+bias) + trimmed
	}
	var b strings.Builder
	b.WriteString("0")
	b.WriteString(orderedUint(1_000_000_000_000_000_000 - (int64(e) + bias)))
	for i := 0; i < len(trimmed); i++ {
		b.WriteByte('9' - (trimmed[i] - '0'))
	}
	b.WriteByte('~')
	return b.String()
}

// orderedUint spells n >= 0 so that byte order is numeric order: its
// number of digits as a letter, then the digits.
func orderedUint(n int64) string {
	d := strconv.FormatInt(n, 10)
	return string(rune('a'+len(d))) + d
}

// cursorText spells v for a cursor: a kind letter and, for numbers,
// strings and times, the value. Objects and arrays keep only their kind
// (their rank ties).
func (v Value) cursorText() string {
	switch v.kind {
	case KindNumber:
		return "n" + v.str
	case KindString:
		return "s" + v.str
	case KindTime:
		return "t" + strconv.FormatInt(v.t, 10)
	case KindNull:
		return "z"
	case KindFalse:
		return "f"
	case KindTrue:
		return "b"
	case KindObject:
		return "o"
	case KindArray:
		return "a"
	}
	return "m"
}

// fingerprintText spells v fully (objects and arrays by canonical JSON).
func (v Value) fingerprintText() string {
	if v.kind == KindObject || v.kind == KindArray {
		return v.cursorText() + v.JSON()
	}
	return v.cursorText()
}

func valueFromCursor(s string) (Value, error) {
	bad := Errorf(CodeInvalidArgument, "cursor is not valid")
	if s == "" {
		return Value{}, bad
	}
	p := s[1:]
	switch s[0] {
	case 'n':
		v, err := NumberValue(p)
		if err != nil || v.str != p {
			return Value{}, bad
		}
		return v, nil
	case 's':
		return StringValue(p), nil
	case 't':
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return Value{}, bad
		}
		return Value{kind: KindTime, t: n}, nil
	}
	if p != "" {
		return Value{}, bad
	}
	switch s[0] {
	case 'z':
		return Value{kind: KindNull}, nil
	case 'f':
		return Value{kind: KindFalse}, nil
	case 'b':
		return Value{kind: KindTrue}, nil
	case 'o':
		return Value{kind: KindObject}, nil
	case 'a':
		return Value{kind: KindArray}, nil
	case 'm':
		return Value{}, nil
	}
	return Value{}, bad
}

// Doc is an entry with its data decoded once, for evaluating conditions
// and sort keys in Go.
type Doc struct {
	E   *Entry
	raw any
	ok  bool
}

// NewDoc decodes e's data.
func NewDoc(e *Entry) *Doc {
	d := &Doc{E: e}
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber()
	if err := dec.Decode(&d.raw); err == nil {
		d.ok = true
	}
	return d
}

// Get returns the value of f in the entry (Missing when absent).
func (d *Doc) Get(f Field) Value {
	switch f.Meta {
	case MetaKey:
		return StringValue(d.E.Key)
	case MetaFlowUUID:
		return StringValue(d.E.FlowUUID)
	case MetaVersion:
		s := strconv.FormatInt(d.E.Version, 10)
		return Value{kind: KindNumber, str: s, nkey: NumberKey(s)}
	case MetaCreatedAt:
		return TimeValue(d.E.CreatedAt)
	case MetaUpdatedAt:
		return TimeValue(d.E.UpdatedAt)
	case MetaExpiresAt:
		if d.E.ExpiresAt == nil {
			return NullValue()
		}
		return TimeValue(*d.E.ExpiresAt)
	}
	if !d.ok {
		return Missing
	}
	cur := d.raw
	for _, p := range f.Path {
		if p.IsIndex {
			arr, ok := cur.([]any)
			if !ok || p.Index >= len(arr) {
				return Missing
			}
			cur = arr[p.Index]
		} else {
			obj, ok := cur.(map[string]any)
			if !ok {
				return Missing
			}
			if cur, ok = obj[p.Key]; !ok {
				return Missing
			}
		}
	}
	return valueOfAny(cur)
}

// Test reports whether value v of the condition's field satisfies c.
func (c *Cond) Test(v Value) bool {
	present := v.kind != KindMissing
	switch c.Op {
	case OpEq:
		return Equal(v, c.Value)
	case OpNe:
		return present && sameType(v, c.Value) && !Equal(v, c.Value)
	case OpLt, OpLte, OpGt, OpGte:
		if !present || v.kind != c.Value.kind {
			return false
		}
		r := Compare(v, c.Value)
		switch c.Op {
		case OpLt:
			return r < 0
		case OpLte:
			return r <= 0
		case OpGt:
			return r > 0
		}
		return r >= 0
	case OpIn:
		for _, w := range c.Values {
			if Equal(v, w) {
				return true
			}
		}
		return false
	case OpContains:
		switch v.kind {
		case KindString:
			return c.Value.kind == KindString && strings.Contains(v.str, c.Value.str)
		case KindArray:
			for _, e := range v.Elements() {
				if Equal(e, c.Value) {
					return true
				}
			}
		}
		return false
	case OpStartsWith:
		return v.kind == KindString && strings.HasPrefix(v.str, c.Value.str)
	case OpExists:
		return present == c.Exists
	}
	return false
}

// Matches reports whether the entry satisfies the query's conditions.
func (pq *PreparedQuery) Matches(d *Doc) bool {
	if len(pq.Where) == 0 {
		return true
	}
	for i := range pq.Where {
		ok := pq.Where[i].Test(d.Get(pq.Where[i].Field))
		if pq.Any && ok {
			return true
		}
		if !pq.Any && !ok {
			return false
		}
	}
	return !pq.Any
}

// comparePos orders positions in order: each field's value (descending
// ones reversed, missing always last), then the key in the direction of the
// first field.
func comparePos(order []Ord, a, b *Position) int {
	for i, o := range order {
		if c := compareOrdered(a.Vals[i], b.Vals[i], o.Desc); c != 0 {
			return c
		}
	}
	c := strings.Compare(a.Key, b.Key)
	if len(order) > 0 && order[0].Desc {
		c = -c
	}
	return c
}

func compareOrdered(a, b Value, desc bool) int {
	am, bm := a.kind == KindMissing, b.kind == KindMissing
	switch {
	case am && bm:
		return 0
	case am:
		return 1
	case bm:
		return -1
	}
	c := Compare(a, b)
	if desc {
		c = -c
	}
	return c
}
