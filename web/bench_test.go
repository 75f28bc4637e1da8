package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

// BenchmarkHandler measures the server side of one request without the
// network: the handler chain (auth, grants, store, JSON, log line, metrics)
// over SQLite, next to the raw store call it wraps.
func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(b), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tok, _, err := tokens.New(st).Create(ctx, "bench", store.Grants{"bench": store.Write})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := web.New(web.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	const keys = 1000
	body := `{"data":{"n":12345,"status":"paid","items":["a","b","c"]}}`
	for i := range keys {
		if _, err := st.Upsert(ctx, "bench", fmt.Sprintf("key-%06d", i), []byte(`{"n":12345,"status":"paid","items":["a","b","c"]}`), store.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	serve := func(b *testing.B, method string) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				var rd io.Reader
				if method == "PUT" {
					rd = strings.NewReader(body)
				}
				req := httptest.NewRequest(method, fmt.Sprintf("/v1/store/bench/key-%06d", i%keys), rd)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", method, w.Code, w.Body)
				}
			}
		})
	}
	b.Run("GET", func(b *testing.B) { serve(b, "GET") })
	b.Run("PUT", func(b *testing.B) { serve(b, "PUT") })
	b.Run("raw-FindNameKey", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, err := st.FindNameKey(ctx, "bench", fmt.Sprintf("key-%06d", i%keys)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("raw-Upsert", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, err := st.Upsert(ctx, "bench", fmt.Sprintf("key-%06d", i%keys), []byte(`{"n":12345,"status":"paid","items":["a","b","c"]}`), store.WriteOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("verify-token", func(b *testing.B) {
		m := tokens.New(st)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// connWriter stands in for net/http's response writer without its
// allocations: a reused header map, the body discarded, and a write
// deadline that it accepts (as a connection does; httptest's recorder
// refuses it with an allocated error).
type connWriter struct {
	h      http.Header
	status int
}

func (w *connWriter) Header() http.Header              { return w.h }
func (w *connWriter) WriteHeader(code int)             { w.status = code }
func (w *connWriter) Write(b []byte) (int, error)      { return len(b), nil }
func (w *connWriter) SetWriteDeadline(time.Time) error { return nil }
func (w *connWriter) reset()                           { clear(w.h); w.status = 0 }

// BenchmarkRequestPath measures what flowkv's request path costs around a
// handler, without the database and without the network: the same
// constant-body handler served by a bare echo instance (what flowkv-load's
// constant server runs) and by web.Server (routing on the escaped path,
// write deadline, request timeout, panic recovery, bearer token from the
// cache, body limit, the request's log line formatted and discarded, the
// metrics), with the log line off for comparison. The allocations per
// request are the figure to read (the load on a shared machine does not
// move them):
//
//	go test -run '^$' -bench RequestPath -benchmem ./web/
func BenchmarkRequestPath(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(b), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tok, _, err := tokens.New(st).Create(ctx, "bench", store.Grants{"bench": store.Write})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"name":"bench","key":"key-000001","data":{"items":["a","b","c"],"n":12345,"status":"paid"},"version":1234}`)
	constant := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	flowkv := func(level slog.Level) http.Handler {
		log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		srv, err := web.New(web.Options{Store: st, Logger: log, NoQuotas: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		srv.Handle(http.MethodGet, "/v1/bench/:name/:key", constant, web.RouteDoc{Summary: "benchmark"})
		return srv.Handler()
	}
	bare := echo.New()
	bare.GET("/v1/bench/:name/:key", constant)
	serve := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/v1/bench/bench/key-000001", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.RemoteAddr = "127.0.0.1:40000"
		w := &connWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	b.Run("echo", func(b *testing.B) { serve(b, bare) })
	b.Run("flowkv", func(b *testing.B) { serve(b, flowkv(slog.LevelInfo)) })
	b.Run("flowkv-no-log", func(b *testing.B) { serve(b, flowkv(slog.LevelWarn)) })
}
