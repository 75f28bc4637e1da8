package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// sample is one concrete request of a route for the authorization matrix.
type sample struct {
	path string
	body any
	// kind says who may call it:
	//   "read", "write": read or write access to namespace ns, no scope;
	//   "global": any token (the answer is filtered by grants instead);
	//   "any": any token, the answer the same for all;
	//   "flows": scope flows, and write access to ns when ns is set;
	//   "admin": scope admin;
	//   "public": no token; "self-authenticating": not in the matrix.
	kind string
	ns   string
	// mutates marks routes the matrix must not call with a token that is
	// allowed (it would change what the matrix checks stays unchanged).
	mutates bool
}

// samples has a row for every route the server serves; a route without
// one fails the matrix. ADMIN in a path is the admin token's ID, RUN a run
// of mx-flow.
var samples = map[string]sample{
	"GET /v1/store":               {path: "/v1/store?name=orders", kind: "read", ns: "orders"},
	"GET /v1/store/:name":         {path: "/v1/store/orders?prefix=o", kind: "read", ns: "orders"},
	"GET /v1/store/:name/:key":    {path: "/v1/store/orders/o-1", kind: "read", ns: "orders"},
	"POST /v1/store/:name/:key":   {path: "/v1/store/orders/o-new", body: map[string]any{"data": 1}, kind: "write", ns: "orders", mutates: true},
	"PUT /v1/store/:name/:key":    {path: "/v1/store/orders/o-1", body: map[string]any{"data": 2}, kind: "write", ns: "orders", mutates: true},
	"PATCH /v1/store/:name/:key":  {path: "/v1/store/orders/o-1", body: map[string]any{"data": 3}, kind: "write", ns: "orders", mutates: true},
	"DELETE /v1/store/:name/:key": {path: "/v1/store/orders/o-1", kind: "write", ns: "orders", mutates: true},
	"POST /v1/atomic":             {path: "/v1/atomic", body: map[string]any{"mutations": []any{map[string]any{"op": "set", "name": "orders", "key": "o-1", "data": 4}}}, kind: "write", ns: "orders", mutates: true},
	"GET /v1/names":               {path: "/v1/names", kind: "global"},
	"GET /v1/openapi.json":        {path: "/v1/openapi.json", kind: "public"}, // holds no data
	"POST /v1/operations/data":    {path: "/v1/operations/data", body: map[string]any{"key": "k", "value": 5}, kind: "write", ns: "default", mutates: true},
	"POST /v1/query":              {path: "/v1/query", body: map[string]any{"name": "orders", "where": []any{map[string]any{"field": "total", "op": "gte", "value": 0}}}, kind: "read", ns: "orders"},
	"GET /v1/indexes":             {path: "/v1/indexes?name=orders", kind: "read", ns: "orders"},
	"POST /v1/indexes":            {path: "/v1/indexes", body: map[string]any{"name": "orders", "field": "total"}, kind: "write", ns: "orders", mutates: true},
	"DELETE /v1/indexes":          {path: "/v1/indexes?name=orders&field=status", kind: "write", ns: "orders", mutates: true},
	"GET /v1/operations/data":     {path: "/v1/operations/data?key=k", kind: "read", ns: "default"},
	"DELETE /v1/operations/data":  {path: "/v1/operations/data?key=k", kind: "write", ns: "default", mutates: true},
	"GET /healthz":                {path: "/healthz", kind: "public"},
	"GET /readyz":                 {path: "/readyz", kind: "public"},
	"GET /metrics":                {path: "/metrics", kind: "public"},

	// Flows: seeing needs read on the flow's namespaces, changing and
	// running scope flows plus write (mx-flow declares orders read-write).
	"GET /v1/blocks":                  {path: "/v1/blocks", kind: "any"},
	"GET /v1/flows":                   {path: "/v1/flows", kind: "global"},
	"GET /v1/flows/:id":               {path: "/v1/flows/mx-flow", kind: "read", ns: "orders"},
	"PUT /v1/flows/:id":               {path: "/v1/flows/mx-flow", body: mxFlow, kind: "flows", ns: "orders", mutates: true},
	"DELETE /v1/flows/:id":            {path: "/v1/flows/mx-flow", kind: "flows", ns: "orders", mutates: true},
	"POST /v1/flows/:id/rename":       {path: "/v1/flows/mx-flow/rename", body: map[string]any{"id": "mx-renamed"}, kind: "flows", ns: "orders", mutates: true},
	"POST /v1/flows/:id/runs":         {path: "/v1/flows/mx-flow/runs", body: map[string]any{"input": map[string]any{"a": 2}}, kind: "flows", ns: "orders", mutates: true},
	"GET /v1/flows/:id/runs":          {path: "/v1/flows/mx-flow/runs", kind: "read", ns: "orders"},
	"GET /v1/flows/:id/runs/:run":     {path: "/v1/flows/mx-flow/runs/RUN", kind: "read", ns: "orders"},
	"GET /v1/runs/:id":                {path: "/v1/runs/RUN", kind: "read", ns: "orders"},
	"POST /hooks/:id":                 {path: "/hooks/mx-flow", kind: "self-authenticating"},
	"PUT /v1/scripts/:name":           {path: "/v1/scripts/mx-script", body: map[string]any{"source": "return 2"}, kind: "flows", mutates: true},
	"GET /v1/scripts/:name":           {path: "/v1/scripts/mx-script", kind: "flows"},
	"GET /v1/scripts":                 {path: "/v1/scripts", kind: "flows"},
	"DELETE /v1/scripts/:name":        {path: "/v1/scripts/mx-script", kind: "flows", mutates: true},
	"POST /v1/operations/scripts":     {path: "/v1/operations/scripts", body: map[string]any{"script": "mx-script"}, kind: "global"},
	"GET /v1/usage":                   {path: "/v1/usage", kind: "global"},
	"GET /v1/quotas/tokens/:id":       {path: "/v1/quotas/tokens/ADMIN", kind: "admin"},
	"PUT /v1/quotas/tokens/:id":       {path: "/v1/quotas/tokens/ADMIN", body: map[string]any{"opsPerMonth": 1}, kind: "admin", mutates: true},
	"GET /v1/quotas/namespaces/:name": {path: "/v1/quotas/namespaces/orders", kind: "read", ns: "orders"},
	"PUT /v1/quotas/namespaces/:name": {path: "/v1/quotas/namespaces/orders", body: map[string]any{"entries": 1}, kind: "admin", mutates: true},
}

