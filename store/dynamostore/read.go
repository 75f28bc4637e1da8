package dynamostore

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

// FindNameKey returns one live entry or not_found (a strongly consistent
// GetItem).
func (s *Store) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	if err := s.limits.ValidateNameKey(name, key); err != nil {
		return store.Entry{}, err
	}
	r, err := s.get(ctx, name, key)
	if err != nil {
		return store.Entry{}, err
	}
	if !r.live(time.Now()) {
		return store.Entry{}, store.Errorf(store.CodeNotFound, "%s/%s not found", name, key)
	}
	return r.entry, nil
}

// get reads an item with all of its data.
func (s *Store) get(ctx context.Context, name, key string) (record, error) {
	for range maxVersionRetries {
		r, err := s.getRaw(ctx, name, key)
		if err != nil {
			return record{}, err
		}
		if err := s.complete(ctx, &r); err != errStale {
			return r, err
		}
	}
	return record{}, store.Errorf(store.CodeUnavailable, "%s/%s changed too often to be read", name, key)
}

// FindName lists one namespace in key order (a Query).
func (s *Store) FindName(ctx context.Context, name string, limit, offset int) ([]store.Entry, error) {
	p, err := s.Fetch(ctx, store.FetchQuery{Name: name, Limit: limit, Offset: offset})
	if err != nil {
		return nil, err
	}
	return p.Entries, nil
}

// List scans one namespace by key prefix: a Query with begins_with on the
// sort key, resumed from the cursor.
func (s *Store) List(ctx context.Context, name, prefix, cursor string, limit int) (store.Page, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return store.Page{}, err
	}
	return s.fetch(ctx, store.FetchQuery{Name: name, KeyPrefix: prefix, Cursor: cursor, Limit: limit}, cursorList)
}

// Cursors are EncodeCursor(tag, name, key): a position after (name, key).
// List's cursors are only valid for their namespace.
const (
	cursorFetch = "f"
	cursorList  = "l"
)

// Sort-key conditions of a source.
type sortKind int

const (
	sortAll sortKind = iota
	sortEq
	sortPrefix
)

// source is one Query: the base table for one namespace, or one partition
// of an index.
type source struct {
	index    string // "" for the base table
	hashAttr string
	hashVal  types.AttributeValue
	name     string // base table: the namespace
	sort     sortKind
	sortVal  string // on sk (base) or nk (index)
}

func (src source) sortAttr() string {
	if src.index == "" {
		return aSK
	}
	return aNK
}

// fetchPlan is a validated FetchQuery.
type fetchPlan struct {
	q        store.FetchQuery
	data     json.RawMessage // canonical
	names    map[string]bool // nil: no Names filter
	limit    int
	skip     int
	cur      bool
	curName  string
	curKey   string
	scanNext func() (string, bool, error) // namespaces, for base-table plans
}

func (p *fetchPlan) match(e store.Entry) bool {
	q := p.q
	switch {
	case q.Name != "" && e.Name != q.Name,
		q.Name == "" && store.IsReserved(e.Name),
		p.names != nil && !p.names[e.Name],
		q.Key != "" && e.Key != q.Key,
		q.KeyPrefix != "" && !strings.HasPrefix(e.Key, q.KeyPrefix),
		q.FlowUUID != "" && e.FlowUUID != q.FlowUUID,
		p.data != nil && !bytes.Equal(e.Data, p.data):
		return false
	}
	// A cursor positions strictly after (curName, curKey).
	if p.cur && (e.Name < p.curName || e.Name == p.curName && e.Key <= p.curKey) {
		return false
	}
	return true
}

// Fetch lists entries matching q in (name, key) order. Exact data search
// queries the "data" index (or "num" for numbers), flowUuid the "flow"
// index, a name the base table; without those it queries the namespaces
// of q.Names, or of the registry, one after another. It never scans.
func (s *Store) Fetch(ctx context.Context, q store.FetchQuery) (store.Page, error) {
	return s.fetch(ctx, q, cursorFetch)
}

