package ui

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// snapshot is every entry of the granted namespaces with its version.
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	pg, err := st.Fetch(context.Background(), store.FetchQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pg.Entries)
	return string(b)
}

// TestGetNeverChangesState requests every GET route, with parameters that
// would change something if a GET could, and finds the store unchanged.
func TestGetNeverChangesState(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	e, err := h.Store.Insert(ctx, "orders", "a", json.RawMessage(`{"v":1}`), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := h.client()
	c.signIn(h.Admin)
	before := snapshot(t, h.Store)
	v := url.Values{"name": {"orders"}, "key": {"a"}, "version": {i64s(e.Version)}, "data": {`{"v":2}`},
		"confirm": {"yes"}, "timeoutUnit": {"seconds"}, "timeoutValue": {"1"}, "_csrf": {c.csrf}, "id": {"x"}}.Encode()
	for _, r := range h.UI.routes() {
		if r.method != http.MethodGet {
			continue
		}
		st, _, _ := c.do(http.MethodGet, r.path+"?"+v, nil)
		if st >= 500 {
			t.Errorf("GET %s: %d", r.path, st)
		}
		// The POST-only paths answer GET with 405, never act.
		for _, p := range h.UI.StateChangingRoutes() {
			c.do(http.MethodGet, p+"?"+v, nil)
		}
	}
	if after := snapshot(t, h.Store); after != before {
		t.Fatalf("a GET changed the store:\n%s\n%s", before, after)
	}
	if st, _ := c.get("/namespaces"); st != http.StatusOK {
		t.Fatalf("a GET signed out: %d", st)
	}
}

// Over TLS the session cookie is also Secure.
func TestSecureCookieOverTLS(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewTLSServer(h.UI.Handler())
	defer srv.Close()
	cl := srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var login *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == loginCookie {
			login = ck
		}
	}
	if login == nil || !login.Secure {
		t.Fatalf("login cookie over TLS: %+v", login)
	}
	form := url.Values{"token": {h.Admin}, csrfField: {login.Value}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(login)
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie over TLS: %+v (status %d)", sess, resp.StatusCode)
	}
	_ = tls.VersionTLS12
}