// mxFlow is the flow the matrix's flow rows address.
const mxFlow = `
id: mx-flow
dataStores: [orders]
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: from-flow
    data: "{{ input }}"
`

// matrixToken is one identity of the matrix: its grants and scopes.
type matrixToken struct {
	name   string
	scopes []string
	grants []string
}

// matrixTokens are the identities every route is tried with, besides the
// unauthenticated cells and the admin that set things up.
var matrixTokens = []matrixToken{
	{"other namespace", nil, []string{"elsewhere:write"}},
	{"read-only", nil, []string{"orders:read", "default:read"}},
	{"read-write, no scope", nil, []string{"orders:write", "default:write"}},
	{"*:write, no scope", nil, []string{"*:write"}},
	{"flows, other namespace", []string{tokens.ScopeFlows}, []string{"elsewhere:write"}},
	{"flows, read-only", []string{tokens.ScopeFlows}, []string{"orders:read", "default:read"}},
}

// allowed says whether identity tk may call a route of sample s.
func allowed(s sample, tk matrixToken) bool {
	g, _ := store.ParseGrants(tk.grants)
	flows := slices.Contains(tk.scopes, tokens.ScopeFlows)
	switch s.kind {
	case "read":
		return g.Level(s.ns) >= store.Read
	case "write":
		return g.Level(s.ns) >= store.Write
	case "global", "any":
		return true
	case "flows":
		return flows && (s.ns == "" || g.Level(s.ns) >= store.Write)
	}
	return false // admin
}