func (s *Store) fetch(ctx context.Context, q store.FetchQuery, tag string) (store.Page, error) {
	p, err := s.plan(q, tag)
	if err != nil {
		return store.Page{}, err
	}
	var out []store.Entry
	t := time.Now()
	want := p.limit + 1
	srcs := p.indexSources()
	if srcs == nil {
		p.scanNext = s.namespaces(ctx, p)
	}
	for _, src := range srcs {
		if err := s.run(ctx, p, src, t, want, &out); err != nil {
			return store.Page{}, err
		}
	}
	if p.scanNext != nil {
		for len(out) < want {
			name, ok, err := p.scanNext()
			if err != nil {
				return store.Page{}, err
			}
			if !ok {
				break
			}
			src := source{hashAttr: aPK, hashVal: avS(name), name: name}
			switch {
			case q.Key != "":
				src.sort, src.sortVal = sortEq, q.Key
			case q.KeyPrefix != "":
				src.sort, src.sortVal = sortPrefix, q.KeyPrefix
			}
			if err := s.run(ctx, p, src, t, want, &out); err != nil {
				return store.Page{}, err
			}
		}
	}
	page := store.Page{Entries: out}
	if len(out) > p.limit {
		page.Entries = out[:p.limit]
		last := page.Entries[p.limit-1]
		page.NextCursor = store.EncodeCursor(tag, last.Name, last.Key)
	}
	if page.Entries == nil {
		page.Entries = []store.Entry{}
	}
	return page, nil
}

func (s *Store) plan(q store.FetchQuery, tag string) (*fetchPlan, error) {
	l := s.limits
	p := &fetchPlan{q: q}
	var err error
	if p.limit, err = l.PageLimit(q.Limit); err != nil {
		return nil, err
	}
	if err := store.ValidateOffset(q.Offset); err != nil {
		return nil, err
	}
	p.skip = q.Offset
	if q.Offset > 0 && q.Cursor != "" {
		return nil, store.Errorf(store.CodeInvalidArgument, "offset and cursor cannot be combined")
	}
	if q.Name != "" {
		if err := l.ValidateName(q.Name); err != nil {
			return nil, err
		}
	}
	if q.Key != "" {
		if err := l.ValidateKey(q.Key); err != nil {
			return nil, err
		}
	}
	if err := l.ValidatePrefix(q.KeyPrefix); err != nil {
		return nil, err
	}
	if !utf8.ValidString(q.FlowUUID) {
		return nil, store.Errorf(store.CodeInvalidArgument, "flowUuid is not valid UTF-8")
	}
	if q.Data != nil {
		if p.data, err = l.PrepareData(q.Data); err != nil {
			return nil, err
		}
	}
	if q.Cursor != "" {
		parts, err := store.DecodeCursor(q.Cursor, 3)
		if err != nil {
			return nil, err
		}
		if parts[0] != tag || tag == cursorList && parts[1] != q.Name {
			return nil, store.Errorf(store.CodeInvalidArgument, "cursor is not valid here")
		}
		p.cur, p.curName, p.curKey = true, parts[1], parts[2]
	}
	if q.Names != nil {
		p.names = make(map[string]bool, len(q.Names))
		for _, n := range q.Names {
			p.names[n] = true
		}
	}
	return p, nil
}

// indexSources returns the index query of a data or flowUuid search; for
// other plans it sets up scanNext over namespaces and returns nothing.
func (p *fetchPlan) indexSources() []source {
	q := p.q
	var src source
	switch {
	case p.data != nil && dynamoNumber(p.data):
		src = source{index: indexNum, hashAttr: aNum, hashVal: avNum(string(p.data))}
	case p.data != nil:
		src = source{index: indexData, hashAttr: aHash, hashVal: avS(store.DataHash(p.data))}
	case q.FlowUUID != "":
		src = source{index: indexFlow, hashAttr: aFlow, hashVal: avS(q.FlowUUID)}
	default:
		return nil
	}
	if q.Name != "" {
		switch {
		case q.Key != "":
			src.sort, src.sortVal = sortEq, q.Name+sep+q.Key
		default:
			src.sort, src.sortVal = sortPrefix, q.Name+sep+q.KeyPrefix
		}
	}
	return []source{src}
}

