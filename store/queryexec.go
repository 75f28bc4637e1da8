package store

import (
	"context"
	"slices"
	"sort"
)

// QueryBackend is what RunQuery needs from a backend: its ready indexes and
// ordered scans of segments. Every backend answers Query through RunQuery,
// so the plan, the pages, the cursors and the bounds are the same on all of
// them; a backend only decides how a segment is read.
type QueryBackend interface {
	// ReadyIndexes returns the canonical fields of the ready declared
	// indexes of namespace name.
	ReadyIndexes(ctx context.Context, name string) ([]string, error)
	// ScanSegment examines the live entries of seg in its order, after
	// seg.After, at most budget of them, and stops early once want of
	// them match pq's conditions. It returns every examined entry's key
	// and segment value, with the entry itself when it matches.
	ScanSegment(ctx context.Context, pq *PreparedQuery, seg Segment, budget, want int) (ScanResult, error)
	// CountMatches counts pq's matches in plan's segments when the backend
	// can do it itself (SQL's COUNT); ok=false makes RunQuery count by
	// scanning the segments.
	CountMatches(ctx context.Context, pq *PreparedQuery, plan *Plan) (n int64, ok bool, err error)
}

// Segment is a run of entries a backend reads in one order: the namespace
// in key order (Field ""), or the entries whose indexed Field has values
// of one Rank, in (value, key) order.
type Segment struct {
	// Field is the serving index's canonical field; "" reads the namespace
	// in key order (then Lo and Hi bound keys, as strings).
	Field string
	// Rank is the kind of value the segment holds (RankNumber …
	// RankMissing); 0 for the namespace.
	Rank int
	// Lo and Hi bound the values (numbers or strings, or keys); nil is open.
	Lo, Hi *Bound
	// Desc reads the segment in descending (value, key) order.
	Desc bool
	// After continues after this position (exclusive) when not nil: its
	// value is of the segment's rank (keys only for the namespace and
	// missing segments).
	After *Position
}

// Bound is one end of a segment's range.
type Bound struct {
	Value Value
	Incl  bool
}

// Scanned is one examined entry.
type Scanned struct {
	Key string
	// Value is the segment field's value (Missing for the namespace).
	Value Value
	// Entry is set when the entry matches the query.
	Entry *Entry
}

// ScanResult is what ScanSegment examined.
type ScanResult struct {
	Items []Scanned
	// Done is true when the segment holds nothing after the last item.
	Done bool
}

// Plan is how RunQuery answers a query.
type Plan struct {
	// Index is the field of the declared index that serves the query, "$key"
	// when conditions on $key (or an order by $key) bound the namespace's
	// key order, or "" for a plain read of the namespace.
	Index string
	// Order is the order of the answer: orderBy, or the serving index's
	// field, or nil for key order.
	Order []Ord
	// Segments are read in turn.
	Segments []Segment
	// FullSet: the order is not the order segments are read in, so every
	// candidate is read (at most MaxQueryScan) and sorted.
	FullSet bool
	// Narrowed: a condition on the serving index bounds its segments, so
	// counting reads that range only.
	Narrowed bool
}

// sargable reports whether c bounds a range of an index on its field.
func sargable(c *Cond) bool {
	switch c.Op {
	case OpEq, OpIn, OpLt, OpLte, OpGt, OpGte, OpStartsWith:
		return true
	case OpExists:
		return c.Exists
	}
	return false
}