// TestAuthorizationMatrix: every route × {no token, bad token, revoked
// token} → 401, and × every identity of matrixTokens (namespace grants ×
// scopes) → its row's verdict: 403 access_denied when refused, 200 when
// allowed; nothing refused changes data, flows, runs or scripts.
func TestAuthorizationMatrix(t *testing.T) {
	h := newSQLite(t)
	want(t, h.do("PUT", "/v1/store/orders/o-1", h.admin, map[string]any{"data": 1}), 200, "")
	want(t, h.do("POST", "/v1/operations/data", h.admin, map[string]any{"key": "k", "value": 1}), 200, "")
	want(t, h.do("PUT", "/v1/scripts/mx-script", h.admin, map[string]any{"source": "return 1"}), 200, "")
	want(t, h.do("PUT", "/v1/flows/mx-flow", h.admin, mxFlow, "Content-Type", "application/yaml"), 200, "")
	r := h.do("POST", "/v1/flows/mx-flow/runs", h.admin, map[string]any{"input": map[string]any{"a": 1}})
	want(t, r, 200, "")
	runID, _ := r.JSON(t)["id"].(string)
	adminID, _ := h.do("GET", "/v1/usage", h.admin, nil).JSON(t)["token"].(map[string]any)["id"].(string)
	if !strings.HasPrefix(adminID, tokens.IDPrefix) {
		t.Fatalf("admin token id %q", adminID)
	}
	state := func() string {
		var b strings.Builder
		for _, p := range []string{"/v1/store?limit=1000", "/v1/flows", "/v1/flows/mx-flow/runs", "/v1/scripts/mx-script", "/v1/quotas/namespaces/orders"} {
			r := h.do("GET", p, h.admin, nil)
			fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, r.Body)
		}
		q := h.do("GET", "/v1/quotas/tokens/"+adminID, h.admin, nil).JSON(t) // its ops grow with every call
		fmt.Fprintf(&b, "admin quota %v %v\n", q["opsPerMonth"], q["maxScriptRuns"])
		return b.String()
	}
	before := state()

	revoked := h.token("*:write")
	if _, err := tokens.New(h.st).Revoke(context.Background(), tokens.KeyOf(revoked)); err != nil {
		t.Fatal(err)
	}
	secrets := make([]string, len(matrixTokens))
	for i, tk := range matrixTokens {
		secrets[i] = h.scopedToken(tk.scopes, tk.grants...)
	}

	type cell struct {
		name   string
		header string // Authorization header value
		status int
		code   string
	}
	unauth := []cell{
		{"no token", "", 401, "unauthenticated"},
		{"bad token", "Bearer fkv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, "unauthenticated"},
		{"not bearer", "Basic " + h.admin, 401, "unauthenticated"},
		{"empty bearer", "Bearer ", 401, "unauthenticated"},
		{"revoked token", "Bearer " + revoked, 401, "unauthenticated"},
	}
	send := func(method string, s sample, header string) resp {
		t.Helper()
		hdr := []string{}
		if header != "" {
			hdr = append(hdr, "Authorization", header)
		}
		path := strings.NewReplacer("RUN", runID, "ADMIN", adminID).Replace(s.path)
		if str, ok := s.body.(string); ok {
			hdr = append(hdr, "Content-Type", "application/yaml")
			return h.do(method, path, "", str, hdr...)
		}
		return h.do(method, path, "", s.body, hdr...)
	}

	seen := map[string]bool{}
	for _, rd := range h.srv.Routes() {
		id := rd.Method + " " + rd.Path
		seen[id] = true
		s, ok := samples[id]
		if !ok {
			if !strings.HasPrefix(rd.Path, "/v1/test/") { // routes tests add
				t.Errorf("%s: no matrix row: add one to samples", id)
			}
			continue
		}
		if s.kind == "self-authenticating" {
			continue // webhooks: TestHook… cover their secret
		}
		if s.kind == "public" {
			want(t, send(rd.Method, s, ""), 200, "")
			continue
		}
		for _, c := range unauth {
			r := send(rd.Method, s, c.header)
			if r.Status != c.status || r.Code() != c.code {
				t.Errorf("%s × %s: %d %s, want %d %s", id, c.name, r.Status, r.Body, c.status, c.code)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s × %s: no WWW-Authenticate header", id, c.name)
			}
		}
		for i, tk := range matrixTokens {
			ok := allowed(s, tk)
			if ok && s.mutates {
				continue
			}
			r := send(rd.Method, s, "Bearer "+secrets[i])
			switch {
			case !ok && (r.Status != 403 || r.Code() != "access_denied"):
				t.Errorf("%s × %s: %d %.300s, want 403 access_denied", id, tk.name, r.Status, r.Body)
			case ok && r.Status != 200:
				t.Errorf("%s × %s: %d %.300s, want 200", id, tk.name, r.Status, r.Body)
			case ok && s.kind == "global" && !allowed(sample{kind: "read", ns: "orders"}, tk) && strings.Contains(string(r.Body), `"orders"`):
				t.Errorf("%s × %s: the answer names orders: %.300s", id, tk.name, r.Body)
			}
		}
	}
	for id := range samples {
		if !seen[id] {
			t.Errorf("matrix row %s has no route", id)
		}
	}
	if after := state(); after != before {
		t.Fatalf("refused requests changed state:\nbefore %s\nafter  %s", before, after)
	}
	// Unknown /v1 paths also need a token first.
	want(t, h.do("GET", "/v1/nope", "", nil), 401, "unauthenticated")
	want(t, h.do("GET", "/v1/nope", h.admin, nil), 404, "not_found")
}

