package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Operator is the comparison of one Query condition.
type Operator string

// The condition operators (docs/design.md "Search by field").
const (
	OpEq  Operator = "eq"
	OpNe  Operator = "ne"
	OpLt  Operator = "lt"
	OpLte Operator = "lte"
	OpGt  Operator = "gt"
	OpGte Operator = "gte"
	// OpIn matches when the field equals one of the values of an array.
	OpIn Operator = "in"
	// OpContains matches a string holding the value as a substring, or an
	// array holding an element equal to the value.
	OpContains Operator = "contains"
	// OpStartsWith matches a string starting with the (string) value.
	OpStartsWith Operator = "startsWith"
	// OpExists matches when the field's presence equals the value (true or
	// false).
	OpExists Operator = "exists"
)

// Operators lists every operator in the order the documentation gives them.
var Operators = []Operator{OpEq, OpNe, OpLt, OpLte, OpGt, OpGte, OpIn, OpContains, OpStartsWith, OpExists}

// Match says how a query combines its conditions.
type Match string

// The ways conditions combine: every one (the default), or at least one.
const (
	MatchAll Match = "all"
	MatchAny Match = "any"
)

// Condition is one test of a Query: Field Op Value.
type Condition struct {
	// Field is a dotted path into data ("status", "customer.email",
	// "items.0.sku"; a part holding a dot or other punctuation is written
	// in brackets as a JSON string: `["a.b"]`), or an entry field: $key,
	// $version, $createdAt, $updatedAt, $expiresAt, $flowUuid.
	Field string          `json:"field"`
	Op    Operator        `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Order is one sort key of a Query.
type Order struct {
	Field string `json:"field"`
	Desc  bool   `json:"desc,omitempty"`
}

// Query searches one namespace by fields of its entries' data. See
// Store.Query for the contract.
type Query struct {
	Name    string      `json:"name"`
	Where   []Condition `json:"where,omitempty"`
	Match   Match       `json:"match,omitempty"`
	OrderBy []Order     `json:"orderBy,omitempty"`
	// Limit is the page size: 0 means DefaultLimit, above MaxListLimit is
	// invalid_argument.
	Limit int `json:"limit,omitempty"`
	// Cursor continues a previous page of the same query.
	Cursor string `json:"cursor,omitempty"`
	// Count asks for the number of matching entries (QueryPage.Count).
	Count bool `json:"count,omitempty"`
}

// QueryPage is one page of a Query's answer.
type QueryPage struct {
	Entries []Entry `json:"items"`
	// NextCursor continues the query; "" when there is no more. A page may
	// hold fewer entries than the limit (even none) while NextCursor is set:
	// a query no index serves examines a bounded number of entries per page.
	NextCursor string `json:"nextCursor"`
	// Count is the number of matching entries, when the query asked for it.
	Count *int64 `json:"count,omitempty"`
	// Index is the declared index that served the query ("" when none did:
	// the namespace was read in key order).
	Index string `json:"index,omitempty"`
}

// IndexState tells whether a declared index serves queries yet.
type IndexState string

// Index states: an index is built for existing entries after it is
// declared, and serves queries once ready.
const (
	IndexBuilding IndexState = "building"
	IndexReady    IndexState = "ready"
)

// Index is a declared index: queries on Field in namespace Name are
// answered from it.
type Index struct {
	Name      string     `json:"name"`
	Field     string     `json:"field"`
	State     IndexState `json:"state"`
	CreatedAt time.Time  `json:"createdAt"`
}

// Query limits (defaults of Limits fields).
const (
	DefaultMaxQueryConditions     = 20
	DefaultMaxConditionValueBytes = 4096
	DefaultMaxQueryScan           = 1000
	DefaultMaxIndexesPerName      = 10
	// MaxOrderBy bounds the sort keys of one query.
	MaxOrderBy = 4
	// MaxInValues bounds the values of one `in` condition.
	MaxInValues = 100
	// MaxFieldBytes bounds a field path's spelling.
	MaxFieldBytes = 256
	// MaxFieldParts bounds a field path's parts.
	MaxFieldParts = 32
)

// Entry fields a query can name with a leading $.
const (
	MetaKey       = "key"
	MetaVersion   = "version"
	MetaCreatedAt = "createdAt"
	MetaUpdatedAt = "updatedAt"
	MetaExpiresAt = "expiresAt"
	MetaFlowUUID  = "flowUuid"
)

var metaFields = []string{MetaKey, MetaVersion, MetaCreatedAt, MetaUpdatedAt, MetaExpiresAt, MetaFlowUUID}

// Field is a parsed field of a condition or sort key: an entry field
// (Meta) or a path into data.
type Field struct {
	// Meta names the entry field of a $-field ("key", "version", …); ""
	// for a path into data.
	Meta string
	// Path is the path into data: object keys and array indexes.
	Path []PathPart
}

// PathPart is one step of a data path.
type PathPart struct {
	// Key is the object key (when !IsIndex).
	Key string
	// Index is the array index (when IsIndex).
	Index   int
	IsIndex bool
}

// ParseField parses a field: `$key` and the other entry fields, or a path
// into data whose parts are separated by dots. A part made of digits only
// indexes an array; any part may be written in brackets as a JSON string
// (`["a.b"]`, `items["0"]`), which names an object key as it is: that is
// how keys holding '.', '[', ']', '"', a leading '$', or only digits are
// written. Anything else is invalid_argument.
func ParseField(s string) (Field, error) {
	bad := func(format string, args ...any) (Field, error) {
		return Field{}, Errorf(CodeInvalidArgument, "field %q: "+format, append([]any{trunc(s)}, args...)...)
	}
	if s == "" {
		return Field{}, Errorf(CodeInvalidArgument, "field must not be empty")
	}
	if len(s) > MaxFieldBytes {
		return Field{}, Errorf(CodeTooLarge, "field is %d bytes, the limit is %d", len(s), MaxFieldBytes)
	}
	if !utf8.ValidString(s) {
		return Field{}, Errorf(CodeInvalidArgument, "field is not valid UTF-8")
	}
	if s[0] == '$' {
		for _, m := range metaFields {
			if s[1:] == m {
				return Field{Meta: m}, nil
			}
		}
		return bad("unknown entry field (want $key, $version, $createdAt, $updatedAt, $expiresAt or $flowUuid; a data key starting with $ is written [%q])", s)
	}
	var f Field
	i := 0
	for {
		if len(f.Path) == MaxFieldParts {
			return bad("more than %d parts", MaxFieldParts)
		}
		if i < len(s) && s[i] == '[' {
			key, n, err := bracketKey(s[i:])
			if err != nil {
				return bad("%s", err.Error())
			}
			f.Path = append(f.Path, PathPart{Key: key})
			i += n
		} else {
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			part := s[i:j]
			if part == "" {
				return bad("empty part (a key that is empty or holds a dot is written in brackets: [\"a.b\"])")
			}
			for _, r := range part {
				if r == ']' || r == '"' || unicode.IsControl(r) {
					return bad("part %q holds %q: write it in brackets as a JSON string, [%q]", part, r, part)
				}
			}
			if isDigits(part) {
				if len(part) > 9 || (len(part) > 1 && part[0] == '0') {
					return bad("array index %s is not valid (write an object key of digits in brackets: [%q])", part, part)
				}
				n, _ := strconv.Atoi(part)
				f.Path = append(f.Path, PathPart{Index: n, IsIndex: true})
			} else {
				f.Path = append(f.Path, PathPart{Key: part})
			}
			i = j
		}
		if i == len(s) {
			return f, nil
		}
		switch s[i] {
		case '.':
			i++
			if i == len(s) {
				return bad("ends with a dot")
			}
		case '[':
		default:
			return bad("unexpected %q after a bracketed part", s[i])
		}
	}
}

// bracketKey parses `["…"]` at the start of s, returning the key and the
// bytes consumed.
func bracketKey(s string) (string, int, error) {
	if len(s) < 2 || s[1] != '"' {
		return "", 0, Errorf(CodeInvalidArgument, "a bracket holds a JSON string: [\"key\"]")
	}
	esc := false
	for j := 2; j < len(s); j++ {
		switch {
		case esc:
			esc = false
		case s[j] == '\\':
			esc = true
		case s[j] == '"':
			var key string
			if err := json.Unmarshal([]byte(s[1:j+1]), &key); err != nil {
				return "", 0, Errorf(CodeInvalidArgument, "bracket is not a valid JSON string")
			}
			if strings.ContainsRune(key, 0) {
				return "", 0, Errorf(CodeInvalidArgument, "a key holding U+0000 cannot be searched")
			}
			if j+1 >= len(s) || s[j+1] != ']' {
				return "", 0, Errorf(CodeInvalidArgument, "bracket is not closed with ]")
			}
			return key, j + 2, nil
		}
	}
	return "", 0, Errorf(CodeInvalidArgument, "bracket is not closed")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String returns the field's canonical spelling: the same field always
// spells the same (`["status"]` is `status`), so it names indexes.
func (f Field) String() string {
	if f.Meta != "" {
		return "$" + f.Meta
	}
	var b strings.Builder
	for i, p := range f.Path {
		switch {
		case p.IsIndex:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strconv.Itoa(p.Index))
		case bareKey(p.Key, i == 0):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p.Key)
		default:
			b.WriteByte('[')
			b.WriteString(jsonString(p.Key))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func bareKey(k string, first bool) bool {
	if k == "" || isDigits(k) || (first && k[0] == '$') {
		return false
	}
	for _, r := range k {
		if r == '.' || r == '[' || r == ']' || r == '"' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func jsonString(s string) string {
	var b bytes.Buffer
	writeString(&b, s)
	return b.String()
}

func trunc(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// IsData reports whether f is a path into data (not an entry field).
func (f Field) IsData() bool { return f.Meta == "" }

// ValidateIndexField checks the field of a declared index: a path into
// data (entry fields need none: $key is the namespace's own order), and
// returns its canonical spelling.
func ValidateIndexField(field string) (string, error) {
	f, err := ParseField(field)
	if err != nil {
		return "", err
	}
	if !f.IsData() {
		return "", Errorf(CodeInvalidArgument, "field %s: indexes are declared on fields of data ($key is always in order; other entry fields cannot be indexed)", field)
	}
	return f.String(), nil
}

// Cond is a validated condition.
type Cond struct {
	Field Field
	Op    Operator
	// Value is the comparison value (eq, ne, lt…, contains, startsWith).
	Value Value
	// Values are the values of `in`.
	Values []Value
	// Exists is the value of `exists`.
	Exists bool
}

// Ord is a validated sort key.
type Ord struct {
	Field Field
	Desc  bool
}

// PreparedQuery is a validated Query, ready for a backend.
type PreparedQuery struct {
	Name    string
	Where   []Cond
	Any     bool
	OrderBy []Ord
	Limit   int
	Count   bool
	// Scan is the bound on entries a page examines (Limits.MaxQueryScan).
	Scan int
	// After is the cursor's position ("" cursor: nil).
	After *Position
	// afterOrder is the order the cursor was made for.
	afterOrder  string
	fingerprint string
}

// Position is a place in a query's order: the values of the order's fields
// and the key.
type Position struct {
	Vals []Value
	Key  string
}

// PrepareQuery validates q against l: the namespace, at most
// MaxQueryConditions conditions, each value at most MaxConditionValueBytes
// of JSON and of a type the operator takes, fields that parse, at most
// MaxOrderBy sort keys, the limit and the cursor. Too many conditions or
// too large a value is too_large; the rest invalid_argument.
func (l Limits) PrepareQuery(q Query) (*PreparedQuery, error) {
	if err := l.ValidateName(q.Name); err != nil {
		return nil, err
	}
	pq := &PreparedQuery{Name: q.Name, Count: q.Count, Scan: l.MaxQueryScan}
	switch q.Match {
	case "", MatchAll:
	case MatchAny:
		pq.Any = true
	default:
		return nil, Errorf(CodeInvalidArgument, "match %q is not all or any", q.Match)
	}
	if len(q.Where) > l.MaxQueryConditions {
		return nil, Errorf(CodeTooLarge, "query has %d conditions, the limit is %d", len(q.Where), l.MaxQueryConditions)
	}
	for i, c := range q.Where {
		pc, err := l.prepareCond(c)
		if err != nil {
			return nil, Errorf(CodeOf(err), "where[%d]: %s", i, Text(err))
		}
		pq.Where = append(pq.Where, pc)
	}
	if len(q.OrderBy) > MaxOrderBy {
		return nil, Errorf(CodeInvalidArgument, "orderBy has %d fields, the limit is %d", len(q.OrderBy), MaxOrderBy)
	}
	seen := map[string]bool{}
	for i, o := range q.OrderBy {
		f, err := ParseField(o.Field)
		if err != nil {
			return nil, Errorf(CodeOf(err), "orderBy[%d]: %s", i, Text(err))
		}
		if seen[f.String()] {
			return nil, Errorf(CodeInvalidArgument, "orderBy[%d]: %s is already a sort key", i, f)
		}
		seen[f.String()] = true
		pq.OrderBy = append(pq.OrderBy, Ord{Field: f, Desc: o.Desc})
	}
	limit, err := l.PageLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	pq.Limit = limit
	pq.fingerprint = fingerprint(pq)
	if q.Cursor != "" {
		if err := pq.decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	return pq, nil
}

func (l Limits) prepareCond(c Condition) (Cond, error) {
	f, err := ParseField(c.Field)
	if err != nil {
		return Cond{}, err
	}
	pc := Cond{Field: f, Op: c.Op}
	if len(c.Value) > l.MaxConditionValueBytes {
		return Cond{}, Errorf(CodeTooLarge, "value is %d bytes, the limit is %d", len(c.Value), l.MaxConditionValueBytes)
	}
	var v Value
	if len(c.Value) > 0 {
		cj, err := canonicalize(c.Value, l.MaxDepth)
		if err != nil {
			return Cond{}, Errorf(CodeInvalidArgument, "value is not valid JSON")
		}
		if len(cj) > l.MaxConditionValueBytes {
			return Cond{}, Errorf(CodeTooLarge, "value is %d bytes, the limit is %d", len(cj), l.MaxConditionValueBytes)
		}
		if bytes.Contains(cj, []byte(`\u0000`)) {
			return Cond{}, Errorf(CodeInvalidArgument, "value holds U+0000, which no backend compares (PostgreSQL cannot store it)")
		}
		if v, err = ValueOfJSON(cj); err != nil {
			return Cond{}, err
		}
	} else if c.Op != "" {
		return Cond{}, Errorf(CodeInvalidArgument, "%s needs a value", c.Op)
	}
	switch c.Op {
	case OpEq, OpNe:
		pc.Value, err = metaValue(f, v)
	case OpLt, OpLte, OpGt, OpGte:
		if v.kind != KindNumber && v.kind != KindString {
			return Cond{}, Errorf(CodeInvalidArgument, "%s compares numbers or strings, not %s (booleans and null take eq, ne and in)", c.Op, v.kind)
		}
		pc.Value, err = metaValue(f, v)
	case OpIn:
		if v.kind != KindArray {
			return Cond{}, Errorf(CodeInvalidArgument, "in takes an array of values, not %s", v.kind)
		}
		elems, _ := v.raw.([]any)
		if len(elems) > MaxInValues {
			return Cond{}, Errorf(CodeTooLarge, "in has %d values, the limit is %d", len(elems), MaxInValues)
		}
		for _, e := range elems {
			ev, err := metaValue(f, valueOfAny(e))
			if err != nil {
				return Cond{}, err
			}
			pc.Values = append(pc.Values, ev)
		}
	case OpContains:
		pc.Value = v
	case OpStartsWith:
		if v.kind != KindString {
			return Cond{}, Errorf(CodeInvalidArgument, "startsWith takes a string, not %s", v.kind)
		}
		pc.Value = v
	case OpExists:
		switch v.kind {
		case KindTrue:
			pc.Exists = true
		case KindFalse:
		default:
			return Cond{}, Errorf(CodeInvalidArgument, "exists takes true or false, not %s", v.kind)
		}
	case "":
		return Cond{}, Errorf(CodeInvalidArgument, "op is required (one of eq, ne, lt, lte, gt, gte, in, contains, startsWith, exists)")
	default:
		return Cond{}, Errorf(CodeInvalidArgument, "unknown op %q (want eq, ne, lt, lte, gt, gte, in, contains, startsWith or exists)", c.Op)
	}
	if err != nil {
		return Cond{}, err
	}
	return pc, nil
}

// metaValue converts a comparison value for an entry field: the time
// fields take RFC 3339 strings, which compare as times. Values of another
// type stay as they are (and never match).
func metaValue(f Field, v Value) (Value, error) {
	switch f.Meta {
	case MetaCreatedAt, MetaUpdatedAt, MetaExpiresAt:
		if v.kind != KindString {
			return v, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v.str)
		if err != nil {
			return Value{}, Errorf(CodeInvalidArgument, "$%s compares with RFC 3339 times (2024-05-01T12:00:00Z), not %q", f.Meta, trunc(v.str))
		}
		return TimeValue(t), nil
	}
	return v, nil
}

func fingerprint(pq *PreparedQuery) string {
	h := sha256.New()
	h.Write([]byte(pq.Name))
	h.Write([]byte{0})
	if pq.Any {
		h.Write([]byte("any"))
	}
	for _, c := range pq.Where {
		h.Write([]byte{0})
		h.Write([]byte(c.Field.String()))
		h.Write([]byte{0})
		h.Write([]byte(c.Op))
		h.Write([]byte{0})
		h.Write([]byte(c.Value.fingerprintText()))
		for _, v := range c.Values {
			h.Write([]byte{1})
			h.Write([]byte(v.fingerprintText()))
		}
		if c.Exists {
			h.Write([]byte{2})
		}
	}
	h.Write([]byte{0})
	h.Write([]byte(orderSpec(pq.OrderBy)))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// orderSpec spells an order: fields joined by ",", descending ones with a
// leading "-"; "" is key order.
func orderSpec(os []Ord) string {
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = o.Field.String()
		if o.Desc {
			parts[i] = "-" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}

// encodeCursor makes the cursor for a position in order.
func (pq *PreparedQuery) encodeCursor(order []Ord, p Position) string {
	vals := make([]string, len(p.Vals))
	for i, v := range p.Vals {
		vals[i] = v.cursorText()
	}
	b, _ := json.Marshal(vals)
	return EncodeCursor("q", pq.Name, pq.fingerprint, orderSpec(order), string(b), p.Key)
}

func (pq *PreparedQuery) decodeCursor(c string) error {
	p, err := DecodeCursor(c, 6)
	if err != nil {
		return err
	}
	if p[0] != "q" || p[1] != pq.Name || p[2] != pq.fingerprint {
		return Errorf(CodeInvalidArgument, "cursor is not valid for this query (a cursor continues the query that returned it)")
	}
	var vals []string
	if err := json.Unmarshal([]byte(p[4]), &vals); err != nil || len(vals) > MaxOrderBy || checkText("key", p[5]) != nil {
		return Errorf(CodeInvalidArgument, "cursor is not valid")
	}
	pos := &Position{Key: p[5]}
	for _, t := range vals {
		v, err := valueFromCursor(t)
		if err != nil {
			return err
		}
		pos.Vals = append(pos.Vals, v)
	}
	pq.After, pq.afterOrder = pos, p[3]
	return nil
}

// FieldsUsed returns the canonical spelling of every data field the query
// names (conditions and order), in first-use order.
func (pq *PreparedQuery) FieldsUsed() []string {
	var out []string
	seen := map[string]bool{}
	add := func(f Field) {
		if s := f.String(); f.IsData() && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, c := range pq.Where {
		add(c.Field)
	}
	for _, o := range pq.OrderBy {
		add(o.Field)
	}
	return out
}
