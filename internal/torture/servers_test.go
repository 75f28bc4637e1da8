package torture

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
)

// Several `flowkv serve` processes over one database behave as one server:
// to the browser (sessions), to tokens (revocation), to webhooks and to
// the scheduler.

// startServers starts n servers (web UI on) over dsn with one admin token.
func startServers(t *testing.T, dsn string, n int, env ...string) []*Server {
	t.Helper()
	tok := NewToken()
	out := make([]*Server, n)
	for i := range out {
		s := &Server{Bin: bin, DSN: dsn, Token: tok, UI: true, Env: env, LogPath: filepath.Join(t.TempDir(), fmt.Sprintf("server%d.log", i))}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := s.Start(ctx)
		cancel()
		if err != nil {
			if b, _ := os.ReadFile(s.LogPath); len(b) > 0 {
				t.Logf("server %d log:\n%s", i, tail(b, 4000))
			}
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		out[i] = s
	}
	return out
}

// cli runs the flowkv binary (token create, token revoke) on dsn.
func cli(t *testing.T, dsn string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "DATA_STORE_MODE=internal", "DATA_STORE_DSN="+dsn), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flowkv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// eventually polls f (every 20ms, up to a generous minute) until it
// reports done; it fails the test otherwise. Nothing here is timed.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !f(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after a minute", what)
		}
	}
}

