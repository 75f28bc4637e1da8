package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

// Search by field (store.Query) on DynamoDB.
//
// A declared index is a sparse global secondary index: the table has
// querySlots of them, qx0…qx4, each keyed by xpN (name + sep + field) and
// xsN (the field's value in an order-preserving encoding, then the key).
// An index of a namespace takes a free slot; every write to the namespace
// sets xpN and xsN of each of its slots from the written data (or removes
// them when the field is missing), in the same UpdateItem, so an index
// costs no extra request, only the write units of the index's copy of the
// item (projection ALL: a query answers from the index alone). Indexes
// are eventually consistent on AWS, like the data and flow indexes.
//
// A query no index serves reads the namespace's partition in key order,
// at most MaxQueryScan items per page, and flowkv evaluates the conditions
// (data is stored as a JSON string, so a FilterExpression could not read
// its fields; DynamoDB bills the items read either way). flowkv never
// scans.
//
// The declarations of a namespace are one item of the partition
// "\x01indexes" (sort key: the namespace). Writers cache them for
// IndexCacheTTL; a new index is backfilled only after that delay, so every
// write after the backfill started knows the index, and the backfill
// (conditional on each item's version) covers the writes before.

// querySlots is the number of declared indexes a namespace may have.
const querySlots = 5

// DefaultIndexCacheTTL is how long a process trusts its copy of a
// namespace's index declarations.
const DefaultIndexCacheTTL = 2 * time.Second

const indexesPK = "\x01indexes"

func slotIndex(i int) string { return "qx" + strconv.Itoa(i) }
func slotPK(i int) string    { return "xp" + strconv.Itoa(i) }
func slotSK(i int) string    { return "xs" + strconv.Itoa(i) }

// maxIndexedValue bounds the bytes of a value in an index sort key (the
// key follows; DynamoDB sort keys hold 1024 bytes). Longer strings and
// numbers are indexed by their first bytes: order among values sharing
// those bytes is by key, and flowkv checks every condition on the entry.
const maxIndexedValue = 400

// maxKeySuffix is above every key in byte order.
var maxKeySuffix = strings.Repeat("\U0010FFFF", maxKeyBytes/4+2)

// decl is one declared index of a namespace.
type decl struct {
	Slot       int    `json:"slot"`
	Field      string `json:"field"`
	State      string `json:"state"`
	Created    int64  `json:"created"`
	BuildAfter int64  `json:"buildAfter"`
	path       store.Field
}

type declSet struct {
	decls  []decl
	ver    int64
	loaded time.Time
}

func (ds *declSet) find(field string) *decl {
	for i := range ds.decls {
		if ds.decls[i].Field == field {
			return &ds.decls[i]
		}
	}
	return nil
}

// indexCache holds the declarations per namespace.
type indexCache struct {
	ttl time.Duration
	m   sync.Map // name -> *declSet
}

// decls returns name's declarations, from the cache when it is fresh.
func (s *Store) decls(ctx context.Context, name string) (*declSet, error) {
	if v, ok := s.ix.m.Load(name); ok {
		ds := v.(*declSet)
		if time.Since(ds.loaded) < s.ix.ttl {
			return ds, nil
		}
	}
	return s.loadDecls(ctx, name)
}

func (s *Store) loadDecls(ctx context.Context, name string) (*declSet, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: keyOf(indexesPK, name), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, wrapErr("read the indexes of "+name, err)
	}
	ds, err := parseDecls(out.Item)
	if err != nil {
		return nil, err
	}
	s.ix.m.Store(name, ds)
	return ds, nil
}

func parseDecls(it item) (*declSet, error) {
	ds := &declSet{loaded: time.Now()}
	if len(it) == 0 {
		return ds, nil
	}
	ds.ver, _ = getN(it, "ixv")
	if j, ok := getS(it, "ix"); ok {
		if err := json.Unmarshal([]byte(j), &ds.decls); err != nil {
			return nil, fmt.Errorf("dynamostore: index declarations: %w", err)
		}
	}
	for i := range ds.decls {
		f, err := store.ParseField(ds.decls[i].Field)
		if err != nil {
			return nil, err
		}
		ds.decls[i].path = f
	}
	return ds, nil
}

