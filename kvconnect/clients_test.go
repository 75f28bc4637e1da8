package kvconnect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
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
	"github.com/flowkv/flowkv/internal/tokens"
	_ "github.com/flowkv/flowkv/kvconnect"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore/dynamotest"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
	"github.com/flowkv/flowkv/web/ui"
)

// server is a real flowkv server (the one `flowkv serve` runs) on a
// loopback port.
type server struct {
	srv              *web.Server
	st               store.Store
	base             string
	admin, usersRead string
}

func serve(t *testing.T, st store.Store) *server {
	t.Helper()
	srv, err := web.New(web.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = st.Close()
	})
	// The store browser too, as `flowkv serve` mounts it.
	ui.New(ui.Config{Store: st, Verify: srv.Tokens()}).Register(srv.Echo())
	tm := tokens.New(st)
	admin, err := tm.EnsureAdmin(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := store.ParseGrants([]string{"users:read"})
	usersRead, _, err := tm.Create(context.Background(), "users-reader", g)
	if err != nil {
		t.Fatal(err)
	}
	return &server{srv: srv, st: st, base: "http://" + ln.Addr().String(), admin: admin, usersRead: usersRead}
}

func sqliteStore(t *testing.T) store.Store {
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clients returns the Deno binary and the node_modules holding @deno/kv
// (scripts/setup-deno.sh), skipping — failing under CI=true — without them.
func clients(t *testing.T) (deno, nodeModules string) {
	t.Helper()
	deno, nodeModules = os.Getenv("FLOWKV_TEST_DENO"), os.Getenv("FLOWKV_TEST_DENO_NODE")
	if deno == "" || nodeModules == "" {
		testenv.Missing(t, "FLOWKV_TEST_DENO / FLOWKV_TEST_DENO_NODE are not set (source scripts/setup-deno.sh)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node is not installed")
	}
	return deno, nodeModules
}

// runClient runs the scenarios with one client against s in database ns
// and reports each scenario's line.
func runClient(t *testing.T, s *server, client, ns string, quick bool, scenarios ...string) {
	t.Helper()
	deno, nodeModules := clients(t)
	dir, _ := filepath.Abs("testdata")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	local := filepath.Join(t.TempDir(), "local.sqlite")
	if client == "node" {
		cmd = exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, "node_runner.mjs")}, scenarios...)...)
	} else {
		args := []string{"run", "--quiet", "--unstable-kv", "--no-prompt", "--allow-net=127.0.0.1", "--allow-env",
			"--allow-read=" + dir + "," + filepath.Dir(local), "--allow-write=" + filepath.Dir(local),
			filepath.Join(dir, "deno_runner.ts")}
		cmd = exec.CommandContext(ctx, deno, append(args, scenarios...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"FLOWKV_TEST_DENO_NODE="+nodeModules,
		"KV_BASE="+s.base, "KV_NS="+ns, "KV_TOKEN="+s.admin, "KV_TOKEN_USERS_READ="+s.usersRead,
		"KV_LOCAL="+local, "KV_QUICK="+map[bool]string{true: "1"}[quick], "DENO_KV_ACCESS_TOKEN="+s.admin,
		"DENO_DIR="+filepath.Join(t.TempDir(), "deno"), "DENO_NO_UPDATE_CHECK=1", "NO_COLOR=1",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	n := 0
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "ok - "):
			n++
			t.Log(line)
		case strings.HasPrefix(line, "not ok - "):
			t.Error(line)
		}
	}
	if err != nil || n == 0 {
		t.Fatalf("%s client: %v\n%s", client, err, out.String())
	}
}

