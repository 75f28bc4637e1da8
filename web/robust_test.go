package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

// A route that panics and one that fails with an internal error, both
// registered the way other files add routes.
func init() {
	web.Register("zz_test", func(s *web.Server) error {
		s.Handle(http.MethodGet, "/v1/test/panic", func(c echo.Context) error {
			panic("secret panic detail")
		}, web.RouteDoc{Summary: "test: panics"})
		s.Handle(http.MethodGet, "/v1/test/slow", func(c echo.Context) error {
			slowEntered <- struct{}{}
			<-slowRelease
			return c.JSON(http.StatusOK, map[string]bool{"finished": true})
		}, web.RouteDoc{Summary: "test: waits until released"})
		s.Handle(http.MethodGet, "/v1/test/internal", func(c echo.Context) error {
			return errors.New(`pq: syntax error at or near "SELECT * FROM entries"`)
		}, web.RouteDoc{Summary: "test: fails with a database error"})
		return nil
	})
}

var (
	slowEntered = make(chan struct{}, 1)
	slowRelease = make(chan struct{})
)

// TestGracefulShutdown: a request in flight when shutdown starts finishes
// with its answer; Serve returns cleanly afterwards.
func TestGracefulShutdown(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := tokens.New(st).EnsureAdmin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	srv.OnClose(func() error { closed = true; return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, 30*time.Second) }()

	type answer struct {
		status int
		body   string
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/test/slow", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- answer{status: res.StatusCode, body: string(b)}
	}()
	<-slowEntered // the request is in the handler
	cancel()      // shutdown starts (what SIGINT/SIGTERM do in serve)
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(slowRelease)
	a := <-got
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, "finished") {
		t.Fatalf("in-flight request: %+v", a)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !closed {
		t.Fatal("OnClose functions did not run")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// TestOpenAPIMatchesRoutes: the document lists exactly echo's API routes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newSQLite(t)
	r := h.do("GET", "/v1/openapi.json", h.admin, nil)
	want(t, r, 200, "")
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m, op := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s: no responses", m, p)
			}
			// every {param} of the path is declared
			params, _ := op["parameters"].([]any)
			for _, seg := range strings.Split(p, "/") {
				if strings.HasPrefix(seg, "{") {
					name := strings.Trim(seg, "{}")
					found := false
					for _, pa := range params {
						pa := pa.(map[string]any)
						found = found || (pa["name"] == name && pa["in"] == "path")
					}
					if !found {
						t.Errorf("%s %s: path parameter %s not declared", m, p, name)
					}
				}
			}
			// Every operation declares security: bearer under /v1/, none
			// ([]) for the public routes and the document itself.
			sec, declared := op["security"].([]any)
			public := !strings.HasPrefix(p, "/v1/") || p == "/v1/openapi.json"
			if !declared || (len(sec) == 0) != public {
				t.Errorf("%s %s: security %v", m, p, op["security"])
			}
			// Error answers use the one Error schema.
			for st, resp := range op["responses"].(map[string]any) {
				if st[0] != '4' && st[0] != '5' {
					continue
				}
				ref, _ := resp.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"]
				if ref != "#/components/schemas/Error" {
					t.Errorf("%s %s: %s answers %v", m, p, st, ref)
				}
			}
		}
	}
	methods := map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true}
	var served []string
	for _, rt := range h.srv.Echo().Routes() {
		if !methods[rt.Method] {
			continue // echo's internal not-found routes of groups
		}
		p := rt.Path
		api := strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/hooks/") || p == "/healthz" || p == "/readyz" || p == "/metrics"
		if !api {
			continue
		}
		served = append(served, rt.Method+" "+web.OpenAPIPath(p))
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("OpenAPI and routes differ\ndocumented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	if len(served) < 16 {
		t.Fatalf("only %d routes served", len(served))
	}
}