// saveDecls writes name's declarations if nobody changed them since ds
// was read; false when somebody did.
func (s *Store) saveDecls(ctx context.Context, name string, ds *declSet, decls []decl) (bool, error) {
	j, _ := json.Marshal(decls)
	vals := item{":v": avN(ds.ver + 1), ":ix": avS(string(j))}
	cond := "attribute_not_exists(#ixv)"
	if ds.ver > 0 {
		cond = "#ixv = :old"
		vals[":old"] = avN(ds.ver)
	}
	upd := "SET #ixv = :v, #ix = :ix"
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: keyOf(indexesPK, name),
		UpdateExpression: &upd, ConditionExpression: &cond,
		ExpressionAttributeNames:  exprNames(upd, cond),
		ExpressionAttributeValues: exprValues(vals, upd, cond),
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		s.ix.m.Delete(name)
		return false, nil
	}
	if err != nil {
		return false, wrapErr("write the indexes of "+name, err)
	}
	s.ix.m.Delete(name)
	return true, nil
}

// indexSortKey is the order-preserving encoding of v followed by key:
// the rank, then numbers by store.NumberKey, strings escaped (U+0000 as
// U+0000 U+0001) and ended by U+0000 U+0000.
func indexSortKey(v store.Value, key string) string {
	return indexValuePrefix(v) + key
}

// indexValuePrefix is the part of the sort key that v gives; truncated
// reports whether a long value was cut.
func indexValuePrefix(v store.Value) string {
	p, _ := indexValue(v)
	return p
}

func indexValue(v store.Value) (string, bool) {
	r := string(rune('0' + v.Kind().Rank()))
	switch v.Kind() {
	case store.KindNumber:
		k, cut := truncate(store.NumberKey(v.Str()))
		return r + k + "\x00", cut
	case store.KindString:
		k, cut := truncate(strings.ReplaceAll(v.Str(), "\x00", "\x00\x01"))
		return r + k + "\x00\x00", cut
	}
	return r, false
}

func truncate(s string) (string, bool) {
	if len(s) <= maxIndexedValue {
		return s, false
	}
	i := maxIndexedValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	// Never end inside an escape (U+0000 U+0001).
	for i > 0 && s[i-1] == 0 {
		i--
	}
	return s[:i], true
}

// indexAttrs adds to an update the SET and REMOVE parts of the index
// attributes of data (nil data: an ADD, which keeps them).
func indexAttrs(ds *declSet, name, key string, data json.RawMessage, vals item) (set, remove []string) {
	if ds == nil || len(ds.decls) == 0 || data == nil {
		return nil, nil
	}
	doc := store.NewDoc(&store.Entry{Data: data})
	used := map[int]bool{}
	for _, d := range ds.decls {
		used[d.Slot] = true
		v := doc.Get(d.path)
		n := strconv.Itoa(d.Slot)
		if v.Kind() == store.KindMissing {
			remove = append(remove, "#xp"+n, "#xs"+n)
			continue
		}
		set = append(set, "#xp"+n+" = :xp"+n, "#xs"+n+" = :xs"+n)
		vals[":xp"+n] = avS(name + sep + d.Field)
		vals[":xs"+n] = avS(indexSortKey(v, key))
	}
	for i := range querySlots {
		if !used[i] {
			n := strconv.Itoa(i)
			remove = append(remove, "#xp"+n, "#xs"+n)
		}
	}
	return set, remove
}

// allSlotAttrs are the index attributes a tombstone removes.
func allSlotAttrs() string {
	var b strings.Builder
	for i := range querySlots {
		n := strconv.Itoa(i)
		b.WriteString(", #xp" + n + ", #xs" + n)
	}
	return b.String()
}

