package scripting

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// The concurrency use cases on PostgreSQL too: the rate limiter stays
// exact and the lock has one holder.
func TestPostgresUseCases(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(Options{Timeout: 60 * time.Second})
	var wg sync.WaitGroup
	allowed := make(chan bool, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.Run(context.Background(), Run{Source: rateLimitScript, Input: json.RawMessage(`{"user":"u1","max":10}`), Store: st, Grants: store.AllGrants()})
			if err != nil {
				t.Errorf("run: %v", err)
				return
			}
			allowed <- string(res.Value) == "true"
		}()
	}
	wg.Wait()
	close(allowed)
	n := 0
	for ok := range allowed {
		if ok {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d runs allowed, want 10", n)
	}
	got := make([]string, 2)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := e.Run(context.Background(), Run{Source: lockScript, Store: st, Grants: store.AllGrants()})
			if err != nil {
				t.Errorf("lock run: %v", err)
				return
			}
			got[i] = string(res.Value)
		}(i)
	}
	wg.Wait()
	if (got[0] == "null") == (got[1] == "null") {
		t.Fatalf("lock holders: %v, want exactly one", got)
	}
	// Deno's key order on PostgreSQL: strings, bigints, numbers ([2] before
	// [10]), booleans.
	jsonEq(t, mustRun(t, e, st, `for (const p of [10, 2, true, 'b', 1n, 'b:c']) await kv.set(['a', p], String(p));
await kv.set(['a', 'b', 'c'], 'b/c');
const out = []; for await (const x of kv.list({prefix: ['a']})) out.push(x.value); return out`, nil), `["b","b/c","b:c","1","2","10","true"]`)
}
