package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
)

// open returns a store on a fresh table of DynamoDB Local.
func open(t testing.TB, l store.Limits, extra ...func(*dynamodb.Options)) *dynamostore.Store {
	t.Helper()
	ep := testenv.DynamoEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := dynamostore.Open(ctx, dynamostore.Config{
		Endpoint: ep, Table: testenv.UniqueName("flowkv_t_"), Limits: l, ClientOptions: extra,
		IndexCacheTTL: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DeleteTable(ctx); err != nil {
			t.Errorf("delete table: %v", err)
		}
		_ = s.Close()
	})
	return s
}

func ptr[T any](v T) *T { return &v }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func code(t *testing.T, err error, want store.Code) {
	t.Helper()
	if got := store.CodeOf(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func TestBasicOperations(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	e, err := s.Insert(ctx, "orders", "o-1", raw(`{"total":12, "a":[1,2.50]}`), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Data) != `{"a":[1,2.5],"total":12}` || e.Version <= 0 {
		t.Fatalf("insert returned %+v", e)
	}
	_, err = s.Insert(ctx, "orders", "o-1", raw(`1`), store.WriteOptions{})
	code(t, err, store.CodeAlreadyExists)
	got, err := s.FindNameKey(ctx, "orders", "o-1")
	if err != nil || string(got.Data) != string(e.Data) || got.Version != e.Version || !got.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("get = %+v, %v; want %+v", got, err, e)
	}
	_, err = s.Update(ctx, "orders", "missing", raw(`{}`), store.WriteOptions{})
	code(t, err, store.CodeNotFound)
	u, err := s.Update(ctx, "orders", "o-1", raw(`5`), store.WriteOptions{IfVersion: e.Version, FlowUUID: "f-1"})
	if err != nil || u.Version <= e.Version || string(u.Data) != "5" || !u.CreatedAt.Equal(e.CreatedAt) || u.FlowUUID != "f-1" {
		t.Fatalf("update = %+v, %v", u, err)
	}
	_, err = s.Update(ctx, "orders", "o-1", raw(`6`), store.WriteOptions{IfVersion: e.Version})
	code(t, err, store.CodeConflict)

	p, err := s.Fetch(ctx, store.FetchQuery{Data: raw(`5.0`)})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Key != "o-1" {
		t.Fatalf("fetch by numeric data = %+v, %v", p, err)
	}
	p, err = s.Fetch(ctx, store.FetchQuery{FlowUUID: "f-1"})
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("fetch by flow = %+v, %v", p, err)
	}
	ok, err := s.Delete(ctx, "orders", "o-1", store.DeleteOptions{})
	if err != nil || !ok {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	ok, err = s.Delete(ctx, "orders", "o-1", store.DeleteOptions{})
	if err != nil || ok {
		t.Fatalf("second delete = %v, %v", ok, err)
	}
	_, err = s.FindNameKey(ctx, "orders", "o-1")
	code(t, err, store.CodeNotFound)
	re, err := s.Insert(ctx, "orders", "o-1", raw(`{"total":12}`), store.WriteOptions{})
	if err != nil || re.Version <= u.Version {
		t.Fatalf("re-insert = %+v, %v (old version %d)", re, err, u.Version)
	}
	up, err := s.Upsert(ctx, "orders", "o-2", raw(`"x"`), store.WriteOptions{TTL: time.Hour})
	if err != nil || up.ExpiresAt == nil {
		t.Fatalf("upsert = %+v, %v", up, err)
	}
	names, err := s.Names(ctx)
	if err != nil || len(names) != 1 || names[0] != (store.NameCount{Name: "orders", Count: 2}) {
		t.Fatalf("names = %+v, %v", names, err)
	}
}

func TestAtomicSumAndChecks(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	r, err := s.Atomic(ctx, []store.Check{{Name: "c", Key: "k", Version: 0}},
		[]store.Mutation{{Op: store.OpSum, Name: "c", Key: "k", Data: raw("2")}})
	if err != nil || len(r.Versions) != 1 || r.Versions[0] <= 0 {
		t.Fatalf("atomic = %+v, %v", r, err)
	}
	r2, err := s.Atomic(ctx, []store.Check{{Name: "c", Key: "k", Version: r.Versions[0]}},
		[]store.Mutation{{Op: store.OpSum, Name: "c", Key: "k", Data: raw("3.5")}, {Op: store.OpSet, Name: "c", Key: "other", Data: raw(`{"b":1,"a":2}`)}})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.FindNameKey(ctx, "c", "k")
	if string(e.Data) != "5.5" || e.Version != r2.Versions[0] {
		t.Fatalf("sum gave %+v, versions %v", e, r2.Versions)
	}
	_, err = s.Atomic(ctx, []store.Check{{Name: "c", Key: "k", Version: r.Versions[0]}},
		[]store.Mutation{{Op: store.OpSet, Name: "c", Key: "z", Data: raw("1")}})
	code(t, err, store.CodeConflict)
	if _, err := s.FindNameKey(ctx, "c", "z"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("a failed atomic wrote: %v", err)
	}
	_, err = s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "c", Key: "other", Data: raw("1")}})
	code(t, err, store.CodeInvalidArgument)
	p, err := s.Fetch(ctx, store.FetchQuery{Data: raw(`{"a":2,"b":1}`)})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Key != "other" {
		t.Fatalf("fetch by data = %+v, %v", p, err)
	}
}

