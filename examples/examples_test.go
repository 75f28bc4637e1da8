package examples_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// env is a fresh SQLite store with every example flow stored.
type env struct {
	t  *testing.T
	st store.Store
	e  *blocks.Engine
	// uuids are the stored flows' UUIDs by id.
	uuids map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := blocks.NewEngine(st, blocks.Options{})
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example flows: %v", err)
	}
	uuids := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sf, err := e.PutFlow(ctx, src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := strings.TrimSuffix(f, ".yaml"); sf.Flow.ID != want {
			t.Errorf("%s holds flow %q; name the file after the flow", f, sf.Flow.ID)
		}
		uuids[sf.Flow.ID] = sf.UUID
	}
	return &env{t: t, st: st, e: e, uuids: uuids}
}

// run runs a stored example flow and returns its record.
func (v *env) run(id string, input any) *blocks.Run {
	v.t.Helper()
	in, err := json.Marshal(input)
	if err != nil {
		v.t.Fatal(err)
	}
	r, err := v.e.RunFlow(context.Background(), id, blocks.RunRequest{Input: in})
	if err != nil {
		v.t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// ok runs a flow that must succeed and returns the run's output decoded.
func (v *env) ok(id string, input any) any {
	v.t.Helper()
	r := v.run(id, input)
	if r.Status != blocks.StatusSucceeded {
		b, _ := json.MarshalIndent(r, "", "  ")
		v.t.Fatalf("run of %s failed:\n%s", id, b)
	}
	var out any
	if err := json.Unmarshal(r.Output, &out); err != nil {
		v.t.Fatal(err)
	}
	return out
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want an object, got %#v", v)
	}
	return m
}

func TestSessionStorage(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	saved := obj(t, v.ok("session-save", map[string]any{"sessionId": "s-1", "userId": "usr_abc123", "cart": []any{"sku-1"}}))
	exp, err := time.Parse(time.RFC3339Nano, saved["expiresAt"].(string))
	if err != nil {
		t.Fatalf("expiresAt: %v", saved["expiresAt"])
	}
	upd, _ := time.Parse(time.RFC3339Nano, saved["updatedAt"].(string))
	if d := exp.Sub(upd); d < time.Hour-time.Second || d > time.Hour+time.Second {
		t.Errorf("session lives %s, want 1h", d)
	}
	loaded := obj(t, v.ok("session-load", map[string]any{"sessionId": "s-1"}))
	data := obj(t, loaded["data"])
	if data["userId"] != "usr_abc123" || data["cart"].([]any)[0] != "sku-1" || data["lastActivity"] == "" {
		t.Errorf("loaded session %v", data)
	}
	if out := v.ok("session-load", map[string]any{"sessionId": "nope"}); out != nil {
		t.Errorf("unknown session = %v, want null", out)
	}
	// An expired session is gone at once: expire it by hand (the example's
	// own TTL is an hour) and load again.
	if _, err := v.st.Upsert(context.Background(), "sessions", "session:s-2", json.RawMessage(`{}`), store.WriteOptions{TTL: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if out := v.ok("session-load", map[string]any{"sessionId": "s-2"}); out != nil {
		t.Errorf("expired session = %v, want null", out)
	}
}

func TestCacheAside(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	if _, err := v.st.Upsert(ctx, "products", "p-1", json.RawMessage(`{"name":"Lamp","price":30}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Miss: read the origin, fill the cache for 5 minutes.
	r := v.run("product-cached", map[string]any{"productId": "p-1"})
	if r.Status != blocks.StatusSucceeded || r.Blocks[1].Status != blocks.StatusSucceeded || r.Blocks[2].Status != blocks.StatusSucceeded {
		t.Fatalf("miss: %+v", r.Blocks)
	}
	ent, err := v.st.FindNameKey(ctx, "cache", "product:p-1")
	if err != nil || string(ent.Data) != `{"name":"Lamp","price":30}` {
		t.Fatalf("cache entry %s %v", ent.Data, err)
	}
	if d := ent.ExpiresAt.Sub(ent.UpdatedAt); d != 5*time.Minute {
		t.Errorf("cache entry lives %s, want 5m", d)
	}
	// The origin changes; a hit still answers from the cache without
	// reading the origin.
	if _, err := v.st.Upsert(ctx, "products", "p-1", json.RawMessage(`{"name":"Lamp","price":35}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	r = v.run("product-cached", map[string]any{"productId": "p-1"})
	if r.Blocks[1].Status != blocks.StatusSkipped || r.Blocks[2].Status != blocks.StatusSkipped {
		t.Errorf("hit read the origin: %+v", r.Blocks)
	}
	var out struct{ Data struct{ Price int } }
	_ = json.Unmarshal(r.Output, &out)
	if out.Data.Price != 30 {
		t.Errorf("hit answered %s, want the cached price 30", r.Output)
	}
	// Once the entry expires the next run reads the origin again.
	if _, err := v.st.Upsert(ctx, "cache", "product:p-1", ent.Data, store.WriteOptions{TTL: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	r = v.run("product-cached", map[string]any{"productId": "p-1"})
	_ = json.Unmarshal(r.Output, &out)
	if r.Blocks[1].Status != blocks.StatusSucceeded || out.Data.Price != 35 {
		t.Errorf("after expiry: %+v output %s", r.Blocks, r.Output)
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	const n = 20
	var wg sync.WaitGroup
	runs := make([]*blocks.Run, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = v.run("lock-acquire", map[string]any{"resource": "order-processing", "owner": i})
		}()
	}
	wg.Wait()
	held := 0
	for _, r := range runs {
		switch {
		case r.Status == blocks.StatusSucceeded:
			held++
		case r.Error == nil || r.Error.Code != store.CodeAlreadyExists:
			t.Errorf("a losing run failed with %+v, want already_exists", r.Error)
		}
	}
	if held != 1 {
		t.Fatalf("%d of %d concurrent runs hold the lock, want exactly 1", held, n)
	}
	ent, err := v.st.FindNameKey(context.Background(), "locks", "lock:order-processing")
	if err != nil || ent.ExpiresAt == nil || ent.ExpiresAt.Sub(ent.UpdatedAt) != 30*time.Second {
		t.Errorf("lock entry %+v %v, want a 30s TTL", ent, err)
	}
	// Released, it can be taken again.
	if out := obj(t, v.ok("lock-release", map[string]any{"resource": "order-processing"})); out["deleted"] != true {
		t.Errorf("release = %v", out)
	}
	v.ok("lock-acquire", map[string]any{"resource": "order-processing"})
}

func TestStoreThenUseInALaterFlow(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		v.ok("orders-save", map[string]any{"id": id, "total": 10})
	}
	// An entry in the same namespace written by someone else.
	if _, err := v.st.Upsert(ctx, "orders", "o-manual", json.RawMessage(`{}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	out := obj(t, v.ok("orders-report", map[string]any{"writerUuid": v.uuids["orders-save"]}))
	// The output is the last block that ran: the fetch (the "one" block is skipped without an id).
	items := out["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("fetch by the writer's flowUuid found %d entries, want 3", len(items))
	}
	for _, it := range items {
		if e := obj(t, it); e["flowUuid"] != v.uuids["orders-save"] {
			t.Errorf("entry %v not written by orders-save", e["key"])
		}
	}
	one := obj(t, v.ok("orders-report", map[string]any{"writerUuid": v.uuids["orders-save"], "id": "o-2"}))
	if obj(t, one["data"])["id"] != "o-2" {
		t.Errorf("later flow read %v", one)
	}
}

// TestSearchPaidOrders: the Search operation finds "the paid orders over
// 100, largest first" among what orders-save stored.
func TestSearchPaidOrders(t *testing.T) {
	v := newEnv(t)
	ctx := context.Background()
	for key, d := range map[string]string{
		"o-1": `{"status":"paid","total":250}`, "o-2": `{"status":"open","total":500}`,
		"o-3": `{"status":"paid","total":120}`, "o-4": `{"status":"paid","total":90}`,
		"o-5": `{"status":"paid","total":"130"}`,
	} {
		if _, err := v.st.Upsert(ctx, "orders", key, json.RawMessage(d), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := obj(t, v.ok("orders-paid", map[string]any{"min": 100}))
	var keys []string
	for _, it := range out["items"].([]any) {
		keys = append(keys, it.(map[string]any)["key"].(string))
	}
	if strings.Join(keys, ",") != "o-1,o-3" || out["count"] != float64(2) {
		t.Fatalf("paid over 100: %v, count %v", keys, out["count"])
	}
}
