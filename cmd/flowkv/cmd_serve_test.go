package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for a serving goroutine and the test.
type syncBuffer = testenv.SyncBuffer

var tokenRE = regexp.MustCompile(`fkv_[A-Za-z0-9_-]{43}`)

// serving is a `flowkv serve` running in-process.
type serving struct {
	t      *testing.T
	base   string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `flowkv serve args…` on a random loopback port with the
// package's streams swapped for one buffer until stop. Commands run while
// it serves (runIn) write to the same buffer.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	cliMu.Lock()
	out := &syncBuffer{}
	oldOut, oldErr := stdout, stderr
	stdout, stderr = out, out
	addrc := make(chan string, 1)
	serveReady = func(a string) { addrc <- a }
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{t: t, out: out, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- runMain(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--no-ui"}, args...))
	}()
	t.Cleanup(func() {
		s.stop()
		serveReady = nil
		stdout, stderr = oldOut, oldErr
		cliMu.Unlock()
	})
	select {
	case a := <-addrc:
		s.base = "http://" + a
	case code := <-s.done:
		s.done <- code
		t.Fatalf("serve exited with %d: %s", code, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start: %s", out.String())
	}
	return s
}

// stop sends the equivalent of SIGINT (the context main cancels) and
// waits for serve to return; it must exit 0.
func (s *serving) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if code := <-s.done; code != 0 {
		s.t.Errorf("serve exited with %d: %s", code, s.out.String())
	}
}

// runIn runs a command while serving and returns what it printed.
func (s *serving) runIn(args ...string) (string, int) {
	before := len(s.out.String())
	code := runMain(context.Background(), args)
	return s.out.String()[before:], code
}

func (s *serving) req(method, path, token, body string) (int, string) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeAdminTokenAndTokenCommands: the first start prints an admin
// token once; token create/list/revoke work against the running server's
// database; a revoked token fails at once.
func TestServeAdminTokenAndTokenCommands(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	s := startServe(t, "--dsn", dsn)
	admin := tokenRE.FindString(s.out.String())
	if admin == "" || !strings.Contains(s.out.String(), "shown only this once") {
		t.Fatalf("no admin token printed: %s", s.out.String())
	}
	if st, body := s.req("PUT", "/v1/store/orders/o-1", admin, `{"data": {"total": 5}}`); st != 200 {
		t.Fatalf("admin PUT: %d %s", st, body)
	}
	if st, body := s.req("POST", "/v1/operations/data", admin, `{"key": "k", "value": 1, "ttl": 3600}`); st != 200 {
		t.Fatalf("admin putData: %d %s", st, body)
	}

	out, code := s.runIn("token", "create", "--dsn", dsn, "--grant", "orders:read", "--name", "reader")
	ro := tokenRE.FindString(out)
	if code != 0 || ro == "" {
		t.Fatalf("token create: %d %s", code, out)
	}
	if st, _ := s.req("GET", "/v1/store/orders/o-1", ro, ""); st != 200 {
		t.Fatalf("reader GET orders: %d", st)
	}
	if st, body := s.req("PUT", "/v1/store/orders/o-1", ro, `{"data": 1}`); st != 403 || !strings.Contains(body, "access_denied") {
		t.Fatalf("reader PUT orders: %d %s", st, body)
	}
	if st, body := s.req("GET", "/v1/operations/data?key=k", ro, ""); st != 403 || !strings.Contains(body, "access_denied") {
		t.Fatalf("reader GET default: %d %s", st, body)
	}

	out, code = s.runIn("token", "list", "--dsn", dsn)
	if code != 0 || !strings.Contains(out, "reader") || !strings.Contains(out, "orders:read") || !strings.Contains(out, "*:write") {
		t.Fatalf("token list: %d %s", code, out)
	}
	if strings.Contains(out, ro) || strings.Contains(out, admin) {
		t.Fatalf("token list shows a secret: %s", out)
	}

	// Scopes: a flows token saves a flow, the reader cannot; list shows
	// scopes and the random IDs the request log names tokens by.
	out, code = s.runIn("token", "create", "--dsn", dsn, "--scope", "flows", "--grant", "orders:write", "--name", "builder")
	builder := tokenRE.FindString(out)
	if code != 0 || builder == "" || !strings.Contains(out, "scopes flows") {
		t.Fatalf("token create --scope flows: %d %s", code, out)
	}
	flow := "id: f1\ndataStores: [orders]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: orders}\n"
	if st, body := s.req("PUT", "/v1/flows/f1", builder, flow); st != 200 {
		t.Fatalf("flows token PUT flow: %d %s", st, body)
	}
	if st, body := s.req("PUT", "/v1/flows/f1", ro, flow); st != 403 || !strings.Contains(body, "scope flows") {
		t.Fatalf("reader PUT flow: %d %s", st, body)
	}
	out, code = s.runIn("token", "list", "--dsn", dsn)
	ids := regexp.MustCompile(`(?m)^(tok_[0-9a-f]{16}) +builder +orders:write +flows `).FindStringSubmatch(out)
	if code != 0 || ids == nil || !regexp.MustCompile(`(?m)^tok_[0-9a-f]{16} +admin +\*:write +admin `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^tok_[0-9a-f]{16} +reader +orders:read +- `).MatchString(out) {
		t.Fatalf("token list with scopes: %d\n%s", code, out)
	}
	if !strings.Contains(s.out.String(), "token="+ids[1]) {
		t.Fatalf("the request log does not name the token by its ID %s", ids[1])
	}
	out, code = s.runIn("token", "create", "--dsn", dsn, "--scope", "root", "--grant", "orders:read")
	if code == 0 || !strings.Contains(out, "invalid_argument") {
		t.Fatalf("unknown scope: %d %s", code, out)
	}
	out, code = s.runIn("token", "revoke", "--dsn", dsn, ids[1])
	if code != 0 || !strings.Contains(out, ids[1]) {
		t.Fatalf("revoke by id: %d %s", code, out)
	}
	// The CLI is another process: the server sees the revocation within
	// its token cache's bound (1s; waited for generously, not timed).
	refusedSoon := func(path, tok string) (int, string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			st, body := s.req("GET", path, tok, "")
			if st != 200 || time.Now().After(deadline) {
				return st, body
			}
		}
	}
	if st, _ := refusedSoon("/v1/flows", builder); st != 401 {
		t.Fatalf("token revoked by id still works: %d", st)
	}

	out, code = s.runIn("token", "revoke", "--dsn", dsn, "reader")
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %d %s", code, out)
	}
	if st, body := refusedSoon("/v1/store/orders/o-1", ro); st != 401 || !strings.Contains(body, "unauthenticated") {
		t.Fatalf("revoked token: %d %s", st, body)
	}
	out, code = s.runIn("token", "revoke", "--dsn", dsn, "nosuchtoken")
	if code == 0 || !strings.Contains(out, "not_found") {
		t.Fatalf("revoke unknown: %d %s", code, out)
	}
	out, code = s.runIn("token", "create", "--dsn", dsn, "--grant", "orders:admin")
	if code == 0 || !strings.Contains(out, "invalid_argument") {
		t.Fatalf("bad grant: %d %s", code, out)
	}
	out, code = s.runIn("token", "create", "--dsn", dsn)
	if code == 0 || !strings.Contains(out, "invalid_argument") {
		t.Fatalf("no grant: %d %s", code, out)
	}
	s.stop()
	if !strings.Contains(s.out.String(), "msg=stopped") {
		t.Fatalf("no clean stop logged: %s", s.out.String())
	}
}

// TestServeSecondStartPrintsNoToken and FLOWKV_ADMIN_TOKEN.
func TestServeAdminTokenFromEnv(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	t.Setenv("FLOWKV_ADMIN_TOKEN", "my-admin-token-0123456789")
	s := startServe(t, "--dsn", dsn)
	if tokenRE.MatchString(s.out.String()) {
		t.Fatalf("a token was generated although FLOWKV_ADMIN_TOKEN is set: %s", s.out.String())
	}
	if st, body := s.req("GET", "/v1/names", "my-admin-token-0123456789", ""); st != 200 {
		t.Fatalf("env admin token: %d %s", st, body)
	}
	if st, _ := s.req("GET", "/v1/names", "my-admin-token-wrong", ""); st != 401 {
		t.Fatalf("wrong token: %d", st)
	}
	if st, _ := s.req("GET", "/healthz", "", ""); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if st, _ := s.req("GET", "/readyz", "", ""); st != 200 {
		t.Fatalf("readyz: %d", st)
	}
}

func TestServeBadAddr(t *testing.T) {
	var o, e bytes.Buffer
	cliMu.Lock()
	oldOut, oldErr := stdout, stderr
	stdout, stderr = &o, &e
	code := runMain(context.Background(), []string{"serve", "--dsn", testenv.SQLiteDSN(t), "--addr", "256.0.0.1:99999", "--no-ui"})
	stdout, stderr = oldOut, oldErr
	cliMu.Unlock()
	if code == 0 || !strings.Contains(e.String(), "unavailable") {
		t.Fatalf("bad addr: %d %s", code, e.String())
	}
}

// TestServeConnectionLimitFlags: --read-timeout and --max-header-bytes
// reach the server: a client trickling a webhook body is cut off at the
// read timeout, oversized headers get 431, and others are served.
func TestServeConnectionLimitFlags(t *testing.T) {
	s := startServe(t, "--dsn", testenv.SQLiteDSN(t), "--read-timeout", "300ms", "--max-header-bytes", "4096")
	addr := strings.TrimPrefix(s.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "POST /hooks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var took time.Duration
wait:
	for {
		select {
		case took = <-closed:
			break wait
		case <-tick.C:
			conn.Write([]byte("x"))
		case <-time.After(15 * time.Second):
			t.Fatal("the trickling connection is still open after 15 s")
		}
	}
	if took > 5*time.Second {
		t.Errorf("closed after %s with --read-timeout 300ms", took)
	}
	if code, body := s.req("GET", "/healthz", "", ""); code != 200 {
		t.Errorf("healthz: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", s.base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header with --max-header-bytes 4096: %d, want 431", res.StatusCode)
	}
}

// TestServeFlagsFromEnvironment: serve's documented variables
// (FLOWKV_MAX_HEADER_BYTES, FLOWKV_DSN, …) reach the server through the
// generic FLOWKV_FOO_BAR mechanism, and a flag on the command line wins.
func TestServeFlagsFromEnvironment(t *testing.T) {
	t.Setenv("FLOWKV_DSN", testenv.SQLiteDSN(t))
	t.Setenv("FLOWKV_MAX_HEADER_BYTES", "4096")
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"env", nil, http.StatusRequestHeaderFieldsTooLarge},
		{"flag over env", []string{"--max-header-bytes", "65536"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, tc.args...)
			req, _ := http.NewRequest("GET", s.base+"/healthz", nil)
			req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("16 KiB header, FLOWKV_MAX_HEADER_BYTES=4096, args %v: %d, want %d", tc.args, res.StatusCode, tc.want)
			}
		})
	}
}