// PlanQuery decides how to answer pq given the ready indexes of its
// namespace: the first orderBy field when it is indexed (or $key),
// otherwise (with match all) the first condition on an indexed field (or
// $key) that bounds a range; otherwise the namespace in key order.
func PlanQuery(pq *PreparedQuery, ready []string) *Plan {
	served := func(f Field) bool {
		return f.Meta == MetaKey || (f.IsData() && slices.Contains(ready, f.String()))
	}
	p := &Plan{}
	idx, found := Field{}, false
	if len(pq.OrderBy) > 0 && served(pq.OrderBy[0].Field) {
		idx, found = pq.OrderBy[0].Field, true
	}
	var icond *Cond
	if !pq.Any {
		for i := range pq.Where {
			c := &pq.Where[i]
			if !sargable(c) || !served(c.Field) {
				continue
			}
			if !found {
				idx, found = c.Field, true
			}
			if c.Field.String() == idx.String() {
				icond = c
				break
			}
		}
	}
	if found {
		p.Index = idx.String()
	}
	desc := false
	switch {
	case len(pq.OrderBy) > 0:
		p.Order = pq.OrderBy
		p.FullSet = len(pq.OrderBy) > 1 || !found || pq.OrderBy[0].Field.String() != p.Index
		desc = !p.FullSet && pq.OrderBy[0].Desc
	case found && idx.IsData():
		p.Order = []Ord{{Field: idx}}
	}
	p.Narrowed = icond != nil
	if !found || idx.Meta == MetaKey {
		p.Segments = keySegments(icond, desc)
		if !found {
			p.Index = ""
		}
		return p
	}
	p.Segments = valueSegments(p.Index, icond, desc)
	return p
}

// keySegments reads the namespace in key order, bounded by a condition on
// $key.
func keySegments(c *Cond, desc bool) []Segment {
	if c == nil || c.Op == OpExists {
		return []Segment{{Desc: desc}}
	}
	var segs []Segment
	for _, s := range rangeSegments(c) {
		if s.Rank != RankString {
			continue // a key is a string: other values match nothing
		}
		s.Rank, s.Field, s.Desc = 0, "", desc
		segs = append(segs, s)
	}
	if desc {
		slices.Reverse(segs)
	}
	return segs
}

// valueSegments reads an index on field: one segment per rank (per value
// for eq and in), in the order's direction, missing values last.
func valueSegments(field string, c *Cond, desc bool) []Segment {
	var segs []Segment
	switch {
	case c == nil:
		for r := RankNumber; r <= RankMissing; r++ {
			segs = append(segs, Segment{Rank: r})
		}
	case c.Op == OpExists:
		for r := RankNumber; r <= RankObject; r++ {
			segs = append(segs, Segment{Rank: r})
		}
	default:
		segs = rangeSegments(c)
	}
	for i := range segs {
		segs[i].Field, segs[i].Desc = field, desc
	}
	if desc {
		// Reverse every rank but missing, which stays last.
		n := len(segs)
		if n > 0 && segs[n-1].Rank == RankMissing {
			n--
		}
		slices.Reverse(segs[:n])
	}
	return segs
}

// rangeSegments turns a sargable condition into ascending segments.
func rangeSegments(c *Cond) []Segment {
	switch c.Op {
	case OpEq:
		return []Segment{pointSegment(c.Value)}
	case OpIn:
		vals := slices.Clone(c.Values)
		sort.SliceStable(vals, func(i, j int) bool { return Compare(vals[i], vals[j]) < 0 })
		var segs []Segment
		for i, v := range vals {
			// One segment per number or string, one per other rank.
			if i > 0 && Compare(v, vals[i-1]) == 0 {
				continue
			}
			segs = append(segs, pointSegment(v))
		}
		return segs
	case OpLt, OpLte:
		return []Segment{{Rank: c.Value.kind.Rank(), Hi: &Bound{Value: c.Value, Incl: c.Op == OpLte}}}
	case OpGt, OpGte:
		return []Segment{{Rank: c.Value.kind.Rank(), Lo: &Bound{Value: c.Value, Incl: c.Op == OpGte}}}
	case OpStartsWith:
		s := Segment{Rank: RankString, Lo: &Bound{Value: c.Value, Incl: true}}
		if end := PrefixEnd(c.Value.str); end != "" {
			s.Hi = &Bound{Value: StringValue(end)}
		}
		return []Segment{s}
	}
	return nil
}

func pointSegment(v Value) Segment {
	s := Segment{Rank: v.kind.Rank()}
	if v.kind == KindNumber || v.kind == KindString {
		s.Lo, s.Hi = &Bound{Value: v, Incl: true}, &Bound{Value: v, Incl: true}
	}
	return s
}

