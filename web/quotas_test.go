package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/scripting"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/web"
)

// tokenWithID creates a token (scope flows, so it may run inline source)
// and returns its secret and id.
func (h *harness) tokenWithID(grants ...string) (string, string) {
	h.t.Helper()
	g, err := store.ParseGrants(grants)
	if err != nil {
		h.t.Fatal(err)
	}
	secret, tok, err := tokens.New(h.st).Create(context.Background(), "quota-test", g, tokens.ScopeFlows)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret, tok.ID
}

// patientScripts gives the server a script engine whose runs get a minute:
// on a loaded -race run workers start slowly, and in these tests the quota,
// not the clock, must be what stops a script.
func patientScripts(t *testing.T) func(*web.Options) {
	eng := scripting.New(scripting.Options{Timeout: time.Minute})
	t.Cleanup(eng.Close)
	return func(o *web.Options) {
		if o.Extra == nil {
			o.Extra = map[string]any{}
		}
		o.Extra["scripts"] = eng
	}
}

// The attack: a token with a 20-operation monthly quota hammers the API.
// Its 21st call and every one after are 429 resource_exhausted naming the
// quota; another token is served throughout; what was stored is intact.
func TestQuotaTokenHammersTheAPI(t *testing.T) {
	t.Parallel()
	h := newSQLite(t, patientScripts(t))
	attacker, attackerID := h.tokenWithID("loot:write")
	victim := h.token("shop:write")
	want(t, h.do("PUT", "/v1/quotas/tokens/"+attackerID, h.admin, map[string]any{"opsPerMonth": 20}), 200, "")
	want(t, h.do("PUT", "/v1/quotas/tokens/"+attackerID, attacker, map[string]any{"opsPerMonth": 1 << 40}), 403, "access_denied")

	want(t, h.do("POST", "/v1/store/shop/o-1", victim, map[string]any{"data": map[string]any{"total": 12}}), 201, "")
	for i := range 20 {
		path := fmt.Sprintf("/v1/store/loot/k-%02d", i/2)
		if i%2 == 0 {
			want(t, h.do("PUT", path, attacker, map[string]any{"data": i}), 200, "")
		} else {
			want(t, h.do("GET", path, attacker, nil), 200, "")
		}
	}
	r := h.do("GET", "/v1/store/loot/k-00", attacker, nil)
	want(t, r, http.StatusTooManyRequests, "resource_exhausted")
	if msg := r.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "quota of 20 store operations per month") {
		t.Fatalf("the message does not name the quota: %q", msg)
	}

	// Now hammer: writes, reads, listings, atomics, the data routes, in
	// parallel with the victim's traffic.
	attacks := []func() resp{
		func() resp {
			return h.do("PUT", "/v1/store/loot/k-00", attacker, map[string]any{"data": "overwritten"})
		},
		func() resp { return h.do("POST", "/v1/store/loot/new", attacker, map[string]any{"data": 1}) },
		func() resp { return h.do("DELETE", "/v1/store/loot/k-01", attacker, nil) },
		func() resp { return h.do("GET", "/v1/store/loot?limit=1000", attacker, nil) },
		func() resp { return h.do("GET", "/v1/names", attacker, nil) },
		func() resp {
			return h.do("POST", "/v1/atomic", attacker, map[string]any{"checks": []any{}, "mutations": []any{
				map[string]any{"op": "sum", "name": "loot", "key": "ctr", "data": 1}}})
		},
		func() resp {
			return h.do("POST", "/v1/operations/data", attacker, map[string]any{"key": "x", "value": 1})
		},
		func() resp {
			return h.do("POST", "/v1/operations/scripts", attacker, map[string]any{"source": `return await dataStore.findNameKey('loot','k-00')`})
		},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for w := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 25 {
				r := attacks[(w+i)%len(attacks)]()
				if r.Status != 429 || r.Code() != "resource_exhausted" {
					errs <- fmt.Sprintf("attack %d: %d %s", (w+i)%len(attacks), r.Status, r.Body)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 5 {
				k := fmt.Sprintf("/v1/store/shop/w%d-%d", w, i)
				if r := h.do("PUT", k, victim, map[string]any{"data": i}); r.Status != 200 {
					errs <- fmt.Sprintf("victim PUT: %d %s", r.Status, r.Body)
				}
				if r := h.do("GET", k, victim, nil); r.Status != 200 {
					errs <- fmt.Sprintf("victim GET: %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	// Stored data is intact: the attacker's 10 writes as written, nothing
	// else in its namespace, the victim's entries all there.
	ctx := context.Background()
	page, err := h.st.List(ctx, "loot", "", "", 100)
	if err != nil || len(page.Entries) != 10 {
		t.Fatalf("loot holds %d entries (%v), want 10", len(page.Entries), err)
	}
	for i, e := range page.Entries {
		if e.Key != fmt.Sprintf("k-%02d", i) || string(e.Data) != fmt.Sprint(i*2) {
			t.Errorf("loot entry %d = %s %s", i, e.Key, e.Data)
		}
	}
	if shop, _ := h.st.List(ctx, "shop", "", "", 100); len(shop.Entries) != 1+8*5 {
		t.Errorf("shop holds %d entries, want 41", len(shop.Entries))
	}
	if _, err := h.st.FindNameKey(ctx, web.DataNamespace, "x"); err == nil {
		t.Error("a refused data write was stored")
	}

	// Reading one's usage is not an operation, and shows the quota.
	u := h.do("GET", "/v1/usage", attacker, nil)
	want(t, u, 200, "")
	tu := u.JSON(t)["token"].(map[string]any)
	if tu["ops"].(float64) != 20 || tu["opsPerMonth"].(float64) != 20 || tu["id"] != attackerID {
		t.Fatalf("usage %s", u.Body)
	}
	// The admin raises the quota: the token is served again at once.
	want(t, h.do("PUT", "/v1/quotas/tokens/"+attackerID, h.admin, map[string]any{"opsPerMonth": 25}), 200, "")
	want(t, h.do("GET", "/v1/store/loot/k-00", attacker, nil), 200, "")
}

// The attack: a token allowed 2 concurrent script runs starts 3 long
// scripts. The third is 429 while the first two run; they then finish.
func TestQuotaConcurrentScriptRuns(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	tok, id := h.tokenWithID("gate:write")
	want(t, h.do("PUT", "/v1/quotas/tokens/"+id, h.admin, map[string]any{"scriptRuns": 2}), 200, "")
	// Each run waits until the test opens the gate (store round trips,
	// not a spin of the CPU), for at most its 5 s time limit.
	long := map[string]any{"source": `
		while (!(await dataStore.findNameKey('gate', 'open'))) {}
		return 'done';`}
	results := make(chan resp, 2)
	for range 2 {
		go func() { results <- h.do("POST", "/v1/operations/scripts", tok, long) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		u := h.do("GET", "/v1/usage", tok, nil).JSON(t)["token"].(map[string]any)
		if u["scriptRuns"].(float64) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two runs did not start: %v", u)
		}
		time.Sleep(10 * time.Millisecond)
	}
	third := h.do("POST", "/v1/operations/scripts", tok, map[string]any{"source": "return 1"})
	want(t, third, 429, "resource_exhausted")
	if !strings.Contains(string(third.Body), "2 concurrent script runs") {
		t.Fatalf("the message does not name the quota: %s", third.Body)
	}
	// Another token is not limited by it.
	want(t, h.do("POST", "/v1/operations/scripts", h.admin, map[string]any{"source": "return 1"}), 200, "")
	want(t, h.do("POST", "/v1/store/gate/open", h.admin, map[string]any{"data": true}), 201, "")
	for range 2 {
		r := <-results
		want(t, r, 200, "")
		if string(r.Body) != `"done"` {
			t.Fatalf("run answered %s", r.Body)
		}
	}
	want(t, h.do("POST", "/v1/operations/scripts", tok, map[string]any{"source": "return 1"}), 200, "")
}

// A script's store calls count against its token's monthly quota, and the
// script sees the error with err.code === 'resource_exhausted'.
func TestQuotaScriptStoreCallsCount(t *testing.T) {
	t.Parallel()
	h := newSQLite(t, patientScripts(t))
	tok, id := h.tokenWithID("n:write")
	want(t, h.do("PUT", "/v1/quotas/tokens/"+id, h.admin, map[string]any{"opsPerMonth": 5}), 200, "")
	r := h.do("POST", "/v1/operations/scripts", tok, map[string]any{"source": `
		let n = 0;
		try { for (;;) { await dataStore.upsert('n', 'k' + n, n); n++; } }
		catch (e) { return {n, code: e.code, message: e.message}; }`})
	want(t, r, 200, "")
	var got struct {
		N       int    `json:"n"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.N != 5 || got.Code != "resource_exhausted" || !strings.Contains(got.Message, "5 store operations per month") {
		t.Fatalf("script saw %+v", got)
	}
	// Uncaught, it fails the run with 429.
	want(t, h.do("POST", "/v1/operations/scripts", tok, map[string]any{"source": `await dataStore.findNameKey('n', 'k0')`}), 429, "resource_exhausted")
}

// A namespace at its entry quota refuses an insert with 429 naming the
// quota, and allows updates, deletes and reads; quota management is for
// admin tokens.
func TestQuotaNamespaceEntriesOverHTTP(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	tok := h.token("orders:write")
	want(t, h.do("PUT", "/v1/quotas/namespaces/orders", tok, map[string]any{"entries": 1000}), 403, "access_denied")
	r := h.do("PUT", "/v1/quotas/namespaces/orders", h.admin, map[string]any{"entries": 2, "bytes": 10 << 20})
	want(t, r, 200, "")
	for _, k := range []string{"o-1", "o-2"} {
		want(t, h.do("POST", "/v1/store/orders/"+k, tok, map[string]any{"data": map[string]any{"total": 1}}), 201, "")
	}
	r = h.do("POST", "/v1/store/orders/o-3", tok, map[string]any{"data": map[string]any{"total": 1}})
	want(t, r, 429, "resource_exhausted")
	if !strings.Contains(string(r.Body), "namespace orders: the quota of 2 entries is reached") {
		t.Fatalf("message: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/store/orders/o-3", tok, nil), 404, "not_found")
	want(t, h.do("PUT", "/v1/store/orders/o-1", tok, map[string]any{"data": map[string]any{"total": 2}}), 200, "")
	want(t, h.do("GET", "/v1/store/orders/o-1", tok, nil), 200, "")
	u := h.do("GET", "/v1/quotas/namespaces/orders", tok, nil).JSON(t)
	if u["entries"].(float64) != 2 || u["quota"].(map[string]any)["entries"].(float64) != 2 {
		t.Fatalf("usage %v", u)
	}
	want(t, h.do("DELETE", "/v1/store/orders/o-2", tok, nil), 200, "")
	want(t, h.do("POST", "/v1/store/orders/o-3", tok, map[string]any{"data": map[string]any{"total": 1}}), 201, "")
	// /v1/usage lists it for a token that may read it, not for others.
	if ns := h.do("GET", "/v1/usage", tok, nil).JSON(t)["namespaces"].([]any); len(ns) != 1 {
		t.Fatalf("usage namespaces %v", ns)
	}
	other := h.token("elsewhere:read")
	if ns := h.do("GET", "/v1/usage", other, nil).JSON(t)["namespaces"].([]any); len(ns) != 0 {
		t.Fatalf("a token without read on orders sees %v", ns)
	}
	want(t, h.do("GET", "/v1/quotas/namespaces/orders", other, nil), 403, "access_denied")
	// Removing it: both 0.
	want(t, h.do("PUT", "/v1/quotas/namespaces/orders", h.admin, map[string]any{"entries": 0, "bytes": 0}), 200, "")
	want(t, h.do("POST", "/v1/store/orders/o-4", tok, map[string]any{"data": 1}), 201, "")
	want(t, h.do("PUT", "/v1/quotas/namespaces/_flowkv.tokens", h.admin, map[string]any{"entries": 1}), 400, "invalid_argument")
	want(t, h.do("PUT", "/v1/quotas/tokens/nope", h.admin, map[string]any{"opsPerMonth": 1}), 404, "not_found")
}