func TestConcurrentSum(t *testing.T) {
	c := &countOps{ops: map[string]int{}}
	s := open(t, store.Limits{}, c.option)
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, each = 16, 10
	var failed atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "c", Key: "n", Data: raw("1")}}); err != nil {
					failed.Add(1)
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	e, err := s.FindNameKey(ctx, "c", "n")
	if err != nil || string(e.Data) != "160" {
		t.Fatalf("counter = %s, %v (failed %d)", e.Data, err, failed.Load())
	}
	t.Logf("%d transactions for %d sums", c.get("TransactWriteItems"), workers*each)
}

// countOps counts the DynamoDB operations a client sends.
type countOps struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *countOps) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("countOps",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.ops[middleware.GetOperationName(ctx)]++
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

func (c *countOps) reset() { c.mu.Lock(); c.ops = map[string]int{}; c.mu.Unlock() }
func (c *countOps) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

func TestSearchesQueryNeverScan(t *testing.T) {
	c := &countOps{ops: map[string]int{}}
	s := open(t, store.Limits{}, c.option)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Insert(ctx, "n1", k, raw(`{"x":1}`), store.WriteOptions{FlowUUID: "fl"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Insert(ctx, "_flowkv.tokens", "t", raw(`{"x":1}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.reset()
	for _, q := range []store.FetchQuery{
		{Data: raw(`{"x":1}`)}, {FlowUUID: "fl"}, {}, {Name: "n1", KeyPrefix: "b"}, {Names: []string{"n1"}},
	} {
		p, err := s.Fetch(ctx, q)
		if err != nil || len(p.Entries) == 0 {
			t.Fatalf("fetch %+v = %+v, %v", q, p, err)
		}
		for _, e := range p.Entries {
			if store.IsReserved(e.Name) {
				t.Fatalf("fetch %+v returned reserved %s", q, e.Name)
			}
		}
	}
	if _, err := s.Names(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.get("Scan"); n != 0 {
		t.Fatalf("%d Scan requests", n)
	}
	if c.get("Query") == 0 {
		t.Fatal("no Query requests counted: the counter does not work")
	}
}

// Queries are Query requests (never Scan): one for an indexed page, one
// per page of examined items otherwise; an index adds no request to a
// write.
func TestQueryRequests(t *testing.T) {
	c := &countOps{ops: map[string]int{}}
	s := open(t, store.Limits{}, c.option)
	ctx := context.Background()
	for i := range 40 {
		if _, err := s.Insert(ctx, "orders", fmt.Sprintf("o-%02d", i), raw(fmt.Sprintf(`{"status":%q,"total":%d}`, []string{"paid", "open"}[i%2], i)), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateIndex(ctx, "orders", "status"); err != nil {
		t.Fatal(err)
	}
	paid := []store.Condition{{Field: "status", Op: store.OpEq, Value: raw(`"paid"`)}, {Field: "total", Op: store.OpGte, Value: raw(`10`)}}
	count := func(what string, q store.Query, wantItems, wantQueries int) {
		t.Helper()
		c.reset()
		p, err := s.Query(ctx, q)
		if err != nil || len(p.Entries) != wantItems {
			t.Fatalf("%s: %d entries, %v; want %d", what, len(p.Entries), err, wantItems)
		}
		if n := c.get("Query"); n != wantQueries {
			t.Fatalf("%s: %d Query requests, want %d", what, n, wantQueries)
		}
		if n := c.get("Scan") + c.get("BatchGetItem"); n != 0 {
			t.Fatalf("%s: %d Scan or BatchGetItem requests", what, n)
		}
		if n := c.get("GetItem"); n > 1 { // the declarations, when the cache expired
			t.Fatalf("%s: %d GetItem requests", what, n)
		}
	}
	count("indexed", store.Query{Name: "orders", Where: paid, Limit: 10}, 10, 1)
	count("indexed, sorted", store.Query{Name: "orders", Where: paid[:1], OrderBy: []store.Order{{Field: "status", Desc: true}}, Limit: 5}, 5, 1)
	count("unindexed", store.Query{Name: "orders", Where: paid[1:], Limit: 50}, 30, 1)
	c.reset()
	if _, err := s.Upsert(ctx, "orders", "o-00", raw(`{"status":"void"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := c.get("UpdateItem"); n != 1 || c.get("TransactWriteItems") != 0 || c.get("PutItem") != 0 {
		t.Fatalf("a write to an indexed namespace: %d UpdateItem, %v", n, c.ops)
	}
}

func TestCursorPages(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	for i := range 25 {
		k := string(rune('a'+i%26)) + strings.Repeat("x", i%3)
		if _, err := s.Upsert(ctx, "p", k, raw(`1`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	cur := ""
	for {
		p, err := s.List(ctx, "p", "", cur, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			keys = append(keys, e.Key)
		}
		if p.NextCursor == "" {
			break
		}
		cur = p.NextCursor
	}
	if len(keys) != 25 {
		t.Fatalf("listed %d keys: %v", len(keys), keys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("keys out of order: %v", keys)
		}
	}
	_, err := s.List(ctx, "p", "", "garbage!", 7)
	code(t, err, store.CodeInvalidArgument)
}

// Values above one item's capacity are chunked: the default 1 MiB limit
// holds at its boundary through every write path, and chunks of replaced
// versions are removed.
func TestLargeValues(t *testing.T) {
	s := open(t, store.Limits{})
	want := store.DefaultLimits()
	want.MaxIndexesPerName = 5 // a namespace's index slots (GSIs qx0…qx4)
	if got := s.Limits(); got != want {
		t.Fatalf("Limits() = %+v, want the defaults (5 indexes per namespace)", got)
	}
	ctx := context.Background()
	name := strings.Repeat("n", store.DefaultMaxNameBytes)
	key := strings.Repeat("k", store.DefaultMaxKeyBytes)
	max := store.DefaultMaxDataBytes
	// Two-byte runes put the 350,000-byte cuts inside a rune unless split
	// respects UTF-8.
	runes := (max - 3) / 2
	at := raw(`"` + strings.Repeat("é", runes) + strings.Repeat("x", max-2-2*runes) + `"`)
	if len(at) != max {
		t.Fatalf("test data is %d bytes", len(at))
	}
	over := raw(`"` + strings.Repeat("x", max-1) + `"`)
	check := func(what string, want json.RawMessage) {
		t.Helper()
		got, err := s.FindNameKey(ctx, name, key)
		if err != nil || string(got.Data) != string(want) {
			t.Fatalf("%s: read back %d bytes, %v; want %d bytes", what, len(got.Data), err, len(want))
		}
		if what == "atomic set" {
			return // searched for after the insert already
		}
		p, err := s.Fetch(ctx, store.FetchQuery{Data: want})
		if err != nil || len(p.Entries) != 1 || string(p.Entries[0].Data) != string(want) {
			t.Fatalf("%s: fetch by data = %d entries, %v", what, len(p.Entries), err)
		}
	}
	e, err := s.Insert(ctx, name, key, at, store.WriteOptions{FlowUUID: strings.Repeat("f", 64), TTL: time.Hour})
	if err != nil {
		t.Fatalf("insert at the limit: %v", err)
	}
	check("insert", at)
	if n := chunkItems(t, s); n != 2 {
		t.Fatalf("a 1 MiB value left %d chunk items, want 2", n)
	}
	_, err = s.Upsert(ctx, name, key, over, store.WriteOptions{})
	code(t, err, store.CodeTooLarge)
	_, err = s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSet, Name: name, Key: "k2", Data: over}})
	code(t, err, store.CodeTooLarge)

	// Boundaries of chunking itself, by update, upsert and atomic.
	for i, n := range []int{350_000, 350_001, 700_001, 100} {
		v := raw(`"` + strings.Repeat(string(rune('a'+i)), n-2) + `"`)
		u, err := s.Update(ctx, name, key, v, store.WriteOptions{IfVersion: e.Version})
		if err != nil || u.Version <= e.Version || !u.CreatedAt.Equal(e.CreatedAt) {
			t.Fatalf("update to %d bytes: version %d created %v, %v; before: version %d created %v", n, u.Version, u.CreatedAt, err, e.Version, e.CreatedAt)
		}
		check(fmt.Sprintf("update to %d bytes", n), v)
		r, err := s.Atomic(ctx, []store.Check{{Name: name, Key: key, Version: u.Version}},
			[]store.Mutation{{Op: store.OpSet, Name: name, Key: key, Data: at}})
		if err != nil {
			t.Fatalf("atomic set over %d bytes: %v", n, err)
		}
		check("atomic set", at)
		e.Version = r.Versions[0]
	}
	if _, err := s.Delete(ctx, name, key, store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, "small", "k", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every replaced version's chunks are gone: only the entry's items remain.
	if n := chunkItems(t, s); n != 0 {
		t.Fatalf("%d chunks outlived their versions", n)
	}
}

// chunkItems counts the chunk items in s's table (a test-only Scan).
func chunkItems(t *testing.T, s *dynamostore.Store) int {
	out, err := s.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: ptr(s.Table())})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range out.Items {
		if pk := it["pk"].(*types.AttributeValueMemberS).Value; strings.HasPrefix(pk, "\x02") {
			n++
		}
	}
	return n
}

func TestAtomicActionLimit(t *testing.T) {
	c := &countOps{ops: map[string]int{}}
	s := open(t, store.Limits{}, c.option)
	ctx := context.Background()
	muts := make([]store.Mutation, 101)
	for i := range muts {
		muts[i] = store.Mutation{Op: store.OpSet, Name: "a", Key: strings.Repeat("k", i+1), Data: raw("1")}
	}
	c.reset()
	_, err := s.Atomic(ctx, nil, muts)
	code(t, err, store.CodeInvalidArgument)
	if n := c.get("TransactWriteItems"); n != 0 {
		t.Fatalf("%d transactions sent for a refused atomic", n)
	}
	r, err := s.Atomic(ctx, nil, muts[:100])
	if err != nil || len(r.Versions) != 100 {
		t.Fatalf("100 actions: %v", err)
	}
	if n := c.get("TransactWriteItems"); n != 1 {
		t.Fatalf("%d transactions for one atomic", n)
	}
}

func TestExpiredInvisible(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	if _, err := s.Insert(ctx, "x", "k", raw(`{"v":1}`), store.WriteOptions{TTL: 300 * time.Millisecond, FlowUUID: "f"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	_, err := s.FindNameKey(ctx, "x", "k")
	code(t, err, store.CodeNotFound)
	for _, q := range []store.FetchQuery{{}, {Name: "x"}, {Data: raw(`{"v":1}`)}, {FlowUUID: "f"}} {
		p, err := s.Fetch(ctx, q)
		if err != nil || len(p.Entries) != 0 {
			t.Fatalf("fetch %+v = %+v, %v", q, p, err)
		}
	}
	// An expired entry counts as absent for insert, update and sum.
	_, err = s.Update(ctx, "x", "k", raw(`1`), store.WriteOptions{})
	code(t, err, store.CodeNotFound)
	r, err := s.Atomic(ctx, []store.Check{{Name: "x", Key: "k"}}, []store.Mutation{{Op: store.OpSum, Name: "x", Key: "k", Data: raw("4")}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.FindNameKey(ctx, "x", "k")
	if err != nil || string(e.Data) != "4" || e.Version != r.Versions[0] || e.ExpiresAt != nil {
		t.Fatalf("sum over expired = %+v, %v", e, err)
	}
	if names, _ := s.Names(ctx); len(names) != 1 || names[0].Count != 1 {
		t.Fatalf("names = %v", names)
	}
	var nf *store.Error
	if !errors.As(err, &nf) && err != nil {
		t.Fatal(err)
	}
}

// lossy sends requests but loses the response of the first one whose
// X-Amz-Target ends in op, as a network failure after DynamoDB applied it.
type lossy struct {
	op   string
	drop bool // lose the request instead of the response
	lost atomic.Bool
	sent atomic.Int64
}

func (l *lossy) Do(r *http.Request) (*http.Response, error) {
	mine := strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+l.op)
	if mine && l.drop && l.lost.CompareAndSwap(false, true) {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	resp, err := http.DefaultClient.Do(r)
	if !mine {
		return resp, err
	}
	l.sent.Add(1)
	if err == nil && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return resp, err
}

// An ambiguous failure of a conditional write is never retried blindly:
// the insert is sent once and confirmed by reading its write token back
// (a blind retry would report already_exists for the caller's own insert).
func TestAmbiguousInsertNotRetried(t *testing.T) {
	l := &lossy{op: "UpdateItem"}
	s := open(t, store.Limits{}, func(o *dynamodb.Options) { o.HTTPClient = l })
	ctx := context.Background()
	e, err := s.Insert(ctx, "amb", "k", raw(`{"a":1}`), store.WriteOptions{})
	if err != nil {
		t.Fatalf("insert whose response was lost: %v", err)
	}
	if !l.lost.Load() || l.sent.Load() != 1 {
		t.Fatalf("lost=%v, UpdateItem sent %d times, want once", l.lost.Load(), l.sent.Load())
	}
	got, err := s.FindNameKey(ctx, "amb", "k")
	if err != nil || got.Version != e.Version {
		t.Fatalf("read back %+v, %v; insert returned version %d", got, err, e.Version)
	}
}

// A write that replaces a chunked value and whose response is lost after
// DynamoDB applied it is settled by reading back; the replaced version's
// chunks, which the lost response would have named, are still deleted
// (CI once saw "2 chunks outlived their versions" under load).
func TestAmbiguousReplaceDropsChunks(t *testing.T) {
	l := &lossy{op: "UpdateItem"}
	l.lost.Store(true) // armed below, after the chunked insert
	s := open(t, store.Limits{}, func(o *dynamodb.Options) { o.HTTPClient = l })
	ctx := context.Background()
	big := raw(`"` + strings.Repeat("b", 800_000) + `"`)
	if _, err := s.Upsert(ctx, "amb", "k", big, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another key keeps its chunks: only k's stale ones go.
	if _, err := s.Upsert(ctx, "amb", "kk", big, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := chunkItems(t, s); n != 4 {
		t.Fatalf("two 800 kB values left %d chunk items, want 4", n)
	}
	l.lost.Store(false)
	if _, err := s.Upsert(ctx, "amb", "k", raw(`"small"`), store.WriteOptions{}); err != nil {
		t.Fatalf("upsert whose response was lost: %v", err)
	}
	if !l.lost.Load() {
		t.Fatal("no response was lost")
	}
	if n := chunkItems(t, s); n != 2 {
		t.Fatalf("%d chunk items after replacing k, want the other key's 2", n)
	}
	got, err := s.FindNameKey(ctx, "amb", "kk")
	if err != nil || string(got.Data) != string(big) {
		t.Fatalf("the other key read back %d bytes, %v", len(got.Data), err)
	}
}

// A transaction whose response was lost is retried by the SDK with the
// same ClientRequestToken, which DynamoDB applies once: a sum adds once.
func TestAmbiguousSumAppliedOnce(t *testing.T) {
	l := &lossy{op: "TransactWriteItems"}
	s := open(t, store.Limits{}, func(o *dynamodb.Options) { o.HTTPClient = l })
	ctx := context.Background()
	if _, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "amb", Key: "n", Data: raw("5")}}); err != nil {
		t.Fatalf("sum whose response was lost: %v", err)
	}
	if !l.lost.Load() {
		t.Fatal("no response was lost")
	}
	got, err := s.FindNameKey(ctx, "amb", "n")
	if err != nil || string(got.Data) != "5" {
		t.Fatalf("counter = %s, %v; want 5 (sent %d times)", got.Data, err, l.sent.Load())
	}
}

// Numbers DynamoDB holds are summed with ADD; others (beyond 38 digits or
// its exponent range) are summed exactly as the SQL backend does.
func TestSumNumberForms(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	sum := func(key, delta string) {
		t.Helper()
		if _, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "n", Key: key, Data: raw(delta)}}); err != nil {
			t.Fatalf("sum %s += %s: %v", key, delta, err)
		}
	}
	for _, tc := range []struct {
		key, start string
		deltas     []string
		want       string
	}{
		{"small", "", []string{"1e-7", "2E-7"}, "3e-7"},
		{"float", "0.5", []string{"0.25"}, "0.75"},
		{"big-int", "12345678901234567", []string{"1"}, "12345678901234568"},
		{"huge", "1e300", []string{"1e300"}, "2e+300"},
		{"huge-delta", "1", []string{"1e200"}, "1e+200"},
		{"negative", "", []string{"-4", "1.5"}, "-2.5"},
	} {
		if tc.start != "" {
			if _, err := s.Upsert(ctx, "n", tc.key, raw(tc.start), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range tc.deltas {
			sum(tc.key, d)
		}
		e, err := s.FindNameKey(ctx, "n", tc.key)
		want, _ := store.Canonicalize(raw(tc.want))
		if err != nil || string(e.Data) != string(want) {
			t.Errorf("%s: got %s, %v; want %s", tc.key, e.Data, err, want)
		}
		p, err := s.Fetch(ctx, store.FetchQuery{Data: want})
		if err != nil || len(p.Entries) != 1 {
			t.Errorf("%s: fetch by data %s found %d, %v", tc.key, want, len(p.Entries), err)
		}
	}
}

// A write whose request was lost is confirmed as not applied by reading
// the item back, and only then sent again: the insert lands once.
func TestAmbiguousLostRequestResent(t *testing.T) {
	for _, size := range []int{10, 400_000} {
		l := &lossy{op: "UpdateItem", drop: true}
		if size > 350_000 {
			l.op = "TransactWriteItems"
		}
		s := open(t, store.Limits{}, func(o *dynamodb.Options) { o.HTTPClient = l })
		ctx := context.Background()
		data := raw(`"` + strings.Repeat("x", size-2) + `"`)
		e, err := s.Insert(ctx, "amb", "k", data, store.WriteOptions{})
		if err != nil {
			t.Fatalf("%d bytes: insert whose request was lost: %v", size, err)
		}
		if !l.lost.Load() || l.sent.Load() != 1 {
			t.Fatalf("%d bytes: lost=%v, %s reached DynamoDB %d times, want once", size, l.lost.Load(), l.op, l.sent.Load())
		}
		got, err := s.FindNameKey(ctx, "amb", "k")
		if err != nil || got.Version != e.Version || len(got.Data) != size {
			t.Fatalf("%d bytes: read back version %d, %v; insert returned %d", size, got.Version, err, e.Version)
		}
	}
}

// A writer whose clock is ahead (here: an imported version far in the
// future) never makes versions go backwards: every write path re-sends
// with the stored version + 1.
func TestVersionsAboveAClockAhead(t *testing.T) {
	s := open(t, store.Limits{})
	ctx := context.Background()
	ahead := time.Now().Add(24 * time.Hour).UnixMicro()
	e, err := s.Import(ctx, store.Entry{Name: "skew", Key: "k", Data: raw(`1`), Version: ahead})
	if err != nil || e.Version != ahead {
		t.Fatalf("import = %d, %v; want version %d", e.Version, err, ahead)
	}
	last := e.Version
	grow := func(what string, v int64, err error) {
		t.Helper()
		if err != nil || v <= last {
			t.Fatalf("%s: version %d, %v; want above %d", what, v, err, last)
		}
		last = v
	}
	// Each write comes from a fresh store: another process, whose version
	// clock is at the real time, a day behind the stored version.
	other := func() *dynamostore.Store {
		o, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: testenv.DynamoEndpoint(t), Table: s.Table()})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	u, err := other().Upsert(ctx, "skew", "k", raw(`2`), store.WriteOptions{})
	grow("upsert", u.Version, err)
	r, err := other().Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "skew", Key: "k", Data: raw(`1`)}})
	if err != nil {
		t.Fatal(err)
	}
	grow("atomic sum", r.Versions[0], nil)
	if g, err := s.FindNameKey(ctx, "skew", "k"); err != nil || g.Version != last || string(g.Data) != "3" {
		t.Fatalf("after the sum: %+v, %v", g, err)
	}
	if _, err := other().Delete(ctx, "skew", "k", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	i, err := other().Insert(ctx, "skew", "k", raw(`3`), store.WriteOptions{})
	grow("insert after delete", i.Version, err)
	r, err = other().Atomic(ctx, []store.Check{{Name: "skew", Key: "k", Version: i.Version}}, []store.Mutation{{Op: store.OpSet, Name: "skew", Key: "k", Data: raw(`4`)}})
	if err != nil {
		t.Fatal(err)
	}
	grow("atomic set", r.Versions[0], nil)
	big := raw(`"` + strings.Repeat("x", 400_000) + `"`)
	b, err := other().Update(ctx, "skew", "k", big, store.WriteOptions{})
	grow("chunked update", b.Version, err)
}
