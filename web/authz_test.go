package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/tokens"
)

// sample is one concrete request of a route for the authorization matrix.
type sample struct {
	path string
	body any
	// kind: "read" or "write" touch namespace ns; "global" touches none
	// (the answer is filtered by grants instead).
	kind string
	ns   string
}

// samples has a row for every route this package serves. Routes added by
// other files (scripts, flows) get the generic 401 cells only.
var samples = map[string]sample{
	"GET /v1/store":               {path: "/v1/store?name=orders", kind: "read", ns: "orders"},
	"GET /v1/store/:name":         {path: "/v1/store/orders?prefix=o", kind: "read", ns: "orders"},
	"GET /v1/store/:name/:key":    {path: "/v1/store/orders/o-1", kind: "read", ns: "orders"},
	"POST /v1/store/:name/:key":   {path: "/v1/store/orders/o-new", body: map[string]any{"data": 1}, kind: "write", ns: "orders"},
	"PUT /v1/store/:name/:key":    {path: "/v1/store/orders/o-1", body: map[string]any{"data": 2}, kind: "write", ns: "orders"},
	"PATCH /v1/store/:name/:key":  {path: "/v1/store/orders/o-1", body: map[string]any{"data": 3}, kind: "write", ns: "orders"},
	"DELETE /v1/store/:name/:key": {path: "/v1/store/orders/o-1", kind: "write", ns: "orders"},
	"POST /v1/atomic":             {path: "/v1/atomic", body: map[string]any{"mutations": []any{map[string]any{"op": "set", "name": "orders", "key": "o-1", "data": 4}}}, kind: "write", ns: "orders"},
	"GET /v1/names":               {path: "/v1/names", kind: "global"},
	"GET /v1/openapi.json":        {path: "/v1/openapi.json", kind: "global"},
	"POST /v1/operations/data":    {path: "/v1/operations/data", body: map[string]any{"key": "k", "value": 5}, kind: "write", ns: "default"},
	"GET /v1/operations/data":     {path: "/v1/operations/data?key=k", kind: "read", ns: "default"},
	"DELETE /v1/operations/data":  {path: "/v1/operations/data?key=k", kind: "write", ns: "default"},
	"GET /healthz":                {path: "/healthz", kind: "public"},
	"GET /readyz":                 {path: "/readyz", kind: "public"},
	"GET /metrics":                {path: "/metrics", kind: "public"},
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

// TestAuthorizationMatrix: every /v1 route × {no token, bad token, revoked
// token, token for another namespace, read-only token writing} → 401/403,
// and nothing refused changes data.
func TestAuthorizationMatrix(t *testing.T) {
	h := newSQLite(t)
	want(t, h.do("PUT", "/v1/store/orders/o-1", h.admin, map[string]any{"data": 1}), 200, "")
	want(t, h.do("POST", "/v1/operations/data", h.admin, map[string]any{"key": "k", "value": 1}), 200, "")
	if routeServed(h, "PUT /v1/scripts/:name") {
		want(t, h.do("PUT", "/v1/scripts/mx-script", h.admin, map[string]any{"source": "return 1"}), 200, "")
	}
	runID := "none"
	if routeServed(h, "PUT /v1/flows/:id") {
		want(t, h.do("PUT", "/v1/flows/mx-flow", h.admin, mxFlow, "Content-Type", "application/yaml"), 200, "")
		r := h.do("POST", "/v1/flows/mx-flow/runs", h.admin, map[string]any{"input": map[string]any{"a": 1}})
		want(t, r, 200, "")
		runID, _ = r.JSON(t)["id"].(string)
	}
	before := h.do("GET", "/v1/store?limit=1000", h.admin, nil).Body

	revoked := h.token("*:write")
	if _, err := tokens.New(h.st).Revoke(context.Background(), tokens.KeyOf(revoked)); err != nil {
		t.Fatal(err)
	}
	other := h.token("elsewhere:write")
	readOnly := h.token("orders:read", "default:read")

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
		if str, ok := s.body.(string); ok {
			hdr = append(hdr, "Content-Type", "application/yaml")
			return h.do(method, strings.ReplaceAll(s.path, "RUN", runID), "", str, hdr...)
		}
		return h.do(method, strings.ReplaceAll(s.path, "RUN", runID), "", s.body, hdr...)
	}

	seen := map[string]bool{}
	for _, rd := range h.srv.Routes() {
		id := rd.Method + " " + rd.Path
		seen[id] = true
		s, ok := samples[id]
		if !ok {
			if !strings.HasPrefix(rd.Path, "/v1/") {
				continue // public routes of other files authenticate themselves
			}
			// A route another file added: the 401 cells still apply.
			s = sample{path: strings.NewReplacer(":", "x").Replace(rd.Path), body: map[string]any{}}
			t.Logf("%s: no matrix row, checking the 401 cells only", id)
		}
		if s.kind == "self-authenticating" {
			continue // e.g. webhooks: their own tests cover their secret
		}
		if s.kind == "public" {
			r := send(rd.Method, s, "")
			want(t, r, 200, "")
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
		if !ok {
			continue
		}
		// Another namespace's token.
		r := send(rd.Method, s, "Bearer "+other)
		switch s.kind {
		case "global":
			want(t, r, 200, "")
			if strings.Contains(string(r.Body), `"orders"`) {
				t.Errorf("%s × other namespace: answer names orders: %s", id, r.Body)
			}
		default:
			if r.Status != 403 || r.Code() != "access_denied" {
				t.Errorf("%s × other namespace: %d %s, want 403 access_denied", id, r.Status, r.Body)
			}
		}
		// The read-only token: writes refused, reads allowed.
		r = send(rd.Method, s, "Bearer "+readOnly)
		switch s.kind {
		case "write", "admin-read":
			if r.Status != 403 || r.Code() != "access_denied" {
				t.Errorf("%s × read-only token: %d %s, want 403 access_denied", id, r.Status, r.Body)
			}
		default:
			if r.Status != 200 {
				t.Errorf("%s × read-only token reading: %d %s, want 200", id, r.Status, r.Body)
			}
		}
	}
	for id := range samples {
		if !seen[id] && !strings.Contains(id, "scripts") && !strings.Contains(id, "flows") && !strings.Contains(id, "blocks") && !strings.Contains(id, "hooks") {
			t.Errorf("matrix row %s has no route", id)
		}
	}
	if after := h.do("GET", "/v1/store?limit=1000", h.admin, nil).Body; string(after) != string(before) {
		t.Fatalf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}
	// Unknown /v1 paths also need a token first.
	want(t, h.do("GET", "/v1/nope", "", nil), 401, "unauthenticated")
	want(t, h.do("GET", "/v1/nope", h.admin, nil), 404, "not_found")
}

// TestRevokeIsImmediate: a token that worked fails on the very next
// request after revocation.
func TestRevokeIsImmediate(t *testing.T) {
	h := newSQLite(t)
	tok := h.token("orders:write")
	want(t, h.do("PUT", "/v1/store/orders/a", tok, map[string]any{"data": 1}), 200, "")
	if _, err := tokens.New(h.st).Revoke(context.Background(), tokens.KeyOf(tok)); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/v1/store/orders/a", tok, nil)
	want(t, r, 401, "unauthenticated")
	if !strings.Contains(string(r.Body), "revoked") {
		t.Fatalf("message does not say revoked: %s", r.Body)
	}
	// Tokens are stored hashed: the secret appears nowhere in the store.
	p, err := h.st.List(context.Background(), tokens.Namespace, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 {
		t.Fatalf("%d token records, want 2", len(p.Entries))
	}
	for _, e := range p.Entries {
		if strings.Contains(string(e.Data), strings.TrimPrefix(tok, tokens.Prefix)) || strings.Contains(string(e.Data), strings.TrimPrefix(h.admin, tokens.Prefix)) {
			t.Fatalf("token record holds a secret: %s", e.Data)
		}
	}
}

func routeServed(h *harness, id string) bool {
	for _, rd := range h.srv.Routes() {
		if rd.Method+" "+rd.Path == id {
			return true
		}
	}
	return false
}
