package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

// Values larger than chunkSize bytes (DynamoDB items hold at most 400 KB)
// are split at UTF-8 boundaries into parts of at most chunkSize: the first
// stays in the entry's item ("d", with "p" = the number of further parts),
// the others are chunk items in the namespace's chunk partition
// ("\x02" + name), sort key key + "\x01" + version + "\x01" + index. A
// chunked entry is written in one transaction (entry, new chunks, deletion
// of the previous version's chunks), and read back by a Query of its
// chunk prefix; chunks of another version than the entry's are never read.
const chunkSize = 350_000

const aParts = "p" // number of chunk items after the first part

func chunkPK(name string) string { return "\x02" + name }

func chunkPrefix(key string, ver int64) string {
	return key + sep + fmt.Sprintf("%016d", ver) + sep
}

func chunkSK(key string, ver int64, i int) string {
	return chunkPrefix(key, ver) + fmt.Sprintf("%04d", i)
}

// split cuts data into parts of at most chunkSize bytes at rune starts.
func split(data []byte) []string {
	var parts []string
	for len(data) > chunkSize {
		n := chunkSize
		for n > 0 && !utf8.RuneStart(data[n]) {
			n--
		}
		parts = append(parts, string(data[:n]))
		data = data[n:]
	}
	return append(parts, string(data))
}

// chunkRef names the chunk items of one version of an entry.
type chunkRef struct {
	name, key string
	ver       int64
	parts     int
}

func (c chunkRef) keys() []item {
	out := make([]item, c.parts)
	for i := range c.parts {
		out[i] = keyOf(chunkPK(c.name), chunkSK(c.key, c.ver, i+1))
	}
	return out
}

// chunkPuts returns the Put actions of data's parts after the first.
func (s *Store) chunkPuts(name, key string, ver int64, parts []string, expires *time.Time) []types.TransactWriteItem {
	var out []types.TransactWriteItem
	for i, p := range parts[1:] {
		it := keyOf(chunkPK(name), chunkSK(key, ver, i+1))
		it[aData] = avS(p)
		if expires != nil {
			it[aTTL] = avN(ttlSeconds(*expires))
		}
		out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: it}})
	}
	return out
}

// chunkDeletes returns the Delete actions of an old version's chunks.
func (s *Store) chunkDeletes(c *chunkRef) []types.TransactWriteItem {
	if c == nil {
		return nil
	}
	var out []types.TransactWriteItem
	for _, k := range c.keys() {
		out = append(out, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: k}})
	}
	return out
}

// dropChunks deletes the chunks of a replaced or deleted version after
// the write that replaced it. Leftovers are never read, but they would
// hold space for good, so a failed batch is retried (beyond the SDK's own
// retries) with a growing pause until half a minute has passed.
func (s *Store) dropChunks(ctx context.Context, c chunkRef) {
	if c.parts <= 0 {
		return
	}
	s.deleteChunkItems(ctx, c.keys())
}

// deleteChunkItems deletes the given chunk items in batches of 25.
func (s *Store) deleteChunkItems(ctx context.Context, keys []item) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var reqs []types.WriteRequest
	for _, k := range keys {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
	}
	failures := 0
	for len(reqs) > 0 && ctx.Err() == nil {
		n := min(len(reqs), 25)
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: reqs[:n]},
		})
		if err != nil {
			failures++
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(failures)*50*time.Millisecond, time.Second)):
			}
			continue
		}
		reqs = append(out.UnprocessedItems[s.table], reqs[n:]...)
	}
}

// dropStaleChunks deletes every chunk of name/key that belongs to a version
// older than keep, a version that has applied (versions only grow, so the
// older ones are replaced; newer ones may belong to a concurrent writer).
// It serves the writes whose outcome was settled by reading back (an
// ambiguous failure that had applied): the replaced version's record was
// never returned to them, so its chunks are found by a Query of the key's
// chunk prefix instead.
func (s *Store) dropStaleChunks(ctx context.Context, name, key string, keep int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var stale []item
	err := s.queryChunks(ctx, name, key+sep, func(it item) {
		sk, _ := getS(it, aSK)
		// key + sep + 16 digits + sep + 4 digits: another key that
		// starts with key + sep has a longer prefix.
		if len(sk) != len(key)+len(sep)+16+len(sep)+4 {
			return
		}
		ver, err := strconv.ParseInt(sk[len(key)+len(sep):][:16], 10, 64)
		if err == nil && ver < keep {
			stale = append(stale, keyOf(chunkPK(name), sk))
		}
	})
	if err != nil {
		return // best effort: leftovers are never read
	}
	s.deleteChunkItems(ctx, stale)
}

// errStale: the chunks of the version read are gone (it was replaced).
var errStale = errors.New("dynamostore: entry changed while reading its chunks")

