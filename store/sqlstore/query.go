package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flowkv/flowkv/store"
)

// Search by field (store.Query) on SQL.
//
// Every condition compiles to SQL over the JSON of data, typed as the
// contract wants, so a database never coerces: on SQLite each data field is
// read through one typed value expression V (sqliteValue): numbers and
// strings as json_extract returns them, null, false, true, objects and
// arrays as the blobs x'', x'00', x'01', x'02', and a missing field as
// NULL. SQLite orders NULL < numbers < text < blobs, so every kind is a
// range of V (numbers: V < ''; strings: '' <= V < x''), which an
// expression index on (V, key) serves; integers are exact within int64.
// On PostgreSQL a data field is read through its rank (the kind), a
// numeric (exact at any size) and a text in the "C" collation, each with
// an expression index.
//
// A declared index is that expression index (PostgreSQL: the three),
// restricted to its namespace by a WHERE name = '…' predicate; the query
// names the namespace as the same literal so the planner can use it.

// indexName is the name of the SQL index of (name, field).
func indexName(name, field string) string {
	h := sha256.Sum256([]byte(name + "\x00" + field))
	return "qx_" + hex.EncodeToString(h[:10])
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlitePath is f's SQLite JSON path: $."key"[0]…
func sqlitePath(f store.Field) string {
	var b strings.Builder
	b.WriteString("$")
	for _, p := range f.Path {
		if p.IsIndex {
			b.WriteString("[" + strconv.Itoa(p.Index) + "]")
			continue
		}
		j, _ := json.Marshal(p.Key)
		b.WriteString(".")
		b.Write(j)
	}
	return quote(b.String())
}

// sqliteValue is the typed value expression V of a data field.
func sqliteValue(f store.Field) string {
	p := sqlitePath(f)
	return "(CASE json_type(data, " + p + ") WHEN 'true' THEN x'01' WHEN 'false' THEN x'00' WHEN 'null' THEN x'' WHEN 'object' THEN x'02' WHEN 'array' THEN x'02' ELSE json_extract(data, " + p + ") END)"
}

// pgJSON is f's jsonb value: data -> 'a' -> 0 …
func pgJSON(f store.Field) string {
	var b strings.Builder
	b.WriteString("(data")
	for _, p := range f.Path {
		if p.IsIndex {
			b.WriteString(" -> " + strconv.Itoa(p.Index))
		} else {
			b.WriteString(" -> " + quote(p.Key))
		}
	}
	b.WriteString(")")
	return b.String()
}

func pgNum(f store.Field) string {
	j := pgJSON(f)
	return "(CASE WHEN jsonb_typeof(" + j + ") = 'number' THEN (" + j + ")::numeric END)"
}

func pgStr(f store.Field) string {
	j := pgJSON(f)
	return "(CASE WHEN jsonb_typeof(" + j + ") = 'string' THEN (" + j + " #>> '{}') COLLATE \"C\" END)"
}

func pgRank(f store.Field) string {
	j := pgJSON(f)
	return "(CASE jsonb_typeof(" + j + ") WHEN 'number' THEN 1 WHEN 'string' THEN 2 WHEN 'null' THEN 3 WHEN 'boolean' THEN (CASE WHEN " + j + " = 'true'::jsonb THEN 5 ELSE 4 END) WHEN 'object' THEN 6 WHEN 'array' THEN 6 ELSE 7 END)"
}

// numArg binds a number: int64 when it is one, else float64 (SQLite).
func numArg(v store.Value) any {
	if n, err := strconv.ParseInt(v.Str(), 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(v.Str(), 64)
	return f
}

// qb builds one statement's SQL and arguments.
type qb struct {
	s    *Store
	args []any
}

func (b *qb) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *qb) pg() bool { return b.s.dialect == Postgres }

// num binds a number value for comparison with a field's number form.
func (b *qb) num(v store.Value) string {
	if b.pg() {
		return b.arg(v.Str()) + "::numeric"
	}
	return b.arg(numArg(v))
}

// metaCol is the column of an entry field and the kind its values have.
func metaCol(meta string) (string, store.Kind) {
	switch meta {
	case store.MetaKey:
		return "key", store.KindString
	case store.MetaFlowUUID:
		return "flow_uuid", store.KindString
	case store.MetaVersion:
		return "version", store.KindNumber
	case store.MetaCreatedAt:
		return "created_at", store.KindTime
	case store.MetaUpdatedAt:
		return "updated_at", store.KindTime
	}
	return "expires_at", store.KindTime
}

const sqlFalse = "(1=0)"
const sqlTrue = "(1=1)"

// where compiles pq's conditions ("" when there are none).
func (b *qb) where(pq *store.PreparedQuery) string {
	if len(pq.Where) == 0 {
		return ""
	}
	parts := make([]string, len(pq.Where))
	for i := range pq.Where {
		parts[i] = b.cond(&pq.Where[i])
	}
	sep := " AND "
	if pq.Any {
		sep = " OR "
	}
	return "(" + strings.Join(parts, sep) + ")"
}

func (b *qb) cond(c *store.Cond) string {
	if !c.Field.IsData() {
		return b.metaCond(c)
	}
	switch c.Op {
	case store.OpEq:
		return b.eq(c.Field, c.Value)
	case store.OpNe:
		return b.ne(c.Field, c.Value)
	case store.OpLt, store.OpLte, store.OpGt, store.OpGte:
		return b.cmp(c.Field, c.Op, c.Value)
	case store.OpIn:
		if len(c.Values) == 0 {
			return sqlFalse
		}
		parts := make([]string, len(c.Values))
		for i, v := range c.Values {
			parts[i] = b.eq(c.Field, v)
		}
		return "(" + strings.Join(parts, " OR ") + ")"
	case store.OpContains:
		if c.Value.Kind() != store.KindString {
			return b.arrayHas(c.Field, c.Value)
		}
		var sub string
		if b.pg() {
			sub = "strpos(" + pgStr(c.Field) + ", " + b.arg(c.Value.Str()) + ") > 0"
		} else {
			v := sqliteValue(c.Field)
			sub = "(" + v + " >= '' AND " + v + " < x'' AND instr(" + v + ", " + b.arg(c.Value.Str()) + ") > 0)"
		}
		return "(" + sub + " OR " + b.arrayHas(c.Field, c.Value) + ")"
	case store.OpStartsWith:
		return b.cmpRange(c.Field, store.StringValue(c.Value.Str()), true, store.PrefixEnd(c.Value.Str()))
	case store.OpExists:
		x := sqliteValue(c.Field)
		if b.pg() {
			x = pgJSON(c.Field)
		}
		if c.Exists {
			return "(" + x + " IS NOT NULL)"
		}
		return "(" + x + " IS NULL)"
	}
	return sqlFalse
}

// cmpRange is prefix <= field < end on strings (end "" = no upper bound).
func (b *qb) cmpRange(f store.Field, lo store.Value, _ bool, end string) string {
	if b.pg() {
		s := pgStr(f)
		out := "(" + s + " >= " + b.arg(lo.Str())
		if end != "" {
			out += " AND " + s + " < " + b.arg(end)
		}
		return out + ")"
	}
	v := sqliteValue(f)
	out := "(" + v + " >= " + b.arg(lo.Str())
	if end != "" {
		return out + " AND " + v + " < " + b.arg(end) + ")"
	}
	return out + " AND " + v + " < x'')"
}

func (b *qb) eq(f store.Field, v store.Value) string {
	if b.pg() {
		switch v.Kind() {
		case store.KindNumber:
			return "(" + pgNum(f) + " = " + b.num(v) + ")"
		case store.KindString:
			return "(" + pgStr(f) + " = " + b.arg(v.Str()) + ")"
		case store.KindNull, store.KindFalse, store.KindTrue:
			return "(" + pgRank(f) + " = " + strconv.Itoa(v.Kind().Rank()) + ")"
		case store.KindObject, store.KindArray:
			return "(" + pgJSON(f) + " = " + b.arg(v.JSON()) + "::jsonb)"
		}
		return sqlFalse
	}
	x := sqliteValue(f)
	switch v.Kind() {
	case store.KindNumber:
		return "(" + x + " = " + b.num(v) + ")"
	case store.KindString:
		return "(" + x + " = " + b.arg(v.Str()) + ")"
	case store.KindNull:
		return "(" + x + " = x'')"
	case store.KindFalse:
		return "(" + x + " = x'00')"
	case store.KindTrue:
		return "(" + x + " = x'01')"
	case store.KindObject, store.KindArray:
		return "(" + x + " = x'02' AND json_type(data, " + sqlitePath(f) + ") = " + quote(sqliteJSONType(v.Kind())) + " AND json_extract(data, " + sqlitePath(f) + ") = " + b.arg(v.JSON()) + ")"
	}
	return sqlFalse
}

func sqliteJSONType(k store.Kind) string {
	if k == store.KindArray {
		return "array"
	}
	return "object"
}

func pgJSONType(k store.Kind) string { return sqliteJSONType(k) }

func (b *qb) ne(f store.Field, v store.Value) string {
	switch v.Kind() {
	case store.KindFalse:
		return b.eq(f, store.BoolValue(true))
	case store.KindTrue:
		return b.eq(f, store.BoolValue(false))
	case store.KindNull:
		return sqlFalse
	}
	if b.pg() {
		switch v.Kind() {
		case store.KindNumber:
			return "(" + pgNum(f) + " <> " + b.num(v) + ")"
		case store.KindString:
			return "(" + pgStr(f) + " <> " + b.arg(v.Str()) + ")"
		case store.KindObject, store.KindArray:
			j := pgJSON(f)
			return "(jsonb_typeof(" + j + ") = " + quote(pgJSONType(v.Kind())) + " AND " + j + " <> " + b.arg(v.JSON()) + "::jsonb)"
		}
		return sqlFalse
	}
	x := sqliteValue(f)
	switch v.Kind() {
	case store.KindNumber:
		return "(" + x + " < '' AND " + x + " <> " + b.num(v) + ")"
	case store.KindString:
		return "(" + x + " >= '' AND " + x + " < x'' AND " + x + " <> " + b.arg(v.Str()) + ")"
	case store.KindObject, store.KindArray:
		p := sqlitePath(f)
		return "(json_type(data, " + p + ") = " + quote(sqliteJSONType(v.Kind())) + " AND json_extract(data, " + p + ") <> " + b.arg(v.JSON()) + ")"
	}
	return sqlFalse
}

func sqlOp(op store.Operator) string {
	switch op {
	case store.OpLt:
		return "<"
	case store.OpLte:
		return "<="
	case store.OpGt:
		return ">"
	}
	return ">="
}

func (b *qb) cmp(f store.Field, op store.Operator, v store.Value) string {
	o := sqlOp(op)
	if b.pg() {
		switch v.Kind() {
		case store.KindNumber:
			return "(" + pgNum(f) + " " + o + " " + b.num(v) + ")"
		case store.KindString:
			return "(" + pgStr(f) + " " + o + " " + b.arg(v.Str()) + ")"
		}
		return sqlFalse
	}
	x := sqliteValue(f)
	switch v.Kind() {
	case store.KindNumber:
		return "(" + x + " " + o + " " + b.num(v) + " AND " + x + " < '')"
	case store.KindString:
		return "(" + x + " " + o + " " + b.arg(v.Str()) + " AND " + x + " >= '' AND " + x + " < x'')"
	}
	return sqlFalse
}

// arrayHas is "f is an array with an element equal to v".
func (b *qb) arrayHas(f store.Field, v store.Value) string {
	if b.pg() {
		j := pgJSON(f)
		return "(jsonb_typeof(" + j + ") = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(" + j + ") AS e(v) WHERE e.v = " + b.arg(v.JSON()) + "::jsonb))"
	}
	p := sqlitePath(f)
	var elem string
	switch v.Kind() {
	case store.KindNumber:
		elem = "j.type IN ('integer', 'real') AND j.atom = " + b.num(v)
	case store.KindString:
		elem = "j.type = 'text' AND j.atom = " + b.arg(v.Str())
	case store.KindNull:
		elem = "j.type = 'null'"
	case store.KindFalse:
		elem = "j.type = 'false'"
	case store.KindTrue:
		elem = "j.type = 'true'"
	case store.KindObject, store.KindArray:
		elem = "j.type = " + quote(sqliteJSONType(v.Kind())) + " AND j.value = " + b.arg(v.JSON())
	default:
		return sqlFalse
	}
	return "(json_type(data, " + p + ") = 'array' AND EXISTS (SELECT 1 FROM json_each(data, " + p + ") AS j WHERE " + elem + "))"
}

// metaArg binds a value for an entry field's column; ok is false when the
// value's kind never matches the column's.
func (b *qb) metaArg(kind store.Kind, v store.Value) (string, bool) {
	if v.Kind() != kind {
		return "", false
	}
	switch kind {
	case store.KindNumber:
		if b.pg() {
			return b.num(v), true
		}
		return b.arg(numArg(v)), true
	case store.KindTime:
		return b.arg(v.Micros()), true
	}
	return b.arg(v.Str()), true
}

func (b *qb) metaCond(c *store.Cond) string {
	col, kind := metaCol(c.Field.Meta)
	nullable := c.Field.Meta == store.MetaExpiresAt
	switch c.Op {
	case store.OpEq, store.OpIn:
		vals := c.Values
		if c.Op == store.OpEq {
			vals = []store.Value{c.Value}
		}
		var parts []string
		for _, v := range vals {
			if nullable && v.Kind() == store.KindNull {
				parts = append(parts, "("+col+" IS NULL)")
			} else if a, ok := b.metaArg(kind, v); ok {
				parts = append(parts, "("+col+" = "+a+")")
			}
		}
		if len(parts) == 0 {
			return sqlFalse
		}
		return "(" + strings.Join(parts, " OR ") + ")"
	case store.OpNe:
		if a, ok := b.metaArg(kind, c.Value); ok {
			return "(" + col + " <> " + a + ")"
		}
	case store.OpLt, store.OpLte, store.OpGt, store.OpGte:
		if a, ok := b.metaArg(kind, c.Value); ok {
			return "(" + col + " " + sqlOp(c.Op) + " " + a + ")"
		}
	case store.OpContains:
		if kind == store.KindString && c.Value.Kind() == store.KindString {
			if b.pg() {
				return "(strpos(" + col + ", " + b.arg(c.Value.Str()) + ") > 0)"
			}
			return "(instr(" + col + ", " + b.arg(c.Value.Str()) + ") > 0)"
		}
	case store.OpStartsWith:
		if kind == store.KindString {
			out := "(" + col + " >= " + b.arg(c.Value.Str())
			if end := store.PrefixEnd(c.Value.Str()); end != "" {
				out += " AND " + col + " < " + b.arg(end)
			}
			return out + ")"
		}
	case store.OpExists:
		if c.Exists {
			return sqlTrue
		}
	}
	return sqlFalse
}

// segment compiles seg's predicate, order and the select of its value.
func (b *qb) segment(_ *store.PreparedQuery, seg store.Segment) (pred []string, order, sv string, err error) {
	dir := ""
	cmp := ">"
	if seg.Desc {
		dir, cmp = " DESC", "<"
	}
	if seg.Field == "" {
		if seg.Lo != nil {
			pred = append(pred, "key "+map[bool]string{true: ">=", false: ">"}[seg.Lo.Incl]+" "+b.arg(seg.Lo.Value.Str()))
		}
		if seg.Hi != nil {
			pred = append(pred, "key "+map[bool]string{true: "<=", false: "<"}[seg.Hi.Incl]+" "+b.arg(seg.Hi.Value.Str()))
		}
		if seg.After != nil {
			pred = append(pred, "key "+cmp+" "+b.arg(seg.After.Key))
		}
		return pred, "key" + dir, "NULL", nil
	}
	f, err := store.ParseField(seg.Field)
	if err != nil {
		return nil, "", "", err
	}
	bound := func(x string, isNum bool, v store.Value, op string) string {
		if isNum {
			return x + " " + op + " " + b.num(v)
		}
		return x + " " + op + " " + b.arg(v.Str())
	}
	// One bound per side: SQLite uses a single lower and upper bound of an
	// index column and cannot tell which of two is tighter. A point is an
	// equality (then the index yields key order); a position continues in
	// place of the bound on its side.
	point := seg.Lo != nil && seg.Hi != nil && seg.Lo.Incl && seg.Hi.Incl && store.Compare(seg.Lo.Value, seg.Hi.Value) == 0
	hasLo := point || (seg.Lo != nil && !(seg.After != nil && !seg.Desc)) || (seg.After != nil && !seg.Desc)
	hasHi := point || (seg.Hi != nil && !(seg.After != nil && seg.Desc)) || (seg.After != nil && seg.Desc)
	lohi := func(x string, isNum bool) {
		if point {
			pred = append(pred, bound(x, isNum, seg.Lo.Value, "="))
			return
		}
		if seg.Lo != nil && !(seg.After != nil && !seg.Desc) {
			pred = append(pred, bound(x, isNum, seg.Lo.Value, map[bool]string{true: ">=", false: ">"}[seg.Lo.Incl]))
		}
		if seg.Hi != nil && !(seg.After != nil && seg.Desc) {
			pred = append(pred, bound(x, isNum, seg.Hi.Value, map[bool]string{true: "<=", false: "<"}[seg.Hi.Incl]))
		}
	}
	after := func(x string, isNum bool) {
		if seg.After == nil {
			return
		}
		if x == "" || point {
			pred = append(pred, "key "+cmp+" "+b.arg(seg.After.Key))
			return
		}
		v := seg.After.Vals[0]
		if !isNum && b.pg() && strings.ContainsRune(v.Str(), 0) {
			// PostgreSQL text holds no U+0000, so no stored string lies
			// between the part before it and the value: compare with that.
			p, _, _ := strings.Cut(v.Str(), "\x00")
			op := ">"
			if seg.Desc {
				op = "<="
			}
			pred = append(pred, x+" "+op+" "+b.arg(p))
			return
		}
		// (x, key) > (v, k) spelled as a bound on x that an index on an
		// expression serves (SQLite does not use a row value there), and the
		// tie on key for the rows at v.
		val := func() string {
			if isNum {
				return b.num(v)
			}
			return b.arg(v.Str())
		}
		pred = append(pred, x+" "+cmp+"= "+val(), "("+x+" "+cmp+" "+val()+" OR key "+cmp+" "+b.arg(seg.After.Key)+")")
	}
	if b.pg() {
		sv = pgRank(f) + ", " + pgNum(f) + "::text, " + pgStr(f)
		switch seg.Rank {
		case store.RankNumber:
			n := pgNum(f)
			pred = append(pred, n+" IS NOT NULL")
			lohi(n, true)
			after(n, true)
			return pred, n + dir + ", key" + dir, sv, nil
		case store.RankString:
			s := pgStr(f)
			pred = append(pred, s+" IS NOT NULL")
			lohi(s, false)
			after(s, false)
			return pred, s + dir + ", key" + dir, sv, nil
		}
		r := pgRank(f)
		pred = append(pred, r+" = "+strconv.Itoa(seg.Rank))
		after("", false)
		return pred, r + dir + ", key" + dir, sv, nil
	}
	v := sqliteValue(f)
	sv = v
	switch seg.Rank {
	case store.RankNumber:
		if !hasHi {
			pred = append(pred, v+" < ''")
		}
		lohi(v, true)
		after(v, true)
	case store.RankString:
		if !hasLo {
			pred = append(pred, v+" >= ''")
		}
		if !hasHi {
			pred = append(pred, v+" < x''")
		}
		lohi(v, false)
		after(v, false)
	case store.RankNull:
		pred = append(pred, v+" = x''")
		after("", false)
	case store.RankFalse:
		pred = append(pred, v+" = x'00'")
		after("", false)
	case store.RankTrue:
		pred = append(pred, v+" = x'01'")
		after("", false)
	case store.RankObject:
		pred = append(pred, v+" = x'02'")
		after("", false)
	default:
		pred = append(pred, v+" IS NULL")
		after("", false)
	}
	if seg.Rank > store.RankString || point {
		// V is one value here: SQLite sees key order in the index only
		// when the order does not name V.
		return pred, "key" + dir, sv, nil
	}
	return pred, v + dir + ", key" + dir, sv, nil
}

// from is the table a data segment reads: on SQLite the namespace's index
// by name (without statistics SQLite would prefer the primary key).
func (s *Store) from(name, field string) string {
	if field != "" && s.dialect == SQLite {
		return "entries INDEXED BY " + indexName(name, field)
	}
	return "entries"
}

// queryBackend gives store.RunQuery the SQL scans.
type queryBackend struct{ s *Store }

func (q queryBackend) ReadyIndexes(ctx context.Context, name string) ([]string, error) {
	rows, err := q.s.st.readyIndexes.QueryContext(ctx, name)
	if err != nil {
		return nil, dbErr("list the indexes of "+name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, dbErr("list the indexes of "+name, err)
		}
		out = append(out, f)
	}
	return out, dbErr("list the indexes of "+name, rows.Err())
}

func (q queryBackend) ScanSegment(ctx context.Context, pq *store.PreparedQuery, seg store.Segment, budget, want int) (store.ScanResult, error) {
	if budget <= 0 || want <= 0 {
		return store.ScanResult{}, nil
	}
	// Read in growing chunks, starting with as many rows as matches are
	// wanted: a LIMIT near the page size lets PostgreSQL pick the ordered
	// index scan, and most pages need one statement.
	var res store.ScanResult
	matched := 0
	chunk := min(budget, max(want, 16))
	for {
		n := min(chunk, budget-len(res.Items))
		items, m, read, err := q.scanOnce(ctx, pq, seg, n, want-matched)
		if err != nil {
			return store.ScanResult{}, err
		}
		res.Items = append(res.Items, items...)
		matched += m
		switch {
		case matched >= want:
			return res, nil
		case read < n:
			res.Done = true
			return res, nil
		case len(res.Items) >= budget:
			return res, nil
		}
		last := items[len(items)-1]
		seg.After = &store.Position{Key: last.Key}
		if seg.Field != "" {
			seg.After.Vals = []store.Value{last.Value}
		}
		chunk *= 4
	}
}

// scanOnce runs one statement of a segment: at most limit rows, stopping
// after want matches; read is the number of rows the statement gave.
func (q queryBackend) scanOnce(ctx context.Context, pq *store.PreparedQuery, seg store.Segment, limit, want int) (items []store.Scanned, matched, read int, err error) {
	s := q.s
	text, args, err := s.segmentSQL(pq, seg, limit)
	if err != nil {
		return nil, 0, 0, err
	}
	rows, err := s.fetchQuery(ctx, text, args)
	if err != nil {
		return nil, 0, 0, dbErr("query "+pq.Name, err)
	}
	defer rows.Close()
	var res store.ScanResult
	pg := s.dialect == Postgres
	for rows.Next() {
		var (
			key, flow        string
			d                []byte
			version          int64
			exp              sql.NullInt64
			created, updated int64
			raw              any
			rank             int
			n, str           sql.NullString
		)
		dest := []any{&key, &d, &version, &flow, &exp, &created, &updated}
		switch {
		case seg.Field == "":
		case pg:
			dest = append(dest, &rank, &n, &str)
		default:
			dest = append(dest, &raw)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, 0, dbErr("query "+pq.Name, err)
		}
		read++
		it := store.Scanned{Key: key}
		if seg.Field != "" {
			if pg {
				it.Value, err = pgSortValue(rank, n, str)
			} else {
				it.Value, err = sqliteSortValue(raw)
			}
			if err != nil {
				return nil, 0, 0, dbErr("query "+pq.Name, err)
			}
		}
		if d != nil {
			e := store.Entry{Name: pq.Name, Key: key, Data: d, Version: version, FlowUUID: flow,
				CreatedAt: fromMicros(created), UpdatedAt: fromMicros(updated)}
			if pg {
				if e.Data, err = store.Canonicalize(d); err != nil {
					return nil, 0, 0, dbErr("query "+pq.Name, err)
				}
			}
			if exp.Valid {
				t := fromMicros(exp.Int64)
				e.ExpiresAt = &t
			}
			it.Entry = &e
			matched++
		}
		res.Items = append(res.Items, it)
		if matched >= want {
			return res.Items, matched, read, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, dbErr("query "+pq.Name, err)
	}
	return res.Items, matched, read, nil
}

// segmentSQL is the statement that reads seg: the entries of the
// segment's range in its order, at most budget, each with its data only
// when it matches pq's conditions (and NULL otherwise).
func (s *Store) segmentSQL(pq *store.PreparedQuery, seg store.Segment, budget int) (string, []any, error) {
	data := "data"
	if s.dialect == Postgres {
		data = "data::text"
	}
	// Arguments in text order: the select list's condition, now, the
	// segment's bounds, the limit.
	bc := &qb{s: s}
	sel := data
	if cond := bc.where(pq); cond != "" {
		sel = "CASE WHEN " + cond + " THEN " + data + " END"
	}
	bs := &qb{s: s}
	pred, order, sv, err := bs.segment(pq, seg)
	if err != nil {
		return "", nil, err
	}
	args := append(append(append(bc.args, micros(now())), bs.args...), budget)
	text := "SELECT key, " + sel + ", version, flow_uuid, expires_at, created_at, updated_at"
	if seg.Field != "" {
		text += ", " + sv
	}
	text += " FROM " + s.from(pq.Name, seg.Field) + " WHERE name = " + quote(pq.Name) + " AND " + live
	for _, p := range pred {
		text += " AND " + p
	}
	text += " ORDER BY " + order + " LIMIT ?"
	return s.rebind(text), args, nil
}

func sqliteSortValue(x any) (store.Value, error) {
	switch t := x.(type) {
	case nil:
		return store.Missing, nil
	case int64:
		return store.NumberValue(strconv.FormatInt(t, 10))
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return store.Value{}, fmt.Errorf("sqlstore: a number out of range in an index")
		}
		return store.NumberValue(store.FormatNumber(t))
	case string:
		return store.StringValue(t), nil
	case []byte:
		switch {
		case len(t) == 0:
			return store.NullValue(), nil
		case t[0] == 0:
			return store.BoolValue(false), nil
		case t[0] == 1:
			return store.BoolValue(true), nil
		}
		return store.ValueOfJSON([]byte("{}"))
	}
	return store.Value{}, fmt.Errorf("sqlstore: unexpected sort value %T", x)
}

func pgSortValue(rank int, n, s sql.NullString) (store.Value, error) {
	switch rank {
	case store.RankNumber:
		return store.NumberValue(n.String)
	case store.RankString:
		return store.StringValue(s.String), nil
	case store.RankNull:
		return store.NullValue(), nil
	case store.RankFalse:
		return store.BoolValue(false), nil
	case store.RankTrue:
		return store.BoolValue(true), nil
	case store.RankObject:
		return store.ValueOfJSON([]byte("{}"))
	}
	return store.Missing, nil
}

func (q queryBackend) CountMatches(ctx context.Context, pq *store.PreparedQuery, plan *store.Plan) (int64, bool, error) {
	s := q.s
	text, args := s.countSQL(pq, plan)
	var n int64
	if err := s.r.QueryRowContext(ctx, text, args...).Scan(&n); err != nil {
		return 0, false, dbErr("count "+pq.Name, err)
	}
	return n, true, nil
}

// countSQL counts pq's matches through the index that serves plan.
func (s *Store) countSQL(pq *store.PreparedQuery, plan *store.Plan) (string, []any) {
	b := &qb{s: s}
	b.args = append(b.args, micros(now()))
	text := "SELECT count(*) FROM " + s.from(pq.Name, dataIndex(plan)) + " WHERE name = " + quote(pq.Name) + " AND " + live
	if c := b.where(pq); c != "" {
		text += " AND " + c
	}
	return s.rebind(text), b.args
}

func dataIndex(plan *store.Plan) string {
	if plan.Index == "$key" {
		return ""
	}
	return plan.Index
}

// Query answers q (see store.Store.Query).
func (s *Store) Query(ctx context.Context, q store.Query) (store.QueryPage, error) {
	pq, err := s.limits.PrepareQuery(q)
	if err != nil {
		return store.QueryPage{}, err
	}
	return store.RunQuery(ctx, queryBackend{s}, pq)
}

// CreateIndex declares and builds the index of (name, field). On SQLite
// the build is one CREATE INDEX statement on the writer (other writes wait
// for it); on PostgreSQL CREATE INDEX CONCURRENTLY, which does not block
// writers.
func (s *Store) CreateIndex(ctx context.Context, name, field string) (store.Index, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return store.Index{}, err
	}
	canon, err := store.ValidateIndexField(field)
	if err != nil {
		return store.Index{}, err
	}
	f, _ := store.ParseField(canon)
	created := now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Index{}, dbErr("declare an index", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", name); err != nil {
			return store.Index{}, dbErr("declare an index", err)
		}
	}
	var have, exists int
	if err := tx.QueryRowContext(ctx, s.rebind("SELECT count(*), coalesce(sum(CASE WHEN field = ? THEN 1 ELSE 0 END), 0) FROM query_indexes WHERE name = ?"), canon, name).Scan(&have, &exists); err != nil {
		return store.Index{}, dbErr("declare an index", err)
	}
	if exists == 0 && have >= s.limits.MaxIndexesPerName {
		return store.Index{}, store.Errorf(store.CodeTooLarge, "namespace %q has %d indexes, the limit is %d", name, have, s.limits.MaxIndexesPerName)
	}
	if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO query_indexes (name, field, state, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name, field) DO NOTHING"),
		name, canon, string(store.IndexBuilding), micros(created)); err != nil {
		return store.Index{}, dbErr("declare an index", err)
	}
	if err := tx.Commit(); err != nil {
		return store.Index{}, dbErr("declare an index", err)
	}
	ix := indexName(name, canon)
	where := " WHERE name = " + quote(name)
	if s.dialect == Postgres {
		for _, d := range []struct{ suffix, expr string }{{"_n", pgNum(f)}, {"_s", pgStr(f)}, {"_r", pgRank(f)}} {
			if err := s.pgCreateIndex(ctx, ix+d.suffix, "("+d.expr+", key)"+where); err != nil {
				return store.Index{}, err
			}
		}
	} else {
		if _, err := s.w.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+ix+" ON entries ("+sqliteValue(f)+", key, expires_at)"+where); err != nil {
			return store.Index{}, dbErr("build the index on "+canon, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, s.rebind("UPDATE query_indexes SET state = ? WHERE name = ? AND field = ?"), string(store.IndexReady), name, canon); err != nil {
		return store.Index{}, dbErr("declare an index", err)
	}
	var at int64
	if err := s.w.QueryRowContext(ctx, s.rebind("SELECT created_at FROM query_indexes WHERE name = ? AND field = ?"), name, canon).Scan(&at); err != nil {
		if errors.Is(err, sql.ErrNoRows) { // dropped meanwhile
			return store.Index{}, store.Errorf(store.CodeConflict, "the index on %s was dropped while it was built", canon)
		}
		return store.Index{}, dbErr("declare an index", err)
	}
	return store.Index{Name: name, Field: canon, State: store.IndexReady, CreatedAt: fromMicros(at)}, nil
}