// iterRank is the place of rank r in a read in direction desc.
func iterRank(r int, desc bool) int {
	if !desc || r == RankMissing {
		return r
	}
	return RankMissing - r
}

// RunQuery answers pq on backend b: it plans the query, reads the
// segments up to pq.Scan examined entries per page, and makes the cursor.
func RunQuery(ctx context.Context, b QueryBackend, pq *PreparedQuery) (QueryPage, error) {
	ready, err := b.ReadyIndexes(ctx, pq.Name)
	if err != nil {
		return QueryPage{}, err
	}
	plan := PlanQuery(pq, ready)
	if pq.After != nil && (pq.afterOrder != orderSpec(plan.Order) || len(pq.After.Vals) != len(plan.Order)) {
		return QueryPage{}, Errorf(CodeInvalidArgument, "cursor is not valid any more: the namespace's indexes changed since it was made; start the query again")
	}
	page := QueryPage{Entries: []Entry{}}
	if plan.Index != "$key" {
		page.Index = plan.Index
	}
	if plan.FullSet {
		return runFullSet(ctx, b, pq, plan, page)
	}
	if pq.Count {
		n, err := countQuery(ctx, b, pq, plan)
		if err != nil {
			return QueryPage{}, err
		}
		page.Count = &n
	}
	budget := pq.Scan
	var last *Position
	var found []*Position
	keyOrder := len(plan.Order) > 0 && plan.Order[0].Field.Meta == MetaKey
	for i, seg := range plan.Segments {
		if !positionSegment(&seg, pq.After) {
			continue
		}
		res, err := b.ScanSegment(ctx, pq, seg, budget, pq.Limit+1-len(page.Entries))
		if err != nil {
			return QueryPage{}, err
		}
		budget -= len(res.Items)
		for _, it := range res.Items {
			pos := &Position{Key: it.Key}
			switch {
			case keyOrder:
				pos.Vals = []Value{StringValue(it.Key)}
			case len(plan.Order) > 0:
				pos.Vals = []Value{it.Value}
			}
			last = pos
			if it.Entry != nil {
				page.Entries = append(page.Entries, *it.Entry)
				found = append(found, pos)
			}
		}
		if len(page.Entries) > pq.Limit {
			page.Entries = page.Entries[:pq.Limit]
			page.NextCursor = pq.encodeCursor(plan.Order, *found[pq.Limit-1])
			return page, nil
		}
		if !res.Done || budget <= 0 {
			if last != nil && !(res.Done && i == len(plan.Segments)-1) {
				page.NextCursor = pq.encodeCursor(plan.Order, *last)
			}
			return page, nil
		}
	}
	return page, nil
}

// positionSegment sets seg.After from the cursor's position and reports
// whether seg is still to be read (false: the position is past it).
func positionSegment(seg *Segment, after *Position) bool {
	if after == nil {
		return true
	}
	if seg.Field == "" {
		seg.After = after
		return true
	}
	pr := after.Vals[0].kind.Rank()
	sr, ar := iterRank(seg.Rank, seg.Desc), iterRank(pr, seg.Desc)
	switch {
	case sr < ar:
		return false
	case sr == ar:
		seg.After = after
	}
	return true
}

