package quota_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func open(t *testing.T, st store.Store, o quota.Options) *quota.Manager {
	t.Helper()
	o.NoBackground = true
	m, err := quota.Open(context.Background(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func wantExhausted(t *testing.T, err error, words ...string) {
	t.Helper()
	if store.CodeOf(err) != store.CodeResourceExhausted {
		t.Fatalf("got %v, want resource_exhausted", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q does not name %q", err.Error(), w)
		}
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// The monthly counter starts again at the first instant of a UTC month,
// and each month's total is stored under its own month.
func TestMonthlyQuotaRollsOverAtUTCMonthBoundary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC)}
	m := open(t, st, quota.Options{Now: clk.Now})
	if err := m.SetTokenQuota(ctx, "tok1", quota.TokenQuota{OpsPerMonth: 3}); err != nil {
		t.Fatal(err)
	}
	s := m.ForToken(st, "tok1")
	for i := range 3 {
		if _, err := s.Upsert(ctx, "a", fmt.Sprint(i), raw(`1`), store.WriteOptions{}); err != nil {
			t.Fatalf("op %d: %v", i+1, err)
		}
	}
	_, err := s.FindNameKey(ctx, "a", "0")
	wantExhausted(t, err, "3 store operations per month", "2025-02-01T00:00:00Z")
	// One nanosecond before the boundary still January.
	clk.Set(time.Date(2025, 1, 31, 23, 59, 59, 999999999, time.UTC))
	if _, err := s.FindNameKey(ctx, "a", "0"); store.CodeOf(err) != store.CodeResourceExhausted {
		t.Fatalf("still January: %v", err)
	}
	// A zone other than UTC must not move the boundary.
	clk.Set(time.Date(2025, 2, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 3600))) // 23:30 UTC Jan 31
	if _, err := s.FindNameKey(ctx, "a", "0"); store.CodeOf(err) != store.CodeResourceExhausted {
		t.Fatalf("January 31 23:30 UTC: %v", err)
	}
	clk.Set(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC))
	for i := range 3 {
		if _, err := s.FindNameKey(ctx, "a", "0"); err != nil {
			t.Fatalf("February op %d: %v", i+1, err)
		}
	}
	if _, err := s.FindNameKey(ctx, "a", "0"); store.CodeOf(err) != store.CodeResourceExhausted {
		t.Fatalf("4th February op: %v", err)
	}
	u, err := m.TokenUsage(ctx, "tok1")
	if err != nil || u.Ops != 3 || u.Month != "2025-02" || !u.ResetsAt.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("usage %+v %v", u, err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for month, want := range map[string]int64{"2025-01": 3, "2025-02": 3} {
		if n, err := quota.StoredOps(ctx, st, "tok1", month); err != nil || n != want {
			t.Errorf("stored %s = %d %v, want %d", month, n, err, want)
		}
	}
}

// Counts survive a restart: flushed by Close, read back by the next
// Manager, which goes on from them.
func TestCountsSurviveRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)}
	m1, err := quota.Open(ctx, st, quota.Options{Now: clk.Now, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.SetTokenQuota(ctx, "t", quota.TokenQuota{OpsPerMonth: 8}); err != nil {
		t.Fatal(err)
	}
	s1 := m1.ForToken(st, "t")
	for range 5 {
		if _, err := s1.Names(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := open(t, st, quota.Options{Now: clk.Now})
	u, err := m2.TokenUsage(ctx, "t")
	if err != nil || u.Ops != 5 || u.OpsPerMonth != 8 {
		t.Fatalf("after restart: %+v %v", u, err)
	}
	s2 := m2.ForToken(st, "t")
	for i := range 3 {
		if _, err := s2.Names(ctx); err != nil {
			t.Fatalf("op %d after restart: %v", 6+i, err)
		}
	}
	_, err = s2.Names(ctx)
	wantExhausted(t, err, "token t", "8 store operations")
}

// Two servers over one database: each reads the other's flushed count, so
// together they overshoot by at most what one did between flushes.
func TestTwoServersShareTheMonthlyCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	a := open(t, st, quota.Options{})
	if err := a.SetTokenQuota(ctx, "t", quota.TokenQuota{OpsPerMonth: 10}); err != nil {
		t.Fatal(err)
	}
	b := open(t, st, quota.Options{}) // reads the quota at Open
	sa, sb := a.ForToken(st, "t"), b.ForToken(st, "t")
	if _, err := sb.Names(ctx); err != nil { // b loads the stored total (0) now
		t.Fatal(err)
	}
	for range 6 {
		if _, err := sa.Names(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Before a flushes, b does not know: it may go on to its own 10.
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil { // reads back the total: 6 + 1
		t.Fatal(err)
	}
	n := 0
	for ; n < 20; n++ {
		if _, err := sb.Names(ctx); err != nil {
			wantExhausted(t, err)
			break
		}
	}
	if n != 3 {
		t.Fatalf("b served %d more, want 3 (10 - 6 by a - 1 by b)", n)
	}
}

// A change made by another process (the CLI) takes effect at the next
// Refresh.
func TestRefreshPicksUpQuotasSetElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	s := m.ForToken(st, "t")
	if _, err := s.Names(ctx); err != nil {
		t.Fatal(err)
	}
	if err := quota.SetTokenQuota(ctx, st, "t", quota.TokenQuota{OpsPerMonth: 1}); err != nil {
		t.Fatal(err)
	}
	if err := quota.SetNamespaceQuota(ctx, st, "n", quota.NamespaceQuota{Entries: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Names(ctx); err != nil {
		t.Fatalf("before refresh the old (no) quota holds: %v", err)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := s.Names(ctx)
	wantExhausted(t, err)
	ns := m.Namespaces(st)
	if _, err := ns.Insert(ctx, "n", "1", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = ns.Insert(ctx, "n", "2", raw(`1`), store.WriteOptions{})
	wantExhausted(t, err, "namespace n: the quota of 1 entries is reached")
	// Removing the quota elsewhere lifts it at the next refresh.
	if err := quota.SetNamespaceQuota(ctx, st, "n", quota.NamespaceQuota{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Insert(ctx, "n", "2", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A namespace at its entry quota refuses an insert (and a new key by
// upsert, set or sum), names the quota and writes nothing; updates,
// deletes and reads still work, and a delete makes room.
func TestNamespaceAtEntryQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	if _, err := m.SetNamespaceQuota(ctx, "orders", quota.NamespaceQuota{Entries: 3}); err != nil {
		t.Fatal(err)
	}
	s := m.ForToken(store.WithGrants(st, store.AllGrants()), "t")
	for i := range 3 {
		if _, err := s.Insert(ctx, "orders", fmt.Sprintf("o-%d", i), raw(`{"total":1}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Insert(ctx, "orders", "o-3", raw(`{"total":1}`), store.WriteOptions{})
	wantExhausted(t, err, "namespace orders: the quota of 3 entries is reached")
	_, err = s.Upsert(ctx, "orders", "o-3", raw(`{"total":1}`), store.WriteOptions{})
	wantExhausted(t, err, "3 entries")
	_, err = s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSet, Name: "orders", Key: "o-3", Data: raw(`1`)}})
	wantExhausted(t, err, "3 entries")
	_, err = s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "orders", Key: "n", Data: raw(`1`)}})
	wantExhausted(t, err, "3 entries")
	if _, err := st.FindNameKey(ctx, "orders", "o-3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused write wrote: %v", err)
	}
	// A write that fails on its own gets its own answer, not the quota's.
	if _, err := s.Insert(ctx, "orders", "o-1", raw(`1`), store.WriteOptions{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("insert of a present key at the quota: %v, want already_exists", err)
	}
	if _, err := s.Update(ctx, "orders", "o-9", raw(`1`), store.WriteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an absent key at the quota: %v, want not_found", err)
	}
	if _, err := s.Upsert(ctx, "orders", "o-9", raw(`1`), store.WriteOptions{IfVersion: 3}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conditional upsert of an absent key at the quota: %v, want conflict", err)
	}
	if _, err := s.Update(ctx, "orders", "o-1", raw(`{"total":2}`), store.WriteOptions{}); err != nil {
		t.Fatalf("update at the quota: %v", err)
	}
	if _, err := s.Upsert(ctx, "orders", "o-2", raw(`{"total":3}`), store.WriteOptions{}); err != nil {
		t.Fatalf("upsert of an existing key at the quota: %v", err)
	}
	if e, err := s.FindNameKey(ctx, "orders", "o-1"); err != nil || string(e.Data) != `{"total":2}` {
		t.Fatalf("read at the quota: %s %v", e.Data, err)
	}
	// Another namespace is not limited.
	if _, err := s.Insert(ctx, "other", "x", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// An atomic call that deletes one and creates one fits.
	if _, err := s.Atomic(ctx, nil, []store.Mutation{
		{Op: store.OpDelete, Name: "orders", Key: "o-0"},
		{Op: store.OpSet, Name: "orders", Key: "o-4", Data: raw(`1`)},
	}); err != nil {
		t.Fatalf("delete+set at the quota: %v", err)
	}
	if ok, err := s.Delete(ctx, "orders", "o-4", store.DeleteOptions{}); !ok || err != nil {
		t.Fatalf("delete at the quota: %v %v", ok, err)
	}
	if _, err := s.Insert(ctx, "orders", "o-5", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatalf("insert after a delete made room: %v", err)
	}
	u, err := m.NamespaceUsage(ctx, "orders")
	if err != nil || u.Entries != 3 || u.Quota == nil || u.Quota.Entries != 3 {
		t.Fatalf("usage %+v %v", u, err)
	}
	if e, b, err := quota.Count(ctx, st, "orders"); err != nil || e != u.Entries || b != u.Bytes {
		t.Fatalf("tracked %d entries %d bytes, counted %d %d %v", u.Entries, u.Bytes, e, b, err)
	}
}

// An import through a quota view (the store browser's) restores the entry
// as store.Importer does and is held to the namespace quota.
func TestImportThroughQuotaView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	if _, err := m.SetNamespaceQuota(ctx, "orders", quota.NamespaceQuota{Entries: 1}); err != nil {
		t.Fatal(err)
	}
	imp, ok := m.ForToken(store.WithGrants(st, store.AllGrants()), "t").(store.Importer)
	if !ok {
		t.Fatal("a quota view of an Importer does not import")
	}
	if e, err := imp.Import(ctx, store.Entry{Name: "orders", Key: "a", Data: raw(`1`), Version: 42}); err != nil || e.Version != 42 {
		t.Fatalf("import: %+v, %v", e, err)
	}
	_, err := imp.Import(ctx, store.Entry{Name: "orders", Key: "b", Data: raw(`1`)})
	wantExhausted(t, err, "1 entries")
	if _, ok := m.Namespaces(struct{ store.Store }{st}).(store.Importer); ok {
		t.Fatal("a quota view invents Import")
	}
}

// Bytes stored: a write that grows the namespace past its quota is
// refused, one that shrinks it always passes.
func TestNamespaceBytesQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	// key "k" (1) + `"xxxxxxxx"` (10) = 11 bytes per entry.
	if _, err := m.SetNamespaceQuota(ctx, "b", quota.NamespaceQuota{Bytes: 25}); err != nil {
		t.Fatal(err)
	}
	s := m.Namespaces(st)
	if _, err := s.Insert(ctx, "b", "k", raw(`"xxxxxxxx"`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "b", "j", raw(`"xxxxxxxx"`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Insert(ctx, "b", "i", raw(`"xxxxxxxx"`), store.WriteOptions{})
	wantExhausted(t, err, "namespace b: the quota of 25 bytes is reached")
	_, err = s.Update(ctx, "b", "k", raw(`"xxxxxxxxxxxxxxxxx"`), store.WriteOptions{})
	wantExhausted(t, err, "25 bytes")
	// Whitespace does not count: the canonical form is measured.
	if _, err := s.Update(ctx, "b", "k", raw(`  "xxxxxxxxxxx"  `), store.WriteOptions{}); err != nil {
		t.Fatalf("growing by 3 to 25 bytes: %v", err)
	}
	if _, err := s.Update(ctx, "b", "k", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatalf("shrinking: %v", err)
	}
	u, _ := m.NamespaceUsage(ctx, "b")
	if u.Bytes != 13 || u.Entries != 2 {
		t.Fatalf("usage %+v, want 13 bytes in 2 entries", u)
	}
}

// What is deleted behind the Manager's back (another server, the CLI, an
// expiry) is found by the recount a refused write makes.
func TestRefusedWriteRecountsFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{RecountAfter: time.Nanosecond})
	if _, err := m.SetNamespaceQuota(ctx, "n", quota.NamespaceQuota{Entries: 2}); err != nil {
		t.Fatal(err)
	}
	s := m.Namespaces(st)
	for _, k := range []string{"a", "b"} {
		if _, err := s.Insert(ctx, "n", k, raw(`1`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Delete(ctx, "n", "a", store.DeleteOptions{}); err != nil { // not through m
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "n", "c", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatalf("room freed elsewhere: %v", err)
	}
	// And a write made elsewhere is counted by the next recount.
	if _, err := st.Insert(ctx, "n", "d", raw(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Insert(ctx, "n", "e", raw(`1`), store.WriteOptions{})
	wantExhausted(t, err)
	if u, _ := m.NamespaceUsage(ctx, "n"); u.Entries != 3 {
		t.Fatalf("usage %+v, want the 3 stored entries", u)
	}
}

// Concurrent inserts into a namespace with room for a few: exactly that
// many succeed (one server enforces exactly).
func TestConcurrentInsertsDoNotOvershoot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	if _, err := m.SetNamespaceQuota(ctx, "n", quota.NamespaceQuota{Entries: 5}); err != nil {
		t.Fatal(err)
	}
	s := m.Namespaces(st)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Insert(ctx, "n", fmt.Sprint(i), raw(`1`), store.WriteOptions{})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if store.CodeOf(err) != store.CodeResourceExhausted {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if e, _, _ := quota.Count(ctx, st, "n"); ok != 5 || e != 5 {
		t.Fatalf("%d inserts succeeded, %d stored; want 5", ok, e)
	}
}

func TestConcurrentScriptRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	if err := m.SetTokenQuota(ctx, "t", quota.TokenQuota{ScriptRuns: 2}); err != nil {
		t.Fatal(err)
	}
	r1, err := m.StartRun("t")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m.StartRun("t")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.StartRun("t")
	wantExhausted(t, err, "2 concurrent script runs")
	if _, err := m.StartRun("other"); err != nil {
		t.Fatalf("another token: %v", err)
	}
	r1()
	r1() // twice is harmless
	r3, err := m.StartRun("t")
	if err != nil {
		t.Fatalf("after one ended: %v", err)
	}
	u, _ := m.TokenUsage(ctx, "t")
	if u.ScriptRuns != 2 || u.MaxScriptRuns != 2 {
		t.Fatalf("usage %+v", u)
	}
	r2()
	r3()
	// Unset: the default of 4.
	var rel []func()
	for range quota.DefaultScriptRuns {
		r, err := m.StartRun("d")
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	_, err = m.StartRun("d")
	wantExhausted(t, err, "4 concurrent")
	for _, r := range rel {
		r()
	}
}

// More active tokens than one atomic call may hold: the flush batches.
func TestFlushBatchesManyTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	n := store.MaxAtomicActions*2 + 7
	for i := range n {
		s := m.ForToken(st, fmt.Sprintf("t%03d", i))
		for range i%3 + 1 {
			if _, err := s.Names(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := quota.StoredOpsByToken(ctx, st, quota.Month(time.Now()))
	if err != nil || len(got) != n {
		t.Fatalf("%d totals stored, want %d: %v", len(got), n, err)
	}
	for i := range n {
		if v := got[fmt.Sprintf("t%03d", i)]; v != int64(i%3+1) {
			t.Fatalf("t%03d: %d, want %d", i, v, i%3+1)
		}
	}
	// A second flush with nothing new writes nothing new.
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := quota.StoredOpsByToken(ctx, st, quota.Month(time.Now()))
	if again["t001"] != 2 {
		t.Fatalf("t001 after an empty flush: %d", again["t001"])
	}
}

func TestSetQuotaRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	for _, c := range []struct {
		name string
		q    quota.NamespaceQuota
	}{
		{store.ReservedPrefix + "tokens", quota.NamespaceQuota{Entries: 1}},
		{"", quota.NamespaceQuota{Entries: 1}},
		{"n", quota.NamespaceQuota{Entries: -1}},
		{"bad\x00name", quota.NamespaceQuota{Entries: 1}},
	} {
		if _, err := m.SetNamespaceQuota(ctx, c.name, c.q); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("%q %+v: %v, want invalid_argument", c.name, c.q, err)
		}
	}
	if err := m.SetTokenQuota(ctx, "t", quota.TokenQuota{OpsPerMonth: -5}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("negative ops: %v", err)
	}
}

// BenchmarkCount is the quota layer's own cost per store call, without a
// database: a call that the grants refuse before touching the store,
// through store.WithGrants alone ("grants") and through a token's quota
// view over it ("quota": the call is counted against a monthly quota).
//
//	go test -run '^$' -bench Count -count 6 ./internal/quota/
func BenchmarkCount(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(b), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, err := quota.Open(ctx, st, quota.Options{NoBackground: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := m.SetTokenQuota(ctx, "t", quota.TokenQuota{OpsPerMonth: 1 << 60}); err != nil {
		b.Fatal(err)
	}
	guarded := store.WithGrants(st, store.Grants{"mine": store.Read})
	call := func(b *testing.B, s store.Store) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.FindNameKey(ctx, "other", "k"); !errors.Is(err, store.ErrAccessDenied) {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("grants", func(b *testing.B) { call(b, guarded) })
	b.Run("quota", func(b *testing.B) { call(b, m.ForToken(guarded, "t")) })
	b.Run("quota-per-request", func(b *testing.B) {
		// What a request pays: a fresh view (StoreFor) and one call.
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.ForToken(guarded, "t").FindNameKey(ctx, "other", "k"); !errors.Is(err, store.ErrAccessDenied) {
					b.Fatal(err)
				}
			}
		})
	})
}

// Every store call through a token's view counts: a token whose monthly
// quota is used up is refused by every method of store.Store that reaches
// data — including ones added to the interface later (a method the view
// does not wrap would pass through uncounted).
func TestEveryStoreMethodIsCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	m := open(t, st, quota.Options{})
	if err := m.SetTokenQuota(ctx, "t", quota.TokenQuota{OpsPerMonth: 1}); err != nil {
		t.Fatal(err)
	}
	view := m.ForToken(store.WithGrants(st, store.AllGrants()), "t")
	if _, err := view.Names(ctx); err != nil {
		t.Fatal(err)
	}
	exempt := map[string]bool{"Limits": true, "Ping": true, "Close": true}
	v := reflect.ValueOf(view)
	it := reflect.TypeOf((*store.Store)(nil)).Elem()
	for i := range it.NumMethod() {
		name := it.Method(i).Name
		if exempt[name] {
			continue
		}
		mv := v.MethodByName(name)
		args := make([]reflect.Value, mv.Type().NumIn())
		for j := range args {
			at := mv.Type().In(j)
			if at == reflect.TypeOf((*context.Context)(nil)).Elem() {
				args[j] = reflect.ValueOf(ctx)
			} else {
				args[j] = reflect.Zero(at)
			}
		}
		out := mv.Call(args)
		err, _ := out[len(out)-1].Interface().(error)
		if store.CodeOf(err) != store.CodeResourceExhausted {
			t.Errorf("%s past the quota: %v, want resource_exhausted (is it counted?)", name, err)
		}
	}
}