// complete reads the chunks of a chunked record into its data.
func (s *Store) complete(ctx context.Context, r *record) error {
	if r.parts <= 0 || !r.exists {
		return nil
	}
	var b strings.Builder
	b.Write(r.entry.Data)
	n := 0
	err := s.queryChunks(ctx, r.entry.Name, chunkPrefix(r.entry.Key, r.ver), func(it item) {
		d, _ := getS(it, aData)
		b.WriteString(d)
		n++
	})
	if err != nil {
		return wrapErr(fmt.Sprintf("read chunks of %s/%s", r.entry.Name, r.entry.Key), err)
	}
	if n != r.parts {
		return errStale
	}
	r.entry.Data = []byte(b.String())
	r.parts = 0
	return nil
}

// queryChunks calls fn with every chunk item of namespace name whose sort
// key starts with prefix, in order, with consistent reads.
func (s *Store) queryChunks(ctx context.Context, name, prefix string, fn func(item)) error {
	kc := "#pk = :pk AND begins_with(#sk, :pre)"
	vals := item{":pk": avS(chunkPK(name)), ":pre": avS(prefix)}
	var esk item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    &kc,
			ExpressionAttributeNames:  exprNames(kc),
			ExpressionAttributeValues: vals,
			ExclusiveStartKey:         esk,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return err
		}
		for _, it := range res.Items {
			fn(it)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		esk = res.LastEvaluatedKey
	}
}

// partsOf reads "p".
func partsOf(it item) int {
	n, _ := getN(it, aParts)
	return int(n)
}

// writeChunked writes a value larger than chunkSize: it reads the entry,
// decides as write does, and commits the entry and its chunks in one
// transaction conditional on the version it read.
func (s *Store) writeChunked(ctx context.Context, kind writeKind, name, key string, data []byte, opts store.WriteOptions, imp *store.Entry) (store.Entry, error) {
	parts := split(data)
	atLeast := int64(0)
	if imp != nil {
		atLeast = imp.Version
	}
	ds, err := s.decls(ctx, name)
	if err != nil {
		return store.Entry{}, err
	}
	var tokens []string // of attempts that failed ambiguously and did not apply
	for attempt := range maxAtomicAttempts {
		old, err := s.getRaw(ctx, name, key)
		if err != nil {
			return store.Entry{}, err
		}
		if old.exists && slices.Contains(tokens, old.token) {
			s.dropStaleChunks(ctx, name, key, old.ver)
			r, err := s.get(ctx, name, key) // an earlier attempt applied after all
			return r.entry, err
		}
		t := now()
		live := old.live(t)
		switch {
		case (kind == kindInsert || kind == kindCreate) && live:
			return store.Entry{}, store.Errorf(store.CodeAlreadyExists, "%s/%s already exists", name, key)
		case kind == kindUpdate && !live:
			return store.Entry{}, store.Errorf(store.CodeNotFound, "%s/%s not found", name, key)
		case kind == kindUpdate && opts.IfVersion > 0 && old.ver != opts.IfVersion:
			return store.Entry{}, store.Errorf(store.CodeConflict, "%s/%s has version %d, not %d", name, key, old.ver, opts.IfVersion)
		}
		w := s.newWrite(kind, name, key, data, opts, imp, t, max(atLeast, old.ver+1))
		w.decls = ds
		if kind == kindUpdate {
			w.created, w.createdAt = ":c", old.entry.CreatedAt
		}
		w.parts = parts
		vals := item{}
		cond := "attribute_not_exists(#v)"
		if old.ver > 0 {
			cond = "#v = :old"
			vals[":old"] = avN(old.ver)
		}
		upd := w.update(vals)
		items := []types.TransactWriteItem{{Update: &types.Update{
			TableName:                 &s.table,
			Key:                       keyOf(name, key),
			UpdateExpression:          &upd,
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  exprNames(upd, cond),
			ExpressionAttributeValues: exprValues(vals, upd, cond),
		}}}
		items = append(items, s.chunkPuts(name, key, w.ver, parts, w.expires)...)
		if old.parts > 0 {
			items = append(items, s.chunkDeletes(&chunkRef{name, key, old.ver, old.parts})...)
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return w.entry(), nil
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			if ambiguous(err) {
				e, resend, err := s.settle(ctx, w, err)
				if resend {
					tokens = append(tokens, w.token)
					continue // the next attempt re-reads the entry
				}
				return e, err
			}
			return store.Entry{}, wrapErr(fmt.Sprintf("write %s/%s", name, key), err)
		}
		if err := pause(ctx, attempt); err != nil {
			return store.Entry{}, err
		}
	}
	return store.Entry{}, store.Errorf(store.CodeUnavailable, "%s/%s changed concurrently too often", name, key)
}

// pause waits a jittered, growing moment before another attempt.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(randN(int64(min(2<<min(attempt, 7), 200)))+1) * time.Millisecond
	select {
	case <-ctx.Done():
		return fmt.Errorf("dynamostore: %w", ctx.Err())
	case <-time.After(d):
		return nil
	}
}

// getRaw reads an item without its chunks.
func (s *Store) getRaw(ctx context.Context, name, key string) (record, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: keyOf(name, key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return record{}, wrapErr(fmt.Sprintf("get %s/%s", name, key), err)
	}
	return decode(out.Item)
}