// run queries src, appending matching live entries to out (after skipping
// p.skip) until out holds want entries or src is exhausted.
func (s *Store) run(ctx context.Context, p *fetchPlan, src source, t time.Time, want int, out *[]store.Entry) error {
	sortAttr := src.sortAttr()
	var esk item
	if p.cur {
		pos, before := "", false // cursor position in this source's sort domain
		if src.index == "" {
			switch {
			case p.curName < src.name:
				before = true
			case p.curName > src.name:
				return nil
			default:
				pos = p.curKey
			}
		} else {
			pos = p.curName + sep + p.curKey
		}
		if !before {
			switch src.sort {
			case sortEq:
				if pos >= src.sortVal {
					return nil
				}
			case sortPrefix:
				if strings.HasPrefix(pos, src.sortVal) {
					esk = item{}
				} else if pos > src.sortVal {
					return nil
				}
			default:
				esk = item{}
			}
		}
		if esk != nil {
			esk[aPK], esk[aSK] = avS(p.curName), avS(p.curKey)
			if src.index != "" {
				esk[aNK] = avS(pos)
				esk[src.hashAttr] = src.hashVal
			}
		}
	}
	vals := item{":hv": src.hashVal, ":now": avN(t.UnixMicro())}
	kc := "#" + src.hashAttr + " = :hv"
	switch src.sort {
	case sortEq:
		kc += " AND #" + sortAttr + " = :sv"
		vals[":sv"] = avS(src.sortVal)
	case sortPrefix:
		if src.sortVal != "" {
			kc += " AND begins_with(#" + sortAttr + ", :sv)"
			vals[":sv"] = avS(src.sortVal)
		}
	}
	filter := "attribute_not_exists(#del) AND " + condNotExpired
	for len(*out) < want {
		in := &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    &kc,
			FilterExpression:          &filter,
			ExpressionAttributeNames:  exprNames(kc, filter),
			ExpressionAttributeValues: exprValues(vals, kc, filter),
			ExclusiveStartKey:         esk,
			Limit:                     aws.Int32(int32(min(want-len(*out)+p.skip+1, 1000))),
		}
		if src.index != "" {
			in.IndexName = aws.String(src.index)
		} else {
			in.ConsistentRead = aws.Bool(true)
		}
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return wrapErr("query "+describe(src), err)
		}
		for _, it := range res.Items {
			r, err := decode(it)
			if err != nil {
				return err
			}
			if r.parts > 0 && r.live(t) {
				if err := s.complete(ctx, &r); err == errStale {
					r, err = s.get(ctx, r.entry.Name, r.entry.Key)
					if err != nil {
						return err
					}
				} else if err != nil {
					return err
				}
			}
			if !r.live(t) || !p.match(r.entry) {
				continue
			}
			if p.skip > 0 {
				p.skip--
				continue
			}
			*out = append(*out, r.entry)
			if len(*out) >= want {
				return nil
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		esk = res.LastEvaluatedKey
	}
	return nil
}

func describe(src source) string {
	if src.index == "" {
		return "namespace " + src.name
	}
	return "index " + src.index
}

// namespaces returns an iterator over the namespaces a plan without an
// index visits, in order, from the cursor's namespace on.
func (s *Store) namespaces(ctx context.Context, p *fetchPlan) func() (string, bool, error) {
	from := ""
	if p.cur {
		from = p.curName
	}
	if p.q.Name != "" {
		done := false
		return func() (string, bool, error) {
			if done || p.q.Name < from {
				return "", false, nil
			}
			done = true
			return p.q.Name, true, nil
		}
	}
	if p.names != nil {
		list := make([]string, 0, len(p.names))
		for n := range p.names {
			if !store.IsReserved(n) && n >= from {
				list = append(list, n)
			}
		}
		sort.Strings(list)
		return func() (string, bool, error) {
			if len(list) == 0 {
				return "", false, nil
			}
			n := list[0]
			list = list[1:]
			return n, true, nil
		}
	}
	// The registry, page by page.
	var buf []string
	var esk item
	done := false
	return func() (string, bool, error) {
		for len(buf) == 0 {
			if done {
				return "", false, nil
			}
			page, next, err := s.registryPage(ctx, from, esk)
			if err != nil {
				return "", false, err
			}
			for _, n := range page {
				if !store.IsReserved(n) {
					buf = append(buf, n)
				}
			}
			esk, done = next, next == nil
		}
		n := buf[0]
		buf = buf[1:]
		return n, true, nil
	}
}

// registryPage reads one page of registered namespaces >= from.
func (s *Store) registryPage(ctx context.Context, from string, esk item) ([]string, item, error) {
	vals := item{":r": avS(registryPK)}
	kc := "#pk = :r"
	if from != "" {
		kc += " AND #sk >= :from"
		vals[":from"] = avS(from)
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    &kc,
		ExpressionAttributeNames:  exprNames(kc),
		ExpressionAttributeValues: vals,
		ExclusiveStartKey:         esk,
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, nil, wrapErr("query namespace registry", err)
	}
	names := make([]string, 0, len(res.Items))
	for _, it := range res.Items {
		if n, ok := getS(it, aSK); ok {
			names = append(names, n)
		}
	}
	if len(res.LastEvaluatedKey) == 0 {
		return names, nil, nil
	}
	return names, res.LastEvaluatedKey, nil
}

