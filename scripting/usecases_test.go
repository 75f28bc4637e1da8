package scripting

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// The Database module's use cases (session storage, caching, rate
// limiting, feature flags, locks), written as scripts.

func TestUseCaseSession(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	out := mustRun(t, e, st, `
const sessionId = input.sessionId;
await dataStore.upsert('session', sessionId, {userId: 'usr_abc123', cart: [], lastActivity: Date.now()}, {ttl: 3600});
const s = await dataStore.findNameKey('session', sessionId);
const short = await kv.set(['session', 'short'], {userId: 'x'}, {expireIn: 1});
return {userId: s.data.userId, expires: Date.parse(s.expiresAt) - Date.now()};`, map[string]string{"sessionId": "s-1"})
	var got struct {
		UserID  string  `json:"userId"`
		Expires float64 `json:"expires"`
	}
	_ = json.Unmarshal([]byte(out), &got)
	if got.UserID != "usr_abc123" || got.Expires < 3500e3 || got.Expires > 3601e3 {
		t.Fatalf("session: %s", out)
	}
	// The 1 ms session has expired by now: invisible at once.
	time.Sleep(5 * time.Millisecond)
	jsonEq(t, mustRun(t, e, st, `return (await kv.get(['session', 'short'])).value`, nil), `null`)
}

func TestUseCaseCacheAside(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	src := `
async function getProductWithCache(productId) {
  const cacheKey = ['cache', 'product', productId];
  const cached = await kv.get(cacheKey);
  if (cached.value) return {from: 'cache', product: cached.value};
  const product = {id: productId, price: 10};           // the slow source
  await kv.set(cacheKey, product, {expireIn: 5 * 60 * 1000});
  return {from: 'source', product};
}
return [await getProductWithCache(input.id), await getProductWithCache(input.id)];`
	jsonEq(t, mustRun(t, e, st, src, map[string]string{"id": "p1"}),
		`[{"from":"source","product":{"id":"p1","price":10}},{"from":"cache","product":{"id":"p1","price":10}}]`)
	jsonEq(t, mustRun(t, e, st, src, map[string]string{"id": "p1"}),
		`[{"from":"cache","product":{"id":"p1","price":10}},{"from":"cache","product":{"id":"p1","price":10}}]`)
	ent, err := st.FindNameKey(context.Background(), "default", tupleKey(t, "cache", "product", "p1"))
	if err != nil || ent.ExpiresAt == nil {
		t.Fatalf("cache entry: %+v %v", ent, err)
	}
}

// rateLimitScript allows at most input.max requests per window: read the
// counter, refuse at the limit, else add 1 with an atomic sum guarded by
// the version just read (retrying on conflict), so no two runs can both
// take the last slot.
const rateLimitScript = `
async function checkRateLimit(userId, action, max, windowSeconds) {
  const key = 'ratelimit:' + action + ':' + userId;
  for (;;) {
    const cur = await dataStore.findNameKey('limits', key);
    const count = cur ? cur.data : 0;
    if (count >= max) return false;
    const tx = dataStore.atomic().check('limits', key, cur ? cur.version : null);
    if (cur) tx.sum('limits', key, 1); else tx.set('limits', key, 1, {ttl: windowSeconds});
    const r = await tx.commit();
    if (r.ok) return true;
  }
}
return await checkRateLimit(input.user, 'send', input.max, 60);`

func TestUseCaseRateLimiterExact(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 60 * time.Second})
	st := openStore(t)
	const runs, max = 32, 10
	var wg sync.WaitGroup
	allowed := make(chan bool, runs)
	for i := 0; i < runs; i++ {
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
	if n != max {
		t.Fatalf("%d of %d runs allowed, want exactly %d", n, runs, max)
	}
	ent, err := st.FindNameKey(context.Background(), "limits", "ratelimit:send:u1")
	if err != nil || string(ent.Data) != "10" {
		t.Fatalf("counter: %s %v", ent.Data, err)
	}
}

// Under 32 concurrent runs, an unconditional atomic sum counts exactly.
func TestUseCaseCounterSum(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 60 * time.Second})
	st := openStore(t)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Run(context.Background(), Run{Source: `await kv.atomic().sum(['hits', 'page'], 1).commit()`, Store: st, Grants: store.AllGrants()}); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	wg.Wait()
	ent, err := st.FindNameKey(context.Background(), "default", tupleKey(t, "hits", "page"))
	if err != nil || string(ent.Data) != "32" {
		t.Fatalf("counter: %s %v", ent.Data, err)
	}
}

func TestUseCaseFeatureFlags(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	mustRun(t, e, st, `await dataStore.upsert('config', 'features', {newCheckout: true, darkMode: false, betaFeatures: ['feature-a', 'feature-b']})`, nil)
	src := `
async function isFeatureEnabled(feature) {
  const config = await dataStore.findNameKey('config', 'features');
  if (config) return config.data[feature] === true;
  return false;
}
return [await isFeatureEnabled('newCheckout'), await isFeatureEnabled('darkMode'), await isFeatureEnabled('nope')];`
	jsonEq(t, mustRun(t, e, st, src, nil), `[true,false,false]`)
}

const lockScript = `
async function acquireLock(lockName, ttl = 30) {
  const lockId = crypto.randomUUID();
  const r = await dataStore.atomic()
    .check('locks', lockName, null)
    .set('locks', lockName, {lockId, acquiredAt: Date.now()}, {ttl})
    .commit();
  return r.ok ? lockId : null;
}
return await acquireLock('order-processing');`

func TestUseCaseLock(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 30 * time.Second})
	st := openStore(t)
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		got := make([]string, 2)
		for i := range got {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res, err := e.Run(context.Background(), Run{Source: lockScript, Store: st, Grants: store.AllGrants()})
				if err != nil {
					t.Errorf("run: %v", err)
					return
				}
				got[i] = string(res.Value)
			}(i)
		}
		wg.Wait()
		held := 0
		for _, g := range got {
			if g != "null" {
				held++
			}
		}
		if held != 1 {
			t.Fatalf("round %d: %d runs acquired the lock (%v), want exactly 1", round, held, got)
		}
		// Release: the holder deletes it; the next round competes again.
		mustRun(t, e, st, `await dataStore.deleteOneNameKey('locks', 'order-processing')`, nil)
	}
}
