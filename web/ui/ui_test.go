package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestSignInAndOut(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	st, _, hdr := c.do(http.MethodGet, "/", nil)
	if st != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") && hdr.Get("Location") != "/namespaces" {
		t.Fatalf("signed-out /: %d %s", st, hdr.Get("Location"))
	}
	st, _, hdr = c.do(http.MethodGet, "/namespaces", nil)
	if st != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Fatalf("signed-out /namespaces: %d %s", st, hdr.Get("Location"))
	}
	// A bad token is refused.
	c.get("/login")
	if st, body, _ := c.post("/login", url.Values{"token": {"nope"}}); st != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
		t.Fatalf("bad token: %d", st)
	}
	c.signIn(h.Admin)
	// The session cookie is HttpOnly and SameSite=Strict.
	_, _, hdr2 := c.h.client().do(http.MethodGet, "/login", nil)
	if sc := hdr2.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("login cookie attributes: %s", sc)
	}
	st, _, _ = c.post("/logout", nil)
	if st != http.StatusSeeOther {
		t.Fatalf("logout: %d", st)
	}
	if st, _, hdr = c.do(http.MethodGet, "/namespaces", nil); st != http.StatusSeeOther {
		t.Fatalf("after logout: %d %v", st, hdr)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.get("/login")
	_, _, hdr := c.post("/login", url.Values{"token": {h.Admin}})
	var found bool
	for _, sc := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			found = true
			if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
				t.Errorf("session cookie: %s", sc)
			}
			if strings.Contains(sc, "Secure") {
				t.Errorf("Secure on plain HTTP: %s", sc)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	h := newHarness(t)
	tok := h.token("orders:write")
	c := h.client()
	c.signIn(tok)
	if _, err := h.Tokens.Revoke(context.Background(), tokensID(tok)); err != nil {
		t.Fatal(err)
	}
	if st, _, hdr := c.do(http.MethodGet, "/namespaces", nil); st != http.StatusSeeOther || hdr.Get("Location") != "/login" {
		t.Fatalf("revoked: %d %s", st, hdr.Get("Location"))
	}
}

func TestFailedSignInsAreRateLimited(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.get("/login")
	var last int
	for i := 0; i < 6; i++ {
		last, _, _ = c.post("/login", url.Values{"token": {"wrong"}})
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("6th failed sign-in: %d, want 429", last)
	}
	// Even the right token waits.
	if st, _, _ := c.post("/login", url.Values{"token": {h.Admin}}); st != http.StatusTooManyRequests {
		t.Fatalf("sign-in while limited: %d", st)
	}
}

func TestGrantsLimitWhatIsShown(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, ns := range []string{"orders", "secret"} {
		if _, err := h.Store.Insert(ctx, ns, "k1", json.RawMessage(`{"v":1}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client()
	c.signIn(h.token("orders:read"))
	_, body := c.get("/namespaces")
	if !strings.Contains(body, "orders") || strings.Contains(body, "secret") {
		t.Fatalf("namespaces page shows the wrong namespaces:\n%s", body)
	}
	if st, _ := c.get("/entries?name=secret"); st != http.StatusForbidden {
		t.Fatalf("entries of an ungranted namespace: %d", st)
	}
	if st, _ := c.get("/entry?name=secret&key=k1"); st != http.StatusForbidden {
		t.Fatalf("entry of an ungranted namespace: %d", st)
	}
	// Read-only: no edit form, and a forged save is refused.
	_, body = c.get("/entry?name=orders&key=k1")
	if strings.Contains(body, `id="edit-form"`) {
		t.Error("read-only token sees the edit form")
	}
	st, _, _ := c.post("/entry/save", url.Values{"name": {"orders"}, "key": {"k1"}, "version": {"1"}, "data": {`{"v":2}`}})
	if st != http.StatusForbidden {
		t.Fatalf("read-only save: %d", st)
	}
	e, _ := h.Store.FindNameKey(ctx, "orders", "k1")
	if string(e.Data) != `{"v":1}` {
		t.Fatalf("read-only save changed the entry: %s", e.Data)
	}
}

func tokensID(secret string) string { return tokensIDOf(secret) }

// An htmx request without a session redirects the window, not the fragment.
func TestHTMXRequestWithoutSession(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/entries?name=orders&prefix=a", nil)
	req.Header.Set("HX-Request", "true")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/login") {
		t.Fatalf("htmx without session: %d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
}