// Names lists the registered namespaces (reserved ones excluded) with
// their live entry counts, each counted by a COUNT Query of its partition;
// namespaces without live entries are left out.
func (s *Store) Names(ctx context.Context) ([]store.NameCount, error) {
	var all []string
	var esk item
	for {
		page, next, err := s.registryPage(ctx, "", esk)
		if err != nil {
			return nil, err
		}
		for _, n := range page {
			if !store.IsReserved(n) {
				all = append(all, n)
			}
		}
		if next == nil {
			break
		}
		esk = next
	}
	counts := make([]int64, len(all))
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			counts[i], errs[i] = s.countLive(ctx, n, 0)
		}()
	}
	wg.Wait()
	out := []store.NameCount{}
	for i, n := range all {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if counts[i] > 0 {
			out = append(out, store.NameCount{Name: n, Count: counts[i]})
		}
	}
	return out, nil
}

// countLive counts the live entries of a namespace, stopping once it
// reaches stopAt (> 0).
func (s *Store) countLive(ctx context.Context, name string, stopAt int64) (int64, error) {
	vals := item{":n": avS(name), ":now": avN(time.Now().UnixMicro())}
	kc := "#pk = :n"
	filter := "attribute_not_exists(#del) AND " + condNotExpired
	var n int64
	var esk item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    &kc,
			FilterExpression:          &filter,
			ExpressionAttributeNames:  exprNames(kc, filter),
			ExpressionAttributeValues: exprValues(vals, kc, filter),
			ExclusiveStartKey:         esk,
			Select:                    types.SelectCount,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return 0, wrapErr("count namespace "+name, err)
		}
		n += int64(res.Count)
		if len(res.LastEvaluatedKey) == 0 || (stopAt > 0 && n >= stopAt) {
			return n, nil
		}
		esk = res.LastEvaluatedKey
	}
}

// ReadRanges queries the namespace's partition once per range (sk >= start,
// or BETWEEN start AND end with end itself dropped), strongly consistent,
// forward or backward. Ranges are read one after another: DynamoDB has no
// snapshot across queries.
func (s *Store) ReadRanges(ctx context.Context, name string, ranges []store.KeyRange) ([][]store.Entry, error) {
	if err := s.limits.ValidateRanges(name, ranges); err != nil {
		return nil, err
	}
	out := make([][]store.Entry, len(ranges))
	t := time.Now()
	for i, r := range ranges {
		out[i] = []store.Entry{}
		if r.End != "" && r.End <= r.Start {
			continue
		}
		vals := item{":hv": avS(name), ":now": avN(t.UnixMicro())}
		kc := "#" + aPK + " = :hv"
		switch {
		case r.Start != "" && r.End != "":
			kc += " AND #" + aSK + " BETWEEN :s AND :e"
			vals[":s"], vals[":e"] = avS(r.Start), avS(r.End)
		case r.Start != "":
			kc += " AND #" + aSK + " >= :s"
			vals[":s"] = avS(r.Start)
		case r.End != "":
			kc += " AND #" + aSK + " < :e"
			vals[":e"] = avS(r.End)
		}
		filter := "attribute_not_exists(#del) AND " + condNotExpired
		var esk item
		for len(out[i]) < r.Limit {
			in := &dynamodb.QueryInput{
				TableName:                 &s.table,
				KeyConditionExpression:    &kc,
				FilterExpression:          &filter,
				ExpressionAttributeNames:  exprNames(kc, filter),
				ExpressionAttributeValues: exprValues(vals, kc, filter),
				ExclusiveStartKey:         esk,
				ScanIndexForward:          aws.Bool(!r.Reverse),
				ConsistentRead:            aws.Bool(true),
				Limit:                     aws.Int32(int32(min(r.Limit-len(out[i])+2, 1000))),
			}
			res, err := s.db.Query(ctx, in)
			if err != nil {
				return nil, wrapErr("query namespace "+name, err)
			}
			for _, it := range res.Items {
				rec, err := decode(it)
				if err != nil {
					return nil, err
				}
				if r.End != "" && rec.entry.Key >= r.End {
					continue
				}
				if rec.parts > 0 && rec.live(t) {
					if err := s.complete(ctx, &rec); err == errStale {
						if rec, err = s.get(ctx, rec.entry.Name, rec.entry.Key); err != nil {
							return nil, err
						}
					} else if err != nil {
						return nil, err
					}
				}
				if !rec.live(t) {
					continue
				}
				out[i] = append(out[i], rec.entry)
				if len(out[i]) >= r.Limit {
					break
				}
			}
			if len(res.LastEvaluatedKey) == 0 {
				break
			}
			esk = res.LastEvaluatedKey
		}
	}
	return out, nil
}