// pgCreateIndex builds one index concurrently, replacing an invalid one
// an interrupted build left behind.
func (s *Store) pgCreateIndex(ctx context.Context, ix, def string) error {
	var valid sql.NullBool
	err := s.w.QueryRowContext(ctx, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1", ix).Scan(&valid)
	switch {
	case err == nil && valid.Bool:
		return nil
	case err == nil:
		if _, err := s.w.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ix); err != nil {
			return dbErr("build an index", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return dbErr("build an index", err)
	}
	if _, err := s.w.ExecContext(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+ix+" ON entries "+def); err != nil {
		return dbErr("build an index", err)
	}
	return nil
}

// DropIndex removes the declaration, then the SQL index.
func (s *Store) DropIndex(ctx context.Context, name, field string) (bool, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return false, err
	}
	canon, err := store.ValidateIndexField(field)
	if err != nil {
		return false, err
	}
	r, err := s.w.ExecContext(ctx, s.rebind("DELETE FROM query_indexes WHERE name = ? AND field = ?"), name, canon)
	if err != nil {
		return false, dbErr("drop an index", err)
	}
	n, _ := r.RowsAffected()
	ix := indexName(name, canon)
	if s.dialect == Postgres {
		for _, suffix := range []string{"_n", "_s", "_r"} {
			if _, err := s.w.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ix+suffix); err != nil {
				return false, dbErr("drop an index", err)
			}
		}
	} else if _, err := s.w.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
		return false, dbErr("drop an index", err)
	}
	return n > 0, nil
}

// Indexes lists declared indexes by (name, field).
func (s *Store) Indexes(ctx context.Context, name string) ([]store.Index, error) {
	q := "SELECT name, field, state, created_at FROM query_indexes"
	var args []any
	if name != "" {
		if err := s.limits.ValidateName(name); err != nil {
			return nil, err
		}
		q += " WHERE name = ?"
		args = append(args, name)
	}
	rows, err := s.r.QueryContext(ctx, s.rebind(q+" ORDER BY name, field"), args...)
	if err != nil {
		return nil, dbErr("list indexes", err)
	}
	defer rows.Close()
	out := []store.Index{}
	for rows.Next() {
		var ix store.Index
		var state string
		var at int64
		if err := rows.Scan(&ix.Name, &ix.Field, &state, &at); err != nil {
			return nil, dbErr("list indexes", err)
		}
		ix.State, ix.CreatedAt = store.IndexState(state), fromMicros(at)
		out = append(out, ix)
	}
	return out, dbErr("list indexes", rows.Err())
}
