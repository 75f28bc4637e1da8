package dynamostore

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

// Attribute names (short: they count towards every item's size).
const (
	aPK      = "pk"  // namespace
	aSK      = "sk"  // key
	aNK      = "nk"  // name + sep + key: sort key of the indexes
	aVer     = "v"   // version
	aData    = "d"   // canonical JSON (values that are not a DynamoDB number)
	aNum     = "n"   // numeric value as a DynamoDB number
	aHash    = "h"   // store.DataHash of d
	aFlow    = "f"   // flowUuid, absent when ""
	aExp     = "e"   // expiresAt, unix µs
	aTTL     = "ttl" // DynamoDB TTL attribute, epoch seconds
	aCreated = "c"   // createdAt, unix µs
	aUpdated = "u"   // updatedAt, unix µs
	aDel     = "del" // tombstone marker
	aToken   = "w"   // random token of the last write (ambiguity checks)
)

// Index names.
const (
	indexData = "data"
	indexNum  = "num"
	indexFlow = "flow"
)

// sep joins name and key in nk; control characters are not allowed in
// names, so (name, key) order is nk's byte order.
const sep = "\x01"

// registryPK is the partition of the namespace registry (sk = namespace);
// a control character keeps it apart from every valid namespace.
const registryPK = "\x01names"

type item = map[string]types.AttributeValue

func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func avN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func avNum(s string) types.AttributeValue { return &types.AttributeValueMemberN{Value: s} }

func keyOf(name, key string) item { return item{aPK: avS(name), aSK: avS(key)} }

func getS(it item, a string) (string, bool) {
	if v, ok := it[a].(*types.AttributeValueMemberS); ok {
		return v.Value, true
	}
	return "", false
}

func getN(it item, a string) (int64, bool) {
	if v, ok := it[a].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// record is a decoded item.
type record struct {
	entry store.Entry
	// exists: the item exists and is not a tombstone (it may be expired).
	exists bool
	// ver is the stored version (also of tombstones and expired items).
	ver   int64
	token string
	// numeric: the data is held in n (sum can ADD to it).
	numeric bool
	// parts > 0: entry.Data holds only the first part of a chunked value
	// until complete reads the others.
	parts int
}

func (r record) live(now time.Time) bool { return r.exists && !r.entry.Expired(now) }

func decode(it item) (record, error) {
	var r record
	if len(it) == 0 {
		return r, nil
	}
	r.ver, _ = getN(it, aVer)
	r.token, _ = getS(it, aToken)
	r.parts = partsOf(it)
	if _, del := it[aDel]; del {
		return r, nil
	}
	if _, ok := it[aVer]; !ok {
		return r, nil
	}
	r.exists = true
	e := &r.entry
	e.Name, _ = getS(it, aPK)
	e.Key, _ = getS(it, aSK)
	e.Version = r.ver
	if d, ok := getS(it, aData); ok {
		e.Data = json.RawMessage(d)
	} else if v, ok := it[aNum].(*types.AttributeValueMemberN); ok {
		c, err := store.Canonicalize(json.RawMessage(v.Value))
		if err != nil {
			return r, err
		}
		e.Data = c
		r.numeric = true
	}
	e.FlowUUID, _ = getS(it, aFlow)
	if x, ok := getN(it, aExp); ok {
		t := time.UnixMicro(x).UTC()
		e.ExpiresAt = &t
	}
	if x, ok := getN(it, aCreated); ok {
		e.CreatedAt = time.UnixMicro(x).UTC()
	}
	if x, ok := getN(it, aUpdated); ok {
		e.UpdatedAt = time.UnixMicro(x).UTC()
	}
	return r, nil
}

// dynamoNumber reports whether a canonical JSON value is a number that a
// DynamoDB number holds exactly (at most 38 significant digits, magnitude
// 1e-130 to below 1e126), so it can be stored in n and summed with ADD.
func dynamoNumber(canon []byte) bool {
	s := string(canon)
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return false
	}
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		x, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return false
		}
		exp, s = x, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	point := len(intPart) + exp // decimal point position in digits
	trimmed := strings.TrimLeft(digits, "0")
	point -= len(digits) - len(trimmed)
	trimmed = strings.TrimRight(trimmed, "0")
	if trimmed == "" {
		return true // zero
	}
	mag := point - 1 // floor(log10(|x|))
	return len(trimmed) <= 38 && mag >= -130 && mag <= 125
}

// Expression helpers: expressions use "#a" for attribute a and ":x" for
// values; exprNames and exprValues keep only what the expressions use
// (DynamoDB refuses unused ones).
var (
	nameRef  = regexp.MustCompile(`#[A-Za-z0-9_]+`)
	valueRef = regexp.MustCompile(`:[A-Za-z0-9_]+`)
)