// TestClients runs the scenarios of testdata/scenarios.mjs with Node +
// @deno/kv and with Deno's own Deno.openKv against a real server on
// SQLite, then with Node on PostgreSQL and DynamoDB Local.
func TestClients(t *testing.T) {
	clients(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := serve(t, sqliteStore(t))
		t.Run("node", func(t *testing.T) { t.Parallel(); runClient(t, s, "node", "node", false) })
		t.Run("deno", func(t *testing.T) { t.Parallel(); runClient(t, s, "deno", "deno", false) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st, err := sqlstore.Open(context.Background(), testenv.PostgresDSN(t), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, serve(t, st), "node", "node", true)
	})
	t.Run("dynamodb", func(t *testing.T) {
		t.Parallel()
		testenv.DynamoEndpoint(t)
		runClient(t, serve(t, dynamotest.Open(t, store.Limits{})), "deno", "deno", true)
	})
}

// runOWN3D runs the OWN3D seed example (testdata/own3d) with one client
// against s's database "users" and returns what its driver printed.
func runOWN3D(t *testing.T, s *server, client string) map[string]any {
	t.Helper()
	deno, nodeModules := clients(t)
	src, _ := filepath.Abs("testdata/own3d")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if client == "node" {
		b, err := os.ReadFile(filepath.Join(src, "own3d.mjs"))
		if err != nil {
			t.Fatal(err)
		}
		// The example imports "@deno/kv" as an installed package.
		if err := os.WriteFile(filepath.Join(dir, "own3d.mjs"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(nodeModules, filepath.Join(dir, "node_modules")); err != nil {
			t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, "node", "own3d.mjs")
	} else {
		cmd = exec.CommandContext(ctx, deno, "run", "--quiet", "--unstable-kv", "--no-prompt", "--allow-net=127.0.0.1", "--allow-env", filepath.Join(src, "own3d.ts"))
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KV_URL="+s.base+"/kv/users", "KV_TOKEN="+s.admin, "DENO_KV_ACCESS_TOKEN="+s.admin,
		"DENO_DIR="+filepath.Join(dir, ".deno"), "DENO_NO_UPDATE_CHECK=1", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", client, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("%s printed %s", client, out)
	}
	if !strings.Contains(string(out), "GhostZero") || !strings.Contains(string(out), "Entry already exist") {
		t.Errorf("%s: the example's own output is missing:\n%s", client, out)
	}
	return res
}

// TestOWN3DSeed: the seed's example runs unchanged but for its connect
// line, in Node and in Deno, on every backend, and its entries are there
// for the other faces (the HTTP API, by their keys as JSON arrays).
func TestOWN3DSeed(t *testing.T) {
	clients(t)
	check := func(t *testing.T, s *server, client string) {
		res := runOWN3D(t, s, client)
		want := map[string]any{"saved": true, "created": true, "createdTwice": false,
			"byId":    map[string]any{"id": "2", "name": "Ada", "email": "ada@example.com"},
			"byEmail": map[string]any{"id": "2", "name": "Ada", "email": "ada@example.com"},
			"user1":   map[string]any{"name": "GhostZero", "email": "example@example.com"},
			"grace":   map[string]any{"name": "Grace", "email": "grace@example.com"}}
		for k, v := range want {
			if got, _ := json.Marshal(res[k]); string(got) != string(must(json.Marshal(v))) {
				t.Errorf("%s: %s = %s, want %v", client, k, got, v)
			}
		}
		browserShows(t, s, "users", `["users","2"]`, `["users_by_email","ada@example.com"]`, `["users","3"]`)
		for _, c := range []struct{ key, data string }{
			{`["users","2"]`, `{"email":"ada@example.com","id":"2","name":"Ada"}`},
			{`["users_by_email","ada@example.com"]`, `["users","2"]`},
		} {
			req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/store/users/"+url.PathEscape(c.key), nil)
			req.Header.Set("Authorization", "Bearer "+s.admin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e store.Entry
			_ = json.NewDecoder(res.Body).Decode(&e)
			res.Body.Close()
			if res.StatusCode != 200 || string(e.Data) != c.data {
				t.Errorf("%s: GET /v1/store/users/%s: %d %s, want %s", client, c.key, res.StatusCode, e.Data, c.data)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := serve(t, sqliteStore(t))
		check(t, s, "node")
		check(t, s, "deno")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st, err := sqlstore.Open(context.Background(), testenv.PostgresDSN(t), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := serve(t, st)
		check(t, s, "node")
		check(t, s, "deno")
	})
	t.Run("dynamodb", func(t *testing.T) {
		t.Parallel()
		testenv.DynamoEndpoint(t)
		s := serve(t, dynamotest.Open(t, store.Limits{}))
		check(t, s, "node")
		check(t, s, "deno")
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// browserShows signs in to the store browser with the admin token and
// checks that namespace name's entries page lists the given keys (as the
// JSON arrays the browser shows Deno KV keys as).
func browserShows(t *testing.T, s *server, name string, keys ...string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page := func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", res.Request.URL, res.StatusCode)
		}
		return string(b)
	}
	login := page(c.Get(s.base + "/login"))
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	page(c.PostForm(s.base+"/login", url.Values{"_csrf": {m[1]}, "token": {s.admin}}))
	body := html.UnescapeString(page(c.Get(s.base + "/entries?name=" + url.QueryEscape(name))))
	for _, k := range keys {
		if !strings.Contains(body, k) {
			t.Errorf("the store browser's %s page does not show %s", name, k)
		}
	}
}