func status(t *testing.T, cl *Client, method, path string, body any) Reply {
	t.Helper()
	r, err := cl.Do(context.Background(), method, path, body, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// A token revoked by the CLI (another process) is refused by every server.
func revokedEverywhere(t *testing.T, dsn string, env []string, srvs []*Server) {
	out := cli(t, dsn, env, "token", "create", "--name", "doomed", "--grant", "orders:write")
	secret := strings.TrimSpace(out)
	cls := make([]*Client, len(srvs))
	for i, s := range srvs {
		cls[i] = NewClient(s.URL, secret, 2)
		defer cls[i].Close()
		if r := status(t, cls[i], http.MethodPut, EntryPath("orders", "k"), map[string]any{"data": i}); r.Status != 200 {
			t.Fatalf("server %d before revocation: %d %s", i, r.Status, r.Body)
		}
	}
	cli(t, dsn, env, "token", "revoke", "doomed")
	for i, cl := range cls {
		eventually(t, fmt.Sprintf("server %d refuses the revoked token", i), func() bool {
			r := status(t, cl, http.MethodGet, EntryPath("orders", "k"), nil)
			if r.Status != 200 && r.Status != 401 {
				t.Fatalf("server %d: %d %s", i, r.Status, r.Body)
			}
			return r.Status == 401 && r.Code == "unauthenticated"
		})
	}
}

func TestRevocationAcrossServersSQLite(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	revokedEverywhere(t, dsn, nil, startServers(t, dsn, 2))
}

// browser is a cookie-keeping client; cookies are per host, not port, so
// one browser is signed in on every server at 127.0.0.1, as behind a load
// balancer.
type browser struct {
	t    *testing.T
	http *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, http: &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, u string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		if b.csrf != "" && form.Get("_csrf") == "" {
			form.Set("_csrf", b.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(raw); m != nil {
		b.csrf = string(m[1])
	}
	loc := res.Header.Get("Location")
	return res.StatusCode, loc + "\n" + string(raw)
}

func TestServersAsOnePostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	srvs := startServers(t, dsn, 3)
	a, b, c := srvs[0], srvs[1], srvs[2]

	t.Run("session", func(t *testing.T) {
		br := newBrowser(t)
		if st, _ := br.do(http.MethodGet, a.URL()+"/login", nil); st != 200 {
			t.Fatalf("GET /login on A: %d", st)
		}
		if st, body := br.do(http.MethodPost, a.URL()+"/login", url.Values{"token": {a.Token}}); st != 303 || !strings.HasPrefix(body, "/namespaces") {
			t.Fatalf("sign-in on A: %d %.200s", st, body)
		}
		for i, s := range srvs {
			if st, body := br.do(http.MethodGet, s.URL()+"/namespaces", nil); st != 200 {
				t.Fatalf("the session made on A, on server %d: %d %.200s", i, st, body)
			}
		}
		// Signing out on B ends the session on A and C too.
		if st, body := br.do(http.MethodPost, b.URL()+"/logout", url.Values{}); st != 303 || !strings.HasPrefix(body, "/login") {
			t.Fatalf("sign-out on B: %d %.200s", st, body)
		}
		for i, s := range srvs {
			if st, body := br.do(http.MethodGet, s.URL()+"/namespaces", nil); st != 303 || !strings.HasPrefix(body, "/login") {
				t.Fatalf("after sign-out, server %d: %d %.200s", i, st, body)
			}
		}
	})

	t.Run("revocation", func(t *testing.T) { revokedEverywhere(t, dsn, nil, srvs) })

	t.Run("webhook", func(t *testing.T) {
		cl := NewClient(a.URL, a.Token, 2)
		defer cl.Close()
		flow := map[string]any{"id": "hook", "dataStores": []string{"orders"}, "trigger": map[string]any{"type": "webhook"},
			"blocks": []map[string]any{{"id": "count", "type": "dataStore", "operation": "atomicIncrement", "name": "orders", "key": "hits"}}}
		if r := status(t, cl, http.MethodPut, "/v1/flows/hook", flow); r.Status != 200 && r.Status != 201 {
			t.Fatalf("PUT flow on A: %d %s", r.Status, r.Body)
		}
		for i, s := range srvs {
			hc := NewClient(s.URL, "", 2)
			r := status(t, hc, http.MethodPost, "/hooks/hook", map[string]any{"from": i})
			hc.Close()
			if r.Status != 200 {
				t.Fatalf("hook on server %d: %d %s", i, r.Status, r.Body)
			}
		}
		r := status(t, cl, http.MethodGet, EntryPath("orders", "hits"), nil)
		if v, _, err := parseEntry(r.Body); err != nil || v != int64(len(srvs)) {
			t.Fatalf("hits after a hook call on each server: %s (%v)", r.Body, err)
		}
	})

	t.Run("schedule", func(t *testing.T) {
		cl := NewClient(c.URL, c.Token, 2)
		defer cl.Close()
		flow := map[string]any{"id": "tick", "dataStores": []string{"orders"}, "trigger": map[string]any{"type": "schedule", "every": "1s"},
			"blocks": []map[string]any{{"id": "count", "type": "dataStore", "operation": "atomicIncrement", "name": "orders", "key": "ticks"}}}
		t0 := time.Now()
		if r := status(t, cl, http.MethodPut, "/v1/flows/tick", flow); r.Status != 200 && r.Status != 201 {
			t.Fatalf("PUT flow: %d %s", r.Status, r.Body)
		}
		// Past the servers' reload (10s), every one of them has the
		// schedule; a tick run by more than one would add runs beyond the
		// ticks that passed.
		var runs int
		eventually(t, "12 scheduled runs", func() bool {
			r := status(t, cl, http.MethodGet, "/v1/flows/tick/runs?limit=1000", nil)
			var page struct {
				Runs []json.RawMessage `json:"runs"`
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatalf("runs: %d %s", r.Status, r.Body)
			}
			runs = len(page.Runs)
			return runs >= 12
		})
		ticks := int(time.Since(t0)/time.Second) + 1
		if runs > ticks {
			t.Fatalf("%d runs for at most %d ticks: a tick ran on more than one server", runs, ticks)
		}
		if r := status(t, cl, http.MethodDelete, "/v1/flows/tick", nil); r.Status != 200 && r.Status != 204 {
			t.Fatalf("DELETE flow: %d %s", r.Status, r.Body)
		}
		t.Logf("%d runs in %d ticks over 3 servers", runs, ticks)
	})
}

// 16 clients over 3 servers on one PostgreSQL database: one history,
// linearizable.
func TestLinearizableThreeServersPostgres(t *testing.T) {
	srvs := startServers(t, testenv.PostgresDSN(t), 3)
	r, err := RunLinear(context.Background(), LinearConfig{Servers: srvs, Ops: 1500, Seed: 11, OutDir: outDir(t), Logf: t.Logf})
	checkLinear(t, r, err, srvs[0])
}