func exprNames(exprs ...string) map[string]string {
	m := map[string]string{}
	for _, e := range exprs {
		for _, r := range nameRef.FindAllString(e, -1) {
			m[r] = r[1:]
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func exprValues(vals item, exprs ...string) item {
	m := item{}
	for _, e := range exprs {
		for _, r := range valueRef.FindAllString(e, -1) {
			if v, ok := vals[r]; ok {
				m[r] = v
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// Conditions.
const (
	// condLive: a live (non-deleted, unexpired) entry exists.
	condLive = "(attribute_exists(#v) AND attribute_not_exists(#del) AND (attribute_not_exists(#e) OR #e > :now))"
	// condNotLive: absent, a tombstone, or expired.
	condNotLive = "(attribute_not_exists(#v) OR attribute_exists(#del) OR #e <= :now)"
	// condNewer: the version this write sets is above the stored one.
	condNewer = "(attribute_not_exists(#v) OR #v < :v)"
	// condNotExpired: not expired (absent and tombstones included).
	condNotExpired = "(attribute_not_exists(#e) OR #e > :now)"
	condExpired    = "(#e <= :now)"
)

// dataWrite builds the SET and REMOVE parts and values that store data
// (canonical) with the write's metadata. created is the expression of c.
type dataWrite struct {
	name, key string
	data      json.RawMessage // canonical; nil for an ADD (sum) write
	parts     []string        // data split by split when it is chunked
	ver       int64
	token     string
	now       time.Time
	expires   *time.Time
	flow      string
	created   string // ":now" or "if_not_exists(#c, :now)" or ":c"
	createdAt time.Time
	updatedAt time.Time // zero: now
	// decls are the namespace's declared indexes, whose attributes the
	// write sets from data.
	decls *declSet
}

// update returns the update expression and its values.
func (w dataWrite) update(vals item) string {
	set := []string{"#nk = :nk", "#v = :v", "#w = :w", "#u = :u", "#c = " + w.created}
	remove := []string{"#del"}
	vals[":nk"] = avS(w.name + sep + w.key)
	vals[":v"] = avN(w.ver)
	vals[":w"] = avS(w.token)
	vals[":now"] = avN(w.now.UnixMicro())
	upd := w.updatedAt
	if upd.IsZero() {
		upd = w.now
	}
	vals[":u"] = avN(upd.UnixMicro())
	if !w.createdAt.IsZero() {
		vals[":c"] = avN(w.createdAt.UnixMicro())
	}
	switch {
	case w.data == nil: // ADD
	case len(w.parts) > 1:
		set = append(set, "#d = :d", "#h = :h", "#p = :p")
		vals[":d"] = avS(w.parts[0])
		vals[":h"] = avS(store.DataHash(w.data))
		vals[":p"] = avN(int64(len(w.parts) - 1))
		remove = append(remove, "#n")
	case dynamoNumber(w.data):
		set = append(set, "#n = :n")
		vals[":n"] = avNum(string(w.data))
		remove = append(remove, "#d", "#h", "#p")
	default:
		set = append(set, "#d = :d", "#h = :h")
		vals[":d"] = avS(string(w.data))
		vals[":h"] = avS(store.DataHash(w.data))
		remove = append(remove, "#n", "#p")
	}
	if w.data == nil {
		remove = append(remove, "#p")
	}
	if w.flow != "" {
		set = append(set, "#f = :f")
		vals[":f"] = avS(w.flow)
	} else {
		remove = append(remove, "#f")
	}
	if w.expires != nil {
		set = append(set, "#e = :e", "#ttl = :ttl")
		vals[":e"] = avN(w.expires.UnixMicro())
		vals[":ttl"] = avN(ttlSeconds(*w.expires))
	} else {
		remove = append(remove, "#e", "#ttl")
	}
	iset, iremove := indexAttrs(w.decls, w.name, w.key, w.data, vals)
	set, remove = append(set, iset...), append(remove, iremove...)
	expr := "SET " + strings.Join(set, ", ")
	if w.data == nil {
		expr += " ADD #n :delta"
	}
	return expr + " REMOVE " + strings.Join(remove, ", ")
}

// ttlSeconds rounds up so DynamoDB never reaps an item before it expired.
func ttlSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// tombstoneUpdate turns an item into a tombstone that keeps its version.
func tombstoneUpdate(vals item, now time.Time, ver int64) string {
	vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	vals[":ttl"] = avN(now.Add(tombstoneTTL).Unix())
	vals[":v"] = avN(ver)
	return "SET #del = :true, #ttl = :ttl, #v = if_not_exists(#v, :v) REMOVE #d, #n, #h, #p, #nk, #f, #e, #c, #u, #w" + allSlotAttrs()
}

// itemSize estimates the stored size of a data write (DynamoDB counts
// attribute names and values; numbers at most 21 bytes).
func (w dataWrite) itemSize() int {
	n := len(aPK) + len(w.name) + len(aSK) + len(w.key) + len(aNK) + len(w.name) + 1 + len(w.key) +
		len(aToken) + len(w.token) + len(aFlow) + len(w.flow) + 6*(3+21)
	switch {
	case w.data == nil:
		n += 1 + 21
	case len(w.parts) > 1:
		n += len(aData) + len(w.parts[0]) + len(aHash) + 64 + len(aParts) + 21
	case dynamoNumber(w.data):
		n += 1 + 21
	default:
		n += len(aData) + len(w.data) + len(aHash) + 64
	}
	if w.decls != nil {
		for _, d := range w.decls.decls {
			n += 6 + len(w.name) + 1 + len(d.Field) + maxIndexedValue + 3 + len(w.key)
		}
	}
	return n
}

func tooLarge(w dataWrite) error {
	if sz := w.itemSize(); sz > maxItemBytes {
		return store.Errorf(store.CodeTooLarge, "entry %s/%s would take %d bytes, DynamoDB's item limit is %d", w.name, w.key, sz, maxItemBytes)
	}
	return nil
}