// TestRevokeIsImmediate: a token that worked (and is cached) fails on the
// very next request after a revocation through the server; one revoked by
// another process (its own token Manager, as the CLI) fails once the
// server reads the token generation again (within the cache bound; waited
// for generously here, not timed).
func TestRevokeIsImmediate(t *testing.T) {
	h := newSQLite(t)
	tok := h.token("orders:write")
	want(t, h.do("PUT", "/v1/store/orders/a", tok, map[string]any{"data": 1}), 200, "")
	if _, err := h.srv.Tokens().Revoke(context.Background(), tokens.KeyOf(tok)); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/v1/store/orders/a", tok, nil)
	want(t, r, 401, "unauthenticated")
	if !strings.Contains(string(r.Body), "revoked") {
		t.Fatalf("message does not say revoked: %s", r.Body)
	}
	other := h.token("orders:write")
	want(t, h.do("GET", "/v1/store/orders/a", other, nil), 200, "")
	if _, err := tokens.New(h.st).Revoke(context.Background(), tokens.KeyOf(other)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		r := h.do("GET", "/v1/store/orders/a", other, nil)
		if r.Status == 401 {
			break
		}
		want(t, r, 200, "")
		if time.Now().After(deadline) {
			t.Fatal("a token revoked by another process is still accepted after a minute")
		}
	}
	// Tokens are stored hashed: the secret appears nowhere in the store.
	p, err := h.st.List(context.Background(), tokens.Namespace, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 3 {
		t.Fatalf("%d token records, want 3", len(p.Entries))
	}
	for _, e := range p.Entries {
		if strings.Contains(string(e.Data), strings.TrimPrefix(tok, tokens.Prefix)) || strings.Contains(string(e.Data), strings.TrimPrefix(h.admin, tokens.Prefix)) {
			t.Fatalf("token record holds a secret: %s", e.Data)
		}
	}
}

// The attacks of issue 11 on flows, scripts and runs, each by a token
// granted only orders:read (no scope) unless said otherwise.

// attacker returns a read-only token: orders:read, no scope.
func (h *harness) attacker() string { return h.token("orders:read") }

// TestAttackReadOnlySavesFlowWithNoDataStores: a flow declaring
// dataStores: [] used to pass every grant check; saving needs scope flows.
func TestAttackReadOnlySavesFlowWithNoDataStores(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	ro := h.attacker()
	spin := "id: spin\ndataStores: []\ntrigger: {type: schedule, every: 5s}\nblocks:\n  - id: loop\n    type: javascript\n    code: \"for (;;) {}\"\n"
	r := h.do("PUT", "/v1/flows/spin", ro, spin, "Content-Type", "application/yaml")
	want(t, r, 403, "access_denied")
	if !strings.Contains(string(r.Body), "scope flows") {
		t.Errorf("refusal does not name the scope: %s", r.Body)
	}
	// Nor as JSON, nor through a read-only declaration, nor by deleting or
	// running someone else's.
	want(t, h.do("PUT", "/v1/flows/spin", ro, `{"id":"spin","dataStores":["orders:read"],"blocks":[{"id":"a","type":"dataStore","operation":"findName","name":"orders"}]}`), 403, "access_denied")
	want(t, h.do("PUT", "/v1/flows/ro-flow", h.admin, "id: ro-flow\ndataStores: [orders:read]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 200, "")
	want(t, h.do("POST", "/v1/flows/ro-flow/runs", ro, nil), 403, "access_denied")
	want(t, h.do("DELETE", "/v1/flows/ro-flow", ro, nil), 403, "access_denied")
	r = h.do("GET", "/v1/flows", h.admin, nil)
	if strings.Contains(string(r.Body), `"spin"`) {
		t.Fatalf("the attacker's flow was stored: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/flows/spin", h.admin, nil), 404, "not_found")
	// A token with scope flows and read access to orders may save (and
	// run) a flow declaring orders read-only, never one that writes it: a
	// flow gets no more than its saver has.
	flowsRO := h.flowsToken("orders:read")
	want(t, h.do("PUT", "/v1/flows/ro-flow", flowsRO, "id: ro-flow\ndataStores: [orders]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 403, "access_denied")
	want(t, h.do("PUT", "/v1/flows/ro-flow", flowsRO, "id: ro-flow\ndataStores: [orders:write]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 403, "access_denied")
	want(t, h.do("PUT", "/v1/flows/ro-flow", flowsRO, "id: ro-flow\ndataStores: [orders:read]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 200, "")
	want(t, h.do("POST", "/v1/flows/ro-flow/runs", flowsRO, nil), 200, "")
	// Nor may it take over a flow that writes orders by replacing it.
	want(t, h.do("PUT", "/v1/flows/rw-flow", h.admin, "id: rw-flow\ndataStores: [orders]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 200, "")
	want(t, h.do("PUT", "/v1/flows/rw-flow", flowsRO, "id: rw-flow\ndataStores: [orders:read]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"), 403, "access_denied")
	want(t, h.do("DELETE", "/v1/flows/rw-flow", flowsRO, nil), 403, "access_denied")
	// The server still serves others.
	want(t, h.do("GET", "/v1/flows/ro-flow", ro, nil), 200, "")
}

// TestAttackReadOnlyRunsInlineSource: inline source needs scope flows; a
// stored script by name still runs with the caller's own grants.
func TestAttackReadOnlyRunsInlineSource(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	ro := h.attacker()
	for _, src := range []string{
		"return new Array(2**32 - 1).map(x => x).length;",
		"return 1",
		"return await dataStore.findName('orders')",
	} {
		r := h.do("POST", "/v1/operations/scripts", ro, map[string]any{"source": src})
		want(t, r, 403, "access_denied")
		if !strings.Contains(string(r.Body), "scope flows") {
			t.Errorf("refusal does not name the scope: %s", r.Body)
		}
	}
	// Nor store one to run by name, nor read or delete the stored ones.
	want(t, h.do("PUT", "/v1/scripts/evil", ro, map[string]any{"source": "for (;;) {}"}), 403, "access_denied")
	want(t, h.do("PUT", "/v1/scripts/count", h.admin, map[string]any{"source": "return (await dataStore.findName('orders')).length"}), 200, "")
	want(t, h.do("GET", "/v1/scripts/count", ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/scripts", ro, nil), 403, "access_denied")
	want(t, h.do("DELETE", "/v1/scripts/count", ro, nil), 403, "access_denied")
	// Running the stored one by name works, with the caller's grants.
	want(t, h.do("PUT", "/v1/store/orders/o-1", h.admin, map[string]any{"data": 1}), 200, "")
	r := h.do("POST", "/v1/operations/scripts", ro, map[string]any{"script": "count"})
	want(t, r, 200, "")
	if string(r.Body) != "1" {
		t.Fatalf("stored script: %s", r.Body)
	}
	want(t, h.do("POST", "/v1/operations/scripts", h.token("elsewhere:read"), map[string]any{"script": "count"}), 403, "access_denied")
	want(t, h.do("GET", "/healthz", "", nil), 200, "")
}

const secretHookFlow = `
id: orders-hook   # stores what the shop posts
dataStores: [orders]
trigger:
  type: webhook
  secret: hush-8d1f1c2a
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: "{{ input }}"
`

// TestAttackReadOnlyReadsWebhookSecret: the read-only token (which may see
// the flow: it reads orders) finds no trace of the secret in GET /v1/flows
// or GET /v1/flows/{id} — nor does the admin — so it cannot turn read
// access into writes through the hook.
func TestAttackReadOnlyReadsWebhookSecret(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	const secret = "hush-8d1f1c2a"
	want(t, h.do("PUT", "/v1/flows/orders-hook", h.admin, secretHookFlow, "Content-Type", "application/yaml"), 200, "")
	ro := h.attacker()
	for _, tok := range []string{ro, h.admin} {
		for _, p := range []string{"/v1/flows", "/v1/flows/orders-hook", "/v1/openapi.json"} {
			r := h.do("GET", p, tok, nil)
			want(t, r, 200, "")
			if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"secret"`) {
				t.Fatalf("GET %s shows the webhook secret: %s", p, r.Body)
			}
		}
	}
	r := h.do("GET", "/v1/flows/orders-hook", ro, nil)
	m := r.JSON(t)
	trig := m["flow"].(map[string]any)["trigger"].(map[string]any)
	if trig["secretSet"] != true || trig["type"] != "webhook" {
		t.Fatalf("trigger %v: want secretSet true", trig)
	}
	if src := m["source"].(string); !strings.Contains(src, "# stores what the shop posts") || !strings.Contains(src, "type: webhook") {
		t.Errorf("source lost more than the secret:\n%s", src)
	}
	// Not in the stored record either (the hash only).
	e, err := h.st.FindNameKey(context.Background(), "_flowkv.flows", "orders-hook")
	if err != nil || strings.Contains(string(e.Data), secret) {
		t.Fatalf("stored flow record holds the secret (%v): %s", err, e.Data)
	}
	// Without it the hook refuses to write.
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-1"}`), 401, "unauthenticated")
	want(t, h.do("POST", "/hooks/orders-hook?secret=", "", `{"id":"o-1"}`), 401, "unauthenticated")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-1"}`, "X-Flowkv-Secret", "secretSet"), 401, "unauthenticated")
	want(t, h.do("GET", "/v1/store/orders/o-1", h.admin, nil), 404, "not_found")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-1"}`, "X-Flowkv-Secret", secret), 200, "")

	// Putting back what GET gave (no secret, secretSet ignored) keeps the
	// secret; secret: "" clears it; a new one rotates it.
	doc, _ := json.Marshal(m["flow"])
	want(t, h.do("PUT", "/v1/flows/orders-hook", h.admin, string(doc)), 200, "")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-2"}`), 401, "unauthenticated")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-2"}`, "X-Flowkv-Secret", secret), 200, "")
	rotated := strings.Replace(secretHookFlow, secret, "rotated-77", 1)
	want(t, h.do("PUT", "/v1/flows/orders-hook", h.admin, rotated), 200, "")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-3"}`, "X-Flowkv-Secret", secret), 401, "unauthenticated")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-3"}`, "X-Flowkv-Secret", "rotated-77"), 200, "")
	cleared := strings.Replace(secretHookFlow, secret, `""`, 1)
	want(t, h.do("PUT", "/v1/flows/orders-hook", h.admin, cleared), 200, "")
	want(t, h.do("POST", "/hooks/orders-hook", "", `{"id":"o-4"}`), 200, "")
	r = h.do("GET", "/v1/flows/orders-hook", ro, nil)
	if strings.Contains(string(r.Body), "secretSet") {
		t.Fatalf("cleared secret still set: %s", r.Body)
	}
}

// TestAttackRecreateDeletedFlowReadsOldRuns: after the admin's flow
// `report` (dataStores [secrets]) is deleted, re-creating `report` does not
// inherit its runs. The read-only token cannot re-create it at all; a token
// with scope flows can, and finds no history.
func TestAttackRecreateDeletedFlowReadsOldRuns(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	want(t, h.do("PUT", "/v1/store/secrets/api-key", h.admin, map[string]any{"data": "sk-live-123"}), 200, "")
	report := "id: report\ndataStores: [secrets]\nblocks:\n  - {id: read, type: dataStore, operation: findNameKey, name: secrets, key: api-key}\n"
	want(t, h.do("PUT", "/v1/flows/report", h.admin, report), 200, "")
	r := h.do("POST", "/v1/flows/report/runs", h.admin, nil)
	want(t, r, 200, "")
	oldRun := r.JSON(t)["id"].(string)
	if !strings.Contains(string(r.Body), "sk-live-123") {
		t.Fatalf("the admin's run does not hold the secret it read: %s", r.Body)
	}
	want(t, h.do("DELETE", "/v1/flows/report", h.admin, nil), 200, "")

	fake := "id: report\ndataStores: []\nblocks:\n  - {id: x, type: javascript, code: 'return 1'}\n"
	ro := h.attacker()
	want(t, h.do("PUT", "/v1/flows/report", ro, fake), 403, "access_denied")

	builder := h.flowsToken("orders:write")
	want(t, h.do("PUT", "/v1/flows/report", builder, fake), 200, "")
	for _, tok := range []string{builder, ro, h.admin} {
		r = h.do("GET", "/v1/flows/report/runs", tok, nil)
		want(t, r, 200, "")
		if runs := r.JSON(t)["runs"].([]any); len(runs) != 0 || strings.Contains(string(r.Body), "sk-live") {
			t.Fatalf("re-created flow lists old runs: %s", r.Body)
		}
		want(t, h.do("GET", "/v1/flows/report/runs/"+oldRun, tok, nil), 404, "not_found")
	}
	// The old records are gone from the store, not just hidden.
	p, err := h.st.List(context.Background(), "_flowkv.flowruns", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Entries {
		if strings.Contains(string(e.Data), "sk-live-123") {
			t.Fatalf("a run record of the deleted flow remains: %s", e.Key)
		}
	}
}

// TestAttackReadRunsOfFlowWithUnreadableNamespace: a flow declaring a
// namespace the token cannot read hides the flow and its runs behind 403,
// and a run recorded while the flow declared such a namespace stays hidden
// after the flow stops declaring it.
func TestAttackReadRunsOfFlowWithUnreadableNamespace(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	want(t, h.do("PUT", "/v1/store/secrets/api-key", h.admin, map[string]any{"data": "sk-live-456"}), 200, "")
	both := "id: mixed\ndataStores: [orders, secrets:read]\nblocks:\n  - {id: read, type: dataStore, operation: findNameKey, name: secrets, key: api-key}\n"
	want(t, h.do("PUT", "/v1/flows/mixed", h.admin, both), 200, "")
	r := h.do("POST", "/v1/flows/mixed/runs", h.admin, nil)
	want(t, r, 200, "")
	run := r.JSON(t)["id"].(string)
	ro := h.attacker()
	for _, p := range []string{"/v1/flows/mixed", "/v1/flows/mixed/runs", "/v1/flows/mixed/runs/" + run} {
		r := h.do("GET", p, ro, nil)
		want(t, r, 403, "access_denied")
		if strings.Contains(string(r.Body), "sk-live") || !strings.Contains(string(r.Body), `\"secrets\"`) {
			t.Fatalf("GET %s: %s", p, r.Body)
		}
	}
	if strings.Contains(string(h.do("GET", "/v1/flows", ro, nil).Body), "mixed") {
		t.Fatal("GET /v1/flows lists a flow the token cannot read")
	}
	// The flow drops secrets: the old run still needs read on it.
	want(t, h.do("PUT", "/v1/flows/mixed", h.admin, "id: mixed\ndataStores: [orders]\nblocks:\n  - {id: read, type: dataStore, operation: findName, name: orders}\n"), 200, "")
	r = h.do("POST", "/v1/flows/mixed/runs", h.admin, nil)
	want(t, r, 200, "")
	newRun := r.JSON(t)["id"].(string)
	r = h.do("GET", "/v1/flows/mixed/runs", ro, nil)
	want(t, r, 200, "")
	var page struct{ Runs []struct{ ID string } }
	_ = json.Unmarshal(r.Body, &page)
	if len(page.Runs) != 1 || page.Runs[0].ID != newRun || strings.Contains(string(r.Body), "sk-live") {
		t.Fatalf("runs list shows a run it cannot read: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/flows/mixed/runs/"+run, ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/flows/mixed/runs/"+newRun, ro, nil), 200, "")
	want(t, h.do("GET", "/v1/flows/mixed/runs/"+run, h.admin, nil), 200, "")
}

// TestHookAnswers404Alike: a missing flow and a flow without a webhook
// trigger answer the same status and body, so the hook tells nothing.
func TestHookAnswers404Alike(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	missing := h.do("POST", "/hooks/ghost", "", `{}`)
	want(t, h.do("PUT", "/v1/flows/ghost", h.admin, "id: ghost\ndataStores: []\nblocks:\n  - {id: x, type: javascript, code: 'return 1'}\n"), 200, "")
	manual := h.do("POST", "/hooks/ghost", "", `{}`)
	want(t, h.do("PUT", "/v1/flows/ghost", h.admin, "id: ghost\ndataStores: []\ntrigger: {type: schedule, every: 1h}\nblocks:\n  - {id: x, type: javascript, code: 'return 1'}\n"), 200, "")
	scheduled := h.do("POST", "/hooks/ghost", "", `{}`, "X-Flowkv-Secret", "guess")
	for _, r := range []resp{missing, manual, scheduled} {
		want(t, r, 404, "not_found")
		if string(r.Body) != string(missing.Body) || r.Header.Get("Content-Type") != missing.Header.Get("Content-Type") {
			t.Fatalf("hook answers differ:\n%s\n%s", missing.Body, r.Body)
		}
	}
}

// TestDeleteFlowCancelsItsRun: a run spinning in a JavaScript block ends as
// soon as its flow is deleted, long before its timeout, and is not
// recorded; the server keeps serving.
func TestDeleteFlowCancelsItsRun(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	spin := "id: spin\ndataStores: []\ntimeout: 50s\nblocks:\n  - {id: loop, type: javascript, timeout: 45, code: 'for (;;) {}'}\n"
	want(t, h.do("PUT", "/v1/flows/spin", h.admin, spin), 200, "")
	done := make(chan resp, 1)
	go func() { done <- h.do("POST", "/v1/flows/spin/runs", h.admin, nil) }()
	time.Sleep(300 * time.Millisecond) // let the run start
	start := time.Now()
	want(t, h.do("DELETE", "/v1/flows/spin", h.admin, nil), 200, "")
	var r resp
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run of the deleted flow is still going")
	}
	t.Logf("run ended %v after the delete", time.Since(start).Round(time.Millisecond))
	want(t, r, 200, "")
	m := r.JSON(t)
	if m["status"] != "failed" || !strings.Contains(string(r.Body), "deleted") {
		t.Fatalf("run of the deleted flow: %s", r.Body)
	}
	want(t, h.do("GET", "/healthz", "", nil), 200, "")
	p, _ := h.st.List(context.Background(), "_flowkv.flowruns", "", "", 10)
	if len(p.Entries) != 0 {
		t.Fatalf("the cancelled run was recorded: %d records", len(p.Entries))
	}
}