func TestBadRequests(t *testing.T) {
	h := newSQLite(t, func(o *web.Options) { o.BodyLimit = 4096 })
	tok := h.admin
	cases := []struct {
		name, method, path, body string
		status                   int
		code, mentions           string
	}{
		{"malformed", "PUT", "/v1/store/a/b", `{"data": `, 400, "invalid_argument", "not valid JSON"},
		{"syntax", "PUT", "/v1/store/a/b", `{"data": tru}`, 400, "invalid_argument", "not valid JSON"},
		{"empty", "PUT", "/v1/store/a/b", ``, 400, "invalid_argument", "empty"},
		{"not an object", "PUT", "/v1/store/a/b", `[1]`, 400, "invalid_argument", "object"},
		{"trailing", "PUT", "/v1/store/a/b", `{"data": 1} {}`, 400, "invalid_argument", "after the JSON value"},
		{"unknown field", "PUT", "/v1/store/a/b", `{"data": 1, "dta": 2}`, 400, "invalid_argument", `"dta"`},
		{"wrong type", "PUT", "/v1/store/a/b", `{"data": 1, "ttl": "soon"}`, 400, "invalid_argument", "ttl"},
		{"wrong unit", "PUT", "/v1/store/a/b", `{"data": 1, "timeoutUnit": "weeks", "timeoutValue": 1}`, 400, "invalid_argument", "timeoutUnit"},
		{"no data", "PUT", "/v1/store/a/b", `{"ttl": 5}`, 400, "invalid_argument", "data"},
		{"atomic wrong type", "POST", "/v1/atomic", `{"checks": [{"name": 1, "key": "k"}], "mutations": []}`, 400, "invalid_argument", "name"},
		{"atomic unknown field", "POST", "/v1/atomic", `{"mutations": [{"op": "set", "name": "a", "key": "k", "data": 1, "extra": true}]}`, 400, "invalid_argument", `"extra"`},
		{"data wrong type", "POST", "/v1/operations/data", `{"key": 5, "value": 1}`, 400, "invalid_argument", "key"},
		{"deep data", "PUT", "/v1/store/a/b", `{"data": ` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`, 400, "invalid_argument", "data"},
		{"deep value", "POST", "/v1/operations/data", `{"key": "k", "value": ` + strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65) + `}`, 400, "invalid_argument", "value"},
		{"too large", "PUT", "/v1/store/a/b", `{"data": "` + strings.Repeat("x", 5000) + `"}`, 413, "too_large", "limit"},
		{"bad name", "PUT", "/v1/store/a%01/b", `{"data": 1}`, 400, "invalid_argument", "control"},
		{"long key", "PUT", "/v1/store/a/" + strings.Repeat("k", 300), `{"data": 1}`, 413, "too_large", "key"},
		{"no route", "GET", "/nothing-here", ``, 404, "not_found", "/nothing-here"},
		{"method", "POST", "/healthz", ``, 405, "invalid_argument", "POST"},
		{"bad limit", "GET", "/v1/store/a?limit=100000", ``, 400, "invalid_argument", "limit"},
		{"bad cursor", "GET", "/v1/store/a?cursor=forged", ``, 400, "invalid_argument", "cursor"},
		{"panic", "GET", "/v1/test/panic", ``, 503, "unavailable", "internal error"},
		{"internal", "GET", "/v1/test/internal", ``, 503, "unavailable", "could not complete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(c.method, c.path, tok, body)
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			// exactly {"error": {"code", "message"}}
			var shape map[string]map[string]any
			if err := json.Unmarshal(r.Body, &shape); err != nil || len(shape) != 1 || len(shape["error"]) != 2 {
				t.Fatalf("error body shape: %s", r.Body)
			}
			msg := shape["error"]["message"].(string)
			if !strings.Contains(msg, c.mentions) {
				t.Fatalf("message %q does not mention %q", msg, c.mentions)
			}
			for _, leak := range []string{"SELECT", "secret panic", "goroutine", ".go:"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("message leaks %q: %s", leak, msg)
				}
			}
		})
	}
	// 64 levels of data nesting are allowed.
	deep := `{"data": ` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`
	want(t, h.do("PUT", "/v1/store/a/deep", tok, deep), 200, "")
	// Nothing was written by the refused requests.
	r := h.do("GET", "/v1/store/a", tok, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("refused requests wrote: %s", r.Body)
	}
	if !strings.Contains(h.Logs(), "secret panic detail") {
		t.Error("the panic was not logged")
	}
}

// TestBodyLimitWithoutReading: a declared length over the limit is refused
// before the client sends the body; an undeclared one is cut at the limit.
func TestBodyLimitWithoutReading(t *testing.T) {
	h := newSQLite(t, func(o *web.Options) { o.BodyLimit = 4096 })
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers only: 100 MB announced, not one body byte sent.
	fmt.Fprintf(conn, "PUT /v1/store/a/b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n", h.admin)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || !strings.Contains(string(b), "too_large") {
		t.Fatalf("%d %s, want 413 too_large", res.StatusCode, b)
	}

	// Chunked (no Content-Length): cut while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"data": "`))
		for range 100 {
			if _, err := pw.Write([]byte(strings.Repeat("x", 1000))); err != nil {
				return
			}
		}
		pw.Write([]byte(`"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", h.base+"/v1/store/a/b", pr)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	pr.CloseWithError(io.ErrClosedPipe)
	if res.StatusCode != 413 || !strings.Contains(string(b), "too_large") {
		t.Fatalf("%d %s, want 413 too_large", res.StatusCode, b)
	}
}