// Query answers q (see store.Store.Query).
func (s *Store) Query(ctx context.Context, q store.Query) (store.QueryPage, error) {
	pq, err := s.limits.PrepareQuery(q)
	if err != nil {
		return store.QueryPage{}, err
	}
	return store.RunQuery(ctx, queryBackend{s}, pq)
}

type queryBackend struct{ s *Store }

func (q queryBackend) ReadyIndexes(ctx context.Context, name string) ([]string, error) {
	ds, err := q.s.decls(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds.decls {
		if d.State == string(store.IndexReady) {
			out = append(out, d.Field)
		}
	}
	return out, nil
}

func (q queryBackend) CountMatches(context.Context, *store.PreparedQuery, *store.Plan) (int64, bool, error) {
	return 0, false, nil
}

// ScanSegment reads a segment: the namespace's partition (key order; the
// missing segment of an index too, keeping the entries without the
// field), or a range of an index's partition.
func (q queryBackend) ScanSegment(ctx context.Context, pq *store.PreparedQuery, seg store.Segment, budget, want int) (store.ScanResult, error) {
	s := q.s
	if budget <= 0 || want <= 0 {
		return store.ScanResult{}, nil
	}
	var field store.Field
	var slot = -1
	if seg.Field != "" {
		f, err := store.ParseField(seg.Field)
		if err != nil {
			return store.ScanResult{}, err
		}
		field = f
		if seg.Rank != store.RankMissing {
			ds, err := s.decls(ctx, pq.Name)
			if err != nil {
				return store.ScanResult{}, err
			}
			d := ds.find(seg.Field)
			if d == nil {
				return store.ScanResult{}, store.Errorf(store.CodeUnavailable, "the index on %s was dropped during the query", seg.Field)
			}
			slot = d.Slot
		}
	}
	in := &dynamodb.QueryInput{TableName: &s.table, ScanIndexForward: aws.Bool(!seg.Desc)}
	vals := item{}
	var afterSK string
	if slot < 0 {
		// The namespace in key order, within the segment's key bounds.
		in.ConsistentRead = aws.Bool(true)
		lo, hi := "", ""
		if seg.Field == "" {
			if seg.Lo != nil {
				lo = seg.Lo.Value.Str()
			}
			if seg.Hi != nil {
				hi = seg.Hi.Value.Str()
			}
		}
		if seg.After != nil {
			afterSK = seg.After.Key
			if !seg.Desc && seg.After.Key >= lo {
				lo = seg.After.Key
			}
			if seg.Desc && (hi == "" || seg.After.Key <= hi) {
				hi = seg.After.Key
			}
		}
		kc := "#pk = :pk"
		vals[":pk"] = avS(pq.Name)
		switch {
		case lo != "" && hi != "":
			if lo > hi {
				return store.ScanResult{Done: true}, nil
			}
			kc += " AND #sk BETWEEN :lo AND :hi"
			vals[":lo"], vals[":hi"] = avS(lo), avS(hi)
		case lo != "":
			kc += " AND #sk >= :lo"
			vals[":lo"] = avS(lo)
		case hi != "":
			kc += " AND #sk <= :hi"
			vals[":hi"] = avS(hi)
		}
		in.KeyConditionExpression = &kc
		in.ExpressionAttributeNames = exprNames(kc)
		in.ExpressionAttributeValues = exprValues(vals, kc)
	} else {
		lo := string(rune('0' + seg.Rank))
		hi := string(rune('0' + seg.Rank + 1))
		if seg.Lo != nil {
			lo = indexValuePrefix(seg.Lo.Value)
		}
		if seg.Hi != nil {
			p, cut := indexValue(seg.Hi.Value)
			hi = p
			if seg.Hi.Incl || cut {
				hi = p + maxKeySuffix
			}
		}
		if seg.After != nil {
			afterSK = indexSortKey(seg.After.Vals[0], seg.After.Key)
			if !seg.Desc && afterSK+"\x00" > lo {
				lo = afterSK + "\x00"
			}
			if seg.Desc && afterSK < hi {
				hi = afterSK
			}
		}
		if lo > hi {
			return store.ScanResult{Done: true}, nil
		}
		kc := "#" + slotPK(slot) + " = :p AND #" + slotSK(slot) + " BETWEEN :lo AND :hi"
		vals[":p"] = avS(pq.Name + sep + seg.Field)
		vals[":lo"], vals[":hi"] = avS(lo), avS(hi)
		in.IndexName = aws.String(slotIndex(slot))
		in.KeyConditionExpression = &kc
		in.ExpressionAttributeNames = exprNames(kc)
		in.ExpressionAttributeValues = exprValues(vals, kc)
	}
	var res store.ScanResult
	matched := 0
	t := time.Now()
	for {
		in.Limit = aws.Int32(int32(min(budget-len(res.Items), 1000)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return store.ScanResult{}, wrapErr("query "+pq.Name, err)
		}
		for _, it := range out.Items {
			r, err := decode(it)
			if err != nil {
				return store.ScanResult{}, err
			}
			key, _ := getS(it, aSK)
			if slot >= 0 {
				if xs, _ := getS(it, slotSK(slot)); seg.Desc && xs == afterSK && afterSK != "" {
					continue // the position itself (upper bounds are inclusive)
				}
			} else if afterSK != "" && key == afterSK {
				continue
			}
			sc := store.Scanned{Key: key}
			if !r.exists {
				if slot >= 0 {
					continue // a tombstone left in an index: not a position
				}
				res.Items = append(res.Items, sc)
				continue
			}
			live := r.live(t)
			if live && r.parts > 0 {
				if err := s.complete(ctx, &r); err != nil {
					if !errors.Is(err, errStale) {
						return store.ScanResult{}, err
					}
					live = false // replaced meanwhile
				}
			}
			doc := store.NewDoc(&r.entry)
			in := true
			switch {
			case seg.Field == "":
			case slot < 0: // the missing segment, read from the namespace
				in = doc.Get(field).Kind() == store.KindMissing
			default:
				sc.Value = doc.Get(field)
				if !inSegment(seg, sc.Value) {
					continue // the index lags behind the item (eventual consistency)
				}
			}
			if live && in && pq.Matches(doc) {
				e := r.entry
				sc.Entry = &e
				matched++
			}
			res.Items = append(res.Items, sc)
			if matched >= want {
				return res, nil
			}
		}
		if out.LastEvaluatedKey == nil {
			res.Done = true
			return res, nil
		}
		if len(res.Items) >= budget {
			return res, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// inSegment reports whether v belongs to seg: its rank and bounds (the
// index answers by a prefix of long values, so bounds are checked here).
func inSegment(seg store.Segment, v store.Value) bool {
	if v.Kind().Rank() != seg.Rank {
		return false
	}
	if seg.Lo != nil {
		c := store.Compare(v, seg.Lo.Value)
		if c < 0 || (c == 0 && !seg.Lo.Incl) {
			return false
		}
	}
	if seg.Hi != nil {
		c := store.Compare(v, seg.Hi.Value)
		if c > 0 || (c == 0 && !seg.Hi.Incl) {
			return false
		}
	}
	return true
}

// CreateIndex declares the index, waits until every writer knows it (the
// cache TTL), then backfills the namespace's entries page by page.
func (s *Store) CreateIndex(ctx context.Context, name, field string) (store.Index, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return store.Index{}, err
	}
	canon, err := store.ValidateIndexField(field)
	if err != nil {
		return store.Index{}, err
	}
	var d decl
	for {
		ds, err := s.loadDecls(ctx, name)
		if err != nil {
			return store.Index{}, err
		}
		if have := ds.find(canon); have != nil {
			d = *have
			break
		}
		if len(ds.decls) >= min(s.limits.MaxIndexesPerName, querySlots) {
			return store.Index{}, store.Errorf(store.CodeTooLarge, "namespace %q has %d indexes, the limit is %d", name, len(ds.decls), min(s.limits.MaxIndexesPerName, querySlots))
		}
		slot := 0
		for ds.slotUsed(slot) {
			slot++
		}
		t := time.Now()
		d = decl{Slot: slot, Field: canon, State: string(store.IndexBuilding), Created: t.UnixMicro(),
			BuildAfter: t.Add(s.ix.ttl + s.ix.ttl/2 + 100*time.Millisecond).UnixMicro()}
		ok, err := s.saveDecls(ctx, name, ds, append(slices.Clone(ds.decls), d))
		if err != nil {
			return store.Index{}, err
		}
		if ok {
			break
		}
	}
	ix := store.Index{Name: name, Field: canon, State: store.IndexState(d.State), CreatedAt: time.UnixMicro(d.Created).UTC()}
	if d.State == string(store.IndexReady) {
		return ix, nil
	}
	if wait := time.Until(time.UnixMicro(d.BuildAfter)); wait > 0 {
		select {
		case <-ctx.Done():
			return store.Index{}, fmt.Errorf("dynamostore: build the index on %s: %w", canon, ctx.Err())
		case <-time.After(wait):
		}
	}
	f, _ := store.ParseField(canon)
	d.path = f
	if err := s.backfill(ctx, name, d); err != nil {
		return store.Index{}, err
	}
	for {
		ds, err := s.loadDecls(ctx, name)
		if err != nil {
			return store.Index{}, err
		}
		cur := ds.find(canon)
		if cur == nil || cur.Slot != d.Slot {
			return store.Index{}, store.Errorf(store.CodeConflict, "the index on %s was dropped while it was built", canon)
		}
		if cur.State == string(store.IndexReady) {
			break
		}
		next := slices.Clone(ds.decls)
		for i := range next {
			if next[i].Field == canon {
				next[i].State = string(store.IndexReady)
			}
		}
		ok, err := s.saveDecls(ctx, name, ds, next)
		if err != nil {
			return store.Index{}, err
		}
		if ok {
			break
		}
	}
	ix.State = store.IndexReady
	return ix, nil
}

func (ds *declSet) slotUsed(i int) bool {
	for _, d := range ds.decls {
		if d.Slot == i {
			return true
		}
	}
	return false
}

// backfillPage bounds the items one backfill step reads.
const backfillPage = 100

// backfill sets the index attributes of d on every item of the namespace,
// a page at a time, each write conditional on the version it read (a
// concurrent writer, which knows the index, wrote them already).
func (s *Store) backfill(ctx context.Context, name string, d decl) error {
	n := strconv.Itoa(d.Slot)
	kc := "#pk = :pk"
	in := &dynamodb.QueryInput{
		TableName: &s.table, ConsistentRead: aws.Bool(true), Limit: aws.Int32(backfillPage),
		KeyConditionExpression:    &kc,
		ExpressionAttributeNames:  exprNames(kc),
		ExpressionAttributeValues: item{":pk": avS(name)},
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return wrapErr("build an index of "+name, err)
		}
		for _, it := range out.Items {
			r, err := decode(it)
			if err != nil {
				return err
			}
			if !r.exists {
				continue
			}
			if r.parts > 0 {
				if err := s.complete(ctx, &r); err != nil {
					if errors.Is(err, errStale) {
						continue // replaced meanwhile: its writer set the index
					}
					return err
				}
			}
			v := store.NewDoc(&r.entry).Get(d.path)
			vals := item{":v": avN(r.ver)}
			upd := "REMOVE #xp" + n + ", #xs" + n
			if v.Kind() != store.KindMissing {
				upd = "SET #xp" + n + " = :xp, #xs" + n + " = :xs"
				vals[":xp"] = avS(name + sep + d.Field)
				vals[":xs"] = avS(indexSortKey(v, r.entry.Key))
			}
			cond := "#v = :v"
			_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &s.table, Key: keyOf(name, r.entry.Key),
				UpdateExpression: &upd, ConditionExpression: &cond,
				ExpressionAttributeNames:  exprNames(upd, cond),
				ExpressionAttributeValues: exprValues(vals, upd, cond),
			})
			var cf *types.ConditionalCheckFailedException
			if err != nil && !errors.As(err, &cf) {
				return wrapErr("build an index of "+name, err)
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DropIndex removes the declaration, then the index attributes of the
// items that still carry them (best effort: leftovers are never read).
func (s *Store) DropIndex(ctx context.Context, name, field string) (bool, error) {
	if err := s.limits.ValidateName(name); err != nil {
		return false, err
	}
	canon, err := store.ValidateIndexField(field)
	if err != nil {
		return false, err
	}
	var d decl
	for {
		ds, err := s.loadDecls(ctx, name)
		if err != nil {
			return false, err
		}
		have := ds.find(canon)
		if have == nil {
			return false, nil
		}
		d = *have
		next := slices.DeleteFunc(slices.Clone(ds.decls), func(x decl) bool { return x.Field == canon })
		ok, err := s.saveDecls(ctx, name, ds, next)
		if err != nil {
			return false, err
		}
		if ok {
			break
		}
	}
	n := strconv.Itoa(d.Slot)
	kc := "#xp" + n + " = :p"
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(slotIndex(d.Slot)), Limit: aws.Int32(backfillPage),
		KeyConditionExpression:    &kc,
		ExpressionAttributeNames:  exprNames(kc),
		ExpressionAttributeValues: item{":p": avS(name + sep + canon)},
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return true, nil // the declaration is gone; the rest is cleanup
		}
		for _, it := range out.Items {
			key, _ := getS(it, aSK)
			upd := "REMOVE #xp" + n + ", #xs" + n
			cond := "#xp" + n + " = :p"
			s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &s.table, Key: keyOf(name, key),
				UpdateExpression: &upd, ConditionExpression: &cond,
				ExpressionAttributeNames:  exprNames(upd, cond),
				ExpressionAttributeValues: item{":p": avS(name + sep + canon)},
			})
		}
		if out.LastEvaluatedKey == nil {
			return true, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Indexes lists declared indexes: one namespace's (one GetItem) or every
// namespace's (a Query of the declarations' partition).
func (s *Store) Indexes(ctx context.Context, name string) ([]store.Index, error) {
	toIndexes := func(n string, ds *declSet) []store.Index {
		var out []store.Index
		for _, d := range ds.decls {
			out = append(out, store.Index{Name: n, Field: d.Field, State: store.IndexState(d.State), CreatedAt: time.UnixMicro(d.Created).UTC()})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
		return out
	}
	out := []store.Index{}
	if name != "" {
		if err := s.limits.ValidateName(name); err != nil {
			return nil, err
		}
		ds, err := s.loadDecls(ctx, name)
		if err != nil {
			return nil, err
		}
		return append(out, toIndexes(name, ds)...), nil
	}
	kc := "#pk = :pk"
	in := &dynamodb.QueryInput{
		TableName: &s.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    &kc,
		ExpressionAttributeNames:  exprNames(kc),
		ExpressionAttributeValues: item{":pk": avS(indexesPK)},
	}
	for {
		o, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, wrapErr("list indexes", err)
		}
		for _, it := range o.Items {
			n, _ := getS(it, aSK)
			ds, err := parseDecls(it)
			if err != nil {
				return nil, err
			}
			out = append(out, toIndexes(n, ds)...)
		}
		if o.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = o.LastEvaluatedKey
	}
}
