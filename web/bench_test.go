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