// scanAll reads every segment of plan (budget examined entries at most,
// -1 for no bound) and returns the matches with their positions in order,
// and whether the budget was exceeded.
func scanAll(ctx context.Context, b QueryBackend, pq *PreparedQuery, plan *Plan, budget int) (matches []Entry, exceeded bool, err error) {
	const chunk = 1000
	for _, seg := range plan.Segments {
		for {
			n := chunk
			if budget >= 0 {
				n = budget
			}
			res, err := b.ScanSegment(ctx, pq, seg, n, int(^uint(0)>>1))
			if err != nil {
				return nil, false, err
			}
			for _, it := range res.Items {
				if it.Entry != nil {
					matches = append(matches, *it.Entry)
				}
			}
			if budget >= 0 {
				// budget is one more than may be examined: using it up
				// means too many candidates.
				budget -= len(res.Items)
				if budget <= 0 {
					return matches, true, nil
				}
				if !res.Done {
					return nil, false, Errorf(CodeUnavailable, "the data store stopped a segment before its budget")
				}
			}
			if res.Done || len(res.Items) == 0 {
				break
			}
			lastItem := res.Items[len(res.Items)-1]
			seg.After = &Position{Key: lastItem.Key}
			if seg.Field != "" {
				seg.After.Vals = []Value{lastItem.Value}
			}
		}
	}
	return matches, false, nil
}

// countQuery counts pq's matches: by the backend or by reading a narrowed
// index range whole; otherwise by reading at most pq.Scan candidates.
func countQuery(ctx context.Context, b QueryBackend, pq *PreparedQuery, plan *Plan) (int64, error) {
	if plan.Narrowed {
		n, ok, err := b.CountMatches(ctx, pq, plan)
		if err != nil || ok {
			return n, err
		}
		m, _, err := scanAll(ctx, b, pq, plan, -1)
		return int64(len(m)), err
	}
	m, exceeded, err := scanAll(ctx, b, pq, plan, pq.Scan+1)
	if err != nil {
		return 0, err
	}
	if exceeded {
		return 0, Errorf(CodeInvalidArgument, "counting needs a condition on a declared index in a namespace of more than %d entries (flowkv index create %s FIELD)", pq.Scan, pq.Name)
	}
	return int64(len(m)), nil
}

// runFullSet reads every candidate (at most pq.Scan), sorts the matches in
// Go and pages through them by position.
func runFullSet(ctx context.Context, b QueryBackend, pq *PreparedQuery, plan *Plan, page QueryPage) (QueryPage, error) {
	matches, exceeded, err := scanAll(ctx, b, pq, plan, pq.Scan+1)
	if err != nil {
		return QueryPage{}, err
	}
	if exceeded {
		what := "sorting by " + pq.OrderBy[0].Field.String()
		if len(pq.OrderBy) > 1 {
			what = "sorting by more than one field"
		}
		return QueryPage{}, Errorf(CodeInvalidArgument, "%s needs a declared index on %s when more than %d entries are candidates (flowkv index create %s %s)",
			what, pq.OrderBy[0].Field, pq.Scan, pq.Name, pq.OrderBy[0].Field)
	}
	type item struct {
		e   Entry
		pos Position
	}
	items := make([]item, len(matches))
	for i := range matches {
		d := NewDoc(&matches[i])
		it := item{e: matches[i], pos: Position{Key: matches[i].Key}}
		for _, o := range plan.Order {
			it.pos.Vals = append(it.pos.Vals, d.Get(o.Field))
		}
		items[i] = it
	}
	sort.Slice(items, func(i, j int) bool { return comparePos(plan.Order, &items[i].pos, &items[j].pos) < 0 })
	if pq.Count {
		n := int64(len(items))
		page.Count = &n
	}
	start := 0
	if pq.After != nil {
		start = sort.Search(len(items), func(i int) bool { return comparePos(plan.Order, &items[i].pos, pq.After) > 0 })
	}
	end := min(start+pq.Limit, len(items))
	for _, it := range items[start:end] {
		page.Entries = append(page.Entries, it.e)
	}
	if end < len(items) {
		page.NextCursor = pq.encodeCursor(plan.Order, items[end-1].pos)
	}
	return page, nil
}

// PrefixEnd returns the smallest string above every string that starts
// with prefix ("" when there is none): prefix with its last code point
// incremented, dropping trailing U+10FFFF.
func PrefixEnd(prefix string) string {
	rs := []rune(prefix)
	for len(rs) > 0 {
		r := rs[len(rs)-1]
		rs = rs[:len(rs)-1]
		if r == 0x10FFFF {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000
		}
		return string(append(rs, r))
	}
	return ""
}
