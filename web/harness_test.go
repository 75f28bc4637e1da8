package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/flowkv/flowkv/blocks/all" // the block types the flow tests use (the binary registers them in production)
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

// harness is a real server on a random loopback port over a real database.
type harness struct {
	t     *testing.T
	srv   *web.Server
	st    store.Store
	base  string
	admin string
	logs  *testenv.SyncBuffer
}

func newHarness(t *testing.T, dsn string, opts ...func(*web.Options)) *harness {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	return newHarnessOn(t, st, opts...)
}

// newHarnessOn serves st (closed when t ends).
func newHarnessOn(t *testing.T, st store.Store, opts ...func(*web.Options)) *harness {
	t.Helper()
	ctx := context.Background()
	logs := &testenv.SyncBuffer{}
	o := web.Options{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test"}
	for _, f := range opts {
		f(&o)
	}
	srv, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	// 30 s of grace: requests in flight drain slowly on a loaded -race run.
	go func() { done <- srv.Serve(sctx, ln, 30*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	admin, err := tokens.New(st).EnsureAdmin(ctx, "")
	if err != nil || admin == "" {
		t.Fatalf("admin token: %q %v", admin, err)
	}
	return &harness{t: t, srv: srv, st: st, base: "http://" + ln.Addr().String(), admin: admin, logs: logs}
}

func newSQLite(t *testing.T, opts ...func(*web.Options)) *harness {
	return newHarness(t, testenv.SQLiteDSN(t), opts...)
}

// Logs returns what the server logged so far.
func (h *harness) Logs() string { return h.logs.String() }

// token creates a token with grants (and no scope) and returns its secret.
func (h *harness) token(grants ...string) string {
	h.t.Helper()
	return h.scopedToken(nil, grants...)
}

// flowsToken creates a token with scope flows and grants.
func (h *harness) flowsToken(grants ...string) string {
	h.t.Helper()
	return h.scopedToken([]string{tokens.ScopeFlows}, grants...)
}

// scopedToken creates a token with scopes and grants and returns its secret.
func (h *harness) scopedToken(scopes []string, grants ...string) string {
	h.t.Helper()
	g, err := store.ParseGrants(grants)
	if err != nil {
		h.t.Fatal(err)
	}
	secret, _, err := tokens.New(h.st).Create(context.Background(), "test", g, scopes...)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// resp is an answer: status, headers and body.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Code returns the error code of an error answer ("" for none).
func (r resp) Code() string {
	var b web.ErrorBody
	if json.Unmarshal(r.Body, &b) != nil {
		return ""
	}
	return string(b.Error.Code)
}

// do sends a request. path is sent as written (percent-encoding kept);
// body is a string (sent raw) or any value (sent as JSON); headers are
// name, value pairs.
func (h *harness) do(method, path, token string, body any, headers ...string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// want fails unless r has status (and, for errors, code).
func want(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code != "" && r.Code() != code {
		t.Fatalf("code %q, want %q: %s", r.Code(), code, r.Body)
	}
}
