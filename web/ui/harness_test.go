package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/datastore"  // registers the Data Store block
	_ "github.com/flowkv/flowkv/blocks/javascript" // registers the JavaScript block
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// harness is a real UI server on a random loopback port over a fresh
// SQLite database, with an admin token.
type harness struct {
	t      testing.TB
	URL    string
	Store  store.Store
	Tokens *tokens.Manager
	Engine *blocks.Engine
	UI     *UI
	Admin  string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessWith(t, st)
}

// newHarnessWith serves the UI over st (any backend).
func newHarnessWith(t testing.TB, st store.Store) *harness {
	t.Helper()
	return newHarnessConfig(t, st, nil)
}

// newHarnessConfig serves the UI over st with its Config changed by mod.
func newHarnessConfig(t testing.TB, st store.Store, mod func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	tm := tokens.New(st)
	admin, _, err := tm.Create(ctx, "admin", store.AllGrants(), tokens.ScopeAdmin)
	if err != nil {
		t.Fatalf("create admin token: %v", err)
	}
	eng := blocks.NewEngine(st, blocks.Options{})
	cfg := Config{Store: st, Verify: TokenVerifier(tm), Flows: eng}
	if mod != nil {
		mod(&cfg)
	}
	u := New(cfg)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	u.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &harness{t: t, URL: srv.URL, Store: st, Tokens: tm, Engine: eng, UI: u, Admin: admin}
}

// token creates a token with the given grants ("orders:read", …) and no
// scope.
func (h *harness) token(grants ...string) string {
	h.t.Helper()
	return h.scopedToken(nil, grants...)
}

// scopedToken creates a token with scopes and grants.
func (h *harness) scopedToken(scopes []string, grants ...string) string {
	h.t.Helper()
	g, err := store.ParseGrants(grants)
	if err != nil {
		h.t.Fatal(err)
	}
	tok, _, err := h.Tokens.Create(context.Background(), "t", g, scopes...)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed automatically.
type client struct {
	h    *harness
	http *http.Client
	csrf string
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (c *client) do(method, path string, form url.Values) (int, string, http.Header) {
	c.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.h.URL+path, body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

func (c *client) get(path string) (int, string) {
	st, body, _ := c.do(http.MethodGet, path, nil)
	return st, body
}

// post sends form with the client's current CSRF token added.
func (c *client) post(path string, form url.Values) (int, string, http.Header) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form[csrfField]; !ok {
		form.Set(csrfField, c.csrf)
	}
	return c.do(http.MethodPost, path, form)
}

// signIn signs in with token and fails the test unless it works.
func (c *client) signIn(token string) {
	c.h.t.Helper()
	if st, _ := c.get("/login"); st != http.StatusOK {
		c.h.t.Fatalf("GET /login: %d", st)
	}
	st, body, hdr := c.post("/login", url.Values{"token": {token}})
	if st != http.StatusSeeOther || hdr.Get("Location") != "/namespaces" {
		c.h.t.Fatalf("sign in: %d %s\n%s", st, hdr.Get("Location"), body)
	}
	if st, _ := c.get("/namespaces"); st != http.StatusOK {
		c.h.t.Fatalf("GET /namespaces after sign-in: %d", st)
	}
}

func tokensIDOf(secret string) string { return tokens.KeyOf(secret) }

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
