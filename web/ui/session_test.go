package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/tokens"
)

// Two UIs over one store are one UI to a browser: a session made on A
// works on B, signing out on B ends it on A too, and a new UI over the
// store (a restarted server) still knows a live session.
func TestSessionsSharedThroughTheStore(t *testing.T) {
	a := newHarness(t)
	b := newHarnessWith(t, a.Store)
	c := a.client()
	c.signIn(a.Admin)
	c.h = b
	if st, body := c.get("/namespaces"); st != http.StatusOK {
		t.Fatalf("session from A on B: %d\n%s", st, body)
	}
	restarted := newHarnessWith(t, a.Store)
	c.h = restarted
	if st, _ := c.get("/namespaces"); st != http.StatusOK {
		t.Fatalf("session after a restart: %d", st)
	}
	c.h = b
	cookie := sessionCookieOf(t, c)
	if st, _, hdr := c.post("/logout", nil); st != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Fatalf("sign-out on B: %d %s", st, hdr.Get("Location"))
	}
	// The old cookie, replayed (as a stolen copy would be), works nowhere.
	for _, h := range []*harness{a, b, restarted} {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/namespaces", nil)
		req.AddCookie(cookie)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Fatalf("signed-out session on %s: %d %s", h.URL, res.StatusCode, res.Header.Get("Location"))
		}
	}
	n, err := a.Store.List(context.Background(), SessionsNamespace, "", "", 10)
	if err != nil || len(n.Entries) != 0 {
		t.Fatalf("session records left after sign-out: %v %v", n.Entries, err)
	}
}

func sessionCookieOf(t *testing.T, c *client) *http.Cookie {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.h.URL, nil)
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	t.Fatal("no session cookie in the jar")
	return nil
}

// Attack: someone who can read the database (a backup, a replica) finds
// neither a usable cookie value nor the token's secret in a session
// record, and a cookie made of a record's key signs nobody in.
func TestSessionRecordHoldsNoSecret(t *testing.T) {
	h := newHarness(t)
	tok := h.token("orders:write")
	c := h.client()
	c.signIn(tok)
	var value string
	req, _ := http.NewRequest(http.MethodGet, h.URL, nil)
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		if ck.Name == sessionCookie {
			value = ck.Value
		}
	}
	p, err := h.Store.List(context.Background(), SessionsNamespace, "", "", 10)
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("session records: %v %v", p.Entries, err)
	}
	e := p.Entries[0]
	if value == "" || strings.Contains(e.Key+string(e.Data), value) || strings.Contains(string(e.Data), strings.TrimPrefix(tok, tokens.Prefix)) {
		t.Fatalf("the session record %s %s holds the cookie or the token", e.Key, e.Data)
	}
	if e.ExpiresAt == nil || time.Until(*e.ExpiresAt) > 12*time.Hour {
		t.Fatalf("session record expiry %v, want the idle TTL", e.ExpiresAt)
	}
	for _, forged := range []string{e.Key, strings.Repeat("A", 43), strings.Repeat("x", 5000), ""} {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/namespaces", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: forged})
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("forged cookie %.20q: %d", forged, res.StatusCode)
		}
	}
	// The real session still works.
	if st, _ := c.get("/namespaces"); st != http.StatusOK {
		t.Fatalf("real session after forgeries: %d", st)
	}
}

// A token revoked by another process (its own Manager, as the CLI) ends
// the sessions signed in with it, on every UI over the store, within the
// token cache's bound (waited for generously, not timed).
func TestRevocationElsewhereEndsSessions(t *testing.T) {
	a := newHarness(t)
	b := newHarnessWith(t, a.Store)
	tok := a.token("orders:write")
	c := a.client()
	c.signIn(tok)
	if _, err := tokens.New(a.Store).Revoke(context.Background(), tokens.KeyOf(tok)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*harness{a, b} {
		c.h = h
		deadline := time.Now().Add(time.Minute)
		for {
			st, _, hdr := c.do(http.MethodGet, "/namespaces", nil)
			if st == http.StatusSeeOther && strings.HasPrefix(hdr.Get("Location"), "/login") {
				break
			}
			if st != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("%s after revocation: %d %s", h.URL, st, hdr.Get("Location"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p, err := a.Store.List(context.Background(), SessionsNamespace, "", "", 10)
	if err != nil || len(p.Entries) != 0 {
		t.Fatalf("the revoked token's session record is left: %v %v", p.Entries, err)
	}
}