// A token limited to some namespaces sees only flows within them, and
// cannot save a flow that reaches beyond its grants.
func TestFlowsRespectGrants(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, doc := range []string{
		`{"id":"mine","dataStores":["orders"],"blocks":[{"id":"a","type":"dataStore","operation":"findName","name":"orders"}]}`,
		`{"id":"theirs","dataStores":["secret"],"blocks":[{"id":"a","type":"dataStore","operation":"findName","name":"secret"}]}`,
	} {
		if _, err := h.Engine.PutFlow(ctx, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client()
	c.signIn(h.scopedToken([]string{tokens.ScopeFlows}, "orders:write"))
	_, body := c.get("/flows")
	if !strings.Contains(body, "mine") || strings.Contains(body, "theirs") {
		t.Fatalf("flows list:\n%s", body)
	}
	if st, _ := c.get("/flow?id=theirs"); st != http.StatusForbidden {
		t.Fatalf("other flow: %d", st)
	}
	st, body, _ := c.post("/flow/save", url.Values{"id": {"sneaky"}, "dataStores": {"secret"}, "trigger": {"manual"},
		"card": {"c1"}, "b.c1.type": {"dataStore"}, "b.c1.id": {"x"}, "b.c1.operation": {"findName"}, "b.c1.name": {"secret"}})
	if st != http.StatusForbidden || !strings.Contains(body, "cannot save") {
		t.Fatalf("save beyond grants: %d", st)
	}
	if _, err := h.Engine.GetFlow(ctx, "sneaky"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("flow saved beyond grants: %v", err)
	}
	if st, _, _ := c.post("/flow/run", url.Values{"id": {"theirs"}, "input": {"{}"}}); st != http.StatusForbidden {
		t.Fatalf("run beyond grants: %d", st)
	}
}

// A token without scope flows sees flows it can read but cannot open the
// editor for a new flow, save or run one; a webhook secret is never in a
// page, the editor says only whether one is set, and saving without
// typing one keeps it.
func TestFlowScopeAndSecretInEditor(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const secret = "editor-secret-4711"
	doc := `{"id":"hook","dataStores":["orders"],"trigger":{"type":"webhook","secret":"` + secret + `"},"blocks":[{"id":"a","type":"dataStore","operation":"findName","name":"orders"}]}`
	if _, err := h.Engine.PutFlow(ctx, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	ro := h.client()
	ro.signIn(h.token("orders:write"))
	st, body := ro.get("/flow?id=hook")
	if st != http.StatusOK || strings.Contains(body, secret) || !strings.Contains(body, "(set; never shown") {
		t.Fatalf("flow page for a token without flows: %d\n%s", st, body)
	}
	if st, _ := ro.get("/flows/new"); st != http.StatusForbidden {
		t.Fatalf("new flow page without scope flows: %d", st)
	}
	form := url.Values{"original": {"hook"}, "id": {"hook"}, "dataStores": {"orders"}, "trigger": {"webhook"},
		"card": {"c1"}, "b.c1.type": {"dataStore"}, "b.c1.id": {"a"}, "b.c1.operation": {"findName"}, "b.c1.name": {"orders"}}
	if st, _, _ := ro.post("/flow/save", form); st != http.StatusForbidden {
		t.Fatalf("save without scope flows: %d", st)
	}
	if st, _, _ := ro.post("/flow/run", url.Values{"id": {"hook"}, "input": {"{}"}}); st != http.StatusForbidden {
		t.Fatalf("run without scope flows: %d", st)
	}

	// With scope flows: saving without a secret keeps it, a typed one
	// replaces it, clearSecret removes it.
	fl := h.client()
	fl.signIn(h.scopedToken([]string{tokens.ScopeFlows}, "orders:write"))
	form.Del("_csrf") // ro's: fl.post adds its own
	if st, body, _ := fl.post("/flow/save", form); st != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", st, body)
	}
	hookSecret := func() (bool, string) {
		sf, err := h.Engine.GetFlow(ctx, "hook")
		if err != nil {
			t.Fatal(err)
		}
		return sf.Flow.Trigger.HasSecret(), sf.Source
	}
	if set, src := hookSecret(); !set || strings.Contains(src, secret) {
		t.Fatalf("after a save without secret: set=%v source %s", set, src)
	}
	if _, err := h.Engine.RunHook(ctx, "hook", nil, secret); err != nil {
		t.Fatalf("kept secret no longer works: %v", err)
	}
	form.Set("secret", "rotated-secret-1")
	form.Del("_csrf")
	if st, _, _ := fl.post("/flow/save", form); st != http.StatusSeeOther {
		t.Fatalf("save with new secret: %d", st)
	}
	if _, err := h.Engine.RunHook(ctx, "hook", nil, secret); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("old secret after rotation: %v", err)
	}
	if _, err := h.Engine.RunHook(ctx, "hook", nil, "rotated-secret-1"); err != nil {
		t.Fatalf("rotated secret: %v", err)
	}
	_, body = fl.get("/flow?id=hook")
	if strings.Contains(body, "rotated-secret-1") || !strings.Contains(body, `id="flow-clear-secret"`) {
		t.Fatalf("editor after rotation:\n%s", body)
	}
	form.Del("secret")
	form.Set("clearSecret", "true")
	form.Del("_csrf")
	if st, _, _ := fl.post("/flow/save", form); st != http.StatusSeeOther {
		t.Fatalf("save clearing the secret: %d", st)
	}
	if set, _ := hookSecret(); set {
		t.Fatal("secret still set after clearSecret")
	}
	if _, err := h.Engine.RunHook(ctx, "hook", nil, ""); err != nil {
		t.Fatalf("hook without secret: %v", err)
	}
}
