package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

// cpuTime is the process's CPU time so far (user + system): per request it
// varies far less with the shared machine's load than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQuotaLayer measures GET and PUT /v1/store/{name}/{key} through
// the server's handler chain over SQLite with the quota layer off
// (Options.NoQuotas) and on (the token has a monthly quota, so every call
// is counted and checked, and the counts are flushed every second), side
// by side over one database: with -count N the scenarios alternate N
// times, so load on the shared machine hits both alike. "PUT/on-nsquota"
// writes into a namespace that has an entry and byte quota too. cpu-ns/op
// is the process's CPU time per request (background flushes included).
//
//	FLOWKV_BENCH_ROUNDS=8 go test -run '^$' -bench QuotaLayer -benchtime 2s ./web/
func BenchmarkQuotaLayer(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(b), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	secret, tok, err := tokens.New(st).Create(ctx, "bench", store.Grants{"bench": store.Write, "capped": store.Write})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	off, err := web.New(web.Options{Store: st, Logger: logger, NoQuotas: true})
	if err != nil {
		b.Fatal(err)
	}
	on, err := web.New(web.Options{Store: st, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer on.Close()
	if err := on.Quotas().SetTokenQuota(ctx, tok.ID, quota.TokenQuota{OpsPerMonth: 1 << 50}); err != nil {
		b.Fatal(err)
	}
	if _, err := on.Quotas().SetNamespaceQuota(ctx, "capped", quota.NamespaceQuota{Entries: 1 << 40, Bytes: 1 << 50}); err != nil {
		b.Fatal(err)
	}
	const keys = 1000
	data := `{"n":12345,"status":"paid","items":["a","b","c"]}`
	body := `{"data":` + data + `}`
	for _, ns := range []string{"bench", "capped"} {
		for i := range keys {
			if _, err := st.Upsert(ctx, ns, fmt.Sprintf("key-%06d", i), []byte(data), store.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	serve := func(b *testing.B, h http.Handler, method, ns string) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				var rd io.Reader
				if method == http.MethodPut {
					rd = strings.NewReader(body)
				}
				req := httptest.NewRequest(method, fmt.Sprintf("/v1/store/%s/key-%06d", ns, i%keys), rd)
				req.Header.Set("Authorization", "Bearer "+secret)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", method, w.Code, w.Body)
				}
			}
		})
	}
	// -count repeats each scenario in a row; rounds alternate them.
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("FLOWKV_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for range rounds {
		for _, m := range []string{http.MethodGet, http.MethodPut} {
			b.Run(m+"/off", func(b *testing.B) { serve(b, off.Handler(), m, "bench") })
			b.Run(m+"/on", func(b *testing.B) { serve(b, on.Handler(), m, "bench") })
		}
		b.Run("PUT/on-nsquota", func(b *testing.B) { serve(b, on.Handler(), http.MethodPut, "capped") })
	}
}
