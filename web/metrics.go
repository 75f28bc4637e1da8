package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Reaper is implemented by stores that delete expired entries in the
// background (sqlstore); /metrics reports the count.
type Reaper interface {
	Reaped() int64
}

// latency buckets in seconds.
var buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type reqKey struct {
	method, route string
	status        int
}

type routeKey struct{ method, route string }

type hist struct {
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	n      uint64
}

type opKey struct{ op, result string }

// metrics are the Prometheus counters, kept by hand (text format 0.0.4).
type metrics struct {
	mu   sync.Mutex
	reqs map[reqKey]uint64
	lat  map[routeKey]*hist
	ops  map[opKey]uint64
}

func newMetrics() *metrics {
	return &metrics{reqs: map[reqKey]uint64{}, lat: map[routeKey]*hist{}, ops: map[opKey]uint64{}}
}

func (m *metrics) request(method, route string, status int, d time.Duration) {
	sec := d.Seconds()
	i := sort.SearchFloat64s(buckets, sec)
	m.mu.Lock()
	m.reqs[reqKey{method, route, status}]++
	h := m.lat[routeKey{method, route}]
	if h == nil {
		h = &hist{counts: make([]uint64, len(buckets)+1)}
		m.lat[routeKey{method, route}] = h
	}
	h.counts[i]++
	h.sum += sec
	h.n++
	m.mu.Unlock()
}

func (m *metrics) op(op string, err error) {
	result := "ok"
	if err != nil {
		result = string(store.CodeOf(err))
	}
	m.mu.Lock()
	m.ops[opKey{op, result}]++
	m.mu.Unlock()
}

func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// write renders the metrics in Prometheus' text format.
func (m *metrics) write(w io.Writer, reaped *int64) {
	m.mu.Lock()
	reqs := make([]reqKey, 0, len(m.reqs))
	for k := range m.reqs {
		reqs = append(reqs, k)
	}
	sort.Slice(reqs, func(i, j int) bool {
		a, b := reqs[i], reqs[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.status < b.status
	})
	fmt.Fprintln(w, "# HELP flowkv_http_requests_total HTTP requests by method, route and status.")
	fmt.Fprintln(w, "# TYPE flowkv_http_requests_total counter")
	for _, k := range reqs {
		fmt.Fprintf(w, "flowkv_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %d\n", esc(k.method), esc(k.route), k.status, m.reqs[k])
	}
	routes := make([]routeKey, 0, len(m.lat))
	for k := range m.lat {
		routes = append(routes, k)
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].route != routes[j].route {
			return routes[i].route < routes[j].route
		}
		return routes[i].method < routes[j].method
	})
	fmt.Fprintln(w, "# HELP flowkv_http_request_duration_seconds HTTP request latency by method and route.")
	fmt.Fprintln(w, "# TYPE flowkv_http_request_duration_seconds histogram")
	for _, k := range routes {
		h := m.lat[k]
		lbl := fmt.Sprintf("method=\"%s\",route=\"%s\"", esc(k.method), esc(k.route))
		var cum uint64
		for i, b := range buckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "flowkv_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", lbl, fmtFloat(b), cum)
		}
		fmt.Fprintf(w, "flowkv_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", lbl, h.n)
		fmt.Fprintf(w, "flowkv_http_request_duration_seconds_sum{%s} %s\n", lbl, fmtFloat(h.sum))
		fmt.Fprintf(w, "flowkv_http_request_duration_seconds_count{%s} %d\n", lbl, h.n)
	}
	ops := make([]opKey, 0, len(m.ops))
	for k := range m.ops {
		ops = append(ops, k)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].op != ops[j].op {
			return ops[i].op < ops[j].op
		}
		return ops[i].result < ops[j].result
	})
	fmt.Fprintln(w, "# HELP flowkv_store_operations_total Store operations by operation and result (ok or error code).")
	fmt.Fprintln(w, "# TYPE flowkv_store_operations_total counter")
	for _, k := range ops {
		fmt.Fprintf(w, "flowkv_store_operations_total{op=\"%s\",result=\"%s\"} %d\n", esc(k.op), esc(k.result), m.ops[k])
	}
	m.mu.Unlock()
	if reaped != nil {
		fmt.Fprintln(w, "# HELP flowkv_store_entries_expired_total Expired entries removed by the store's reaper.")
		fmt.Fprintln(w, "# TYPE flowkv_store_entries_expired_total counter")
		fmt.Fprintf(w, "flowkv_store_entries_expired_total %d\n", *reaped)
	}
	fmt.Fprintln(w, "# HELP go_goroutines Goroutines that currently exist (a leak shows as growth under steady load).")
	fmt.Fprintln(w, "# TYPE go_goroutines gauge")
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
}

// countingStore counts every store operation by result.
type countingStore struct {
	store.Store
	m *metrics
}

func (s countingStore) Fetch(ctx context.Context, q store.FetchQuery) (store.Page, error) {
	p, err := s.Store.Fetch(ctx, q)
	s.m.op("fetch", err)
	return p, err
}

func (s countingStore) FindName(ctx context.Context, name string, limit, offset int) ([]store.Entry, error) {
	es, err := s.Store.FindName(ctx, name, limit, offset)
	s.m.op("findName", err)
	return es, err
}

func (s countingStore) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	e, err := s.Store.FindNameKey(ctx, name, key)
	s.m.op("findNameKey", err)
	return e, err
}

func (s countingStore) Insert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Insert(ctx, name, key, data, o)
	s.m.op("insert", err)
	return e, err
}

func (s countingStore) Upsert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Upsert(ctx, name, key, data, o)
	s.m.op("upsert", err)
	return e, err
}

func (s countingStore) Update(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Update(ctx, name, key, data, o)
	s.m.op("update", err)
	return e, err
}

func (s countingStore) Delete(ctx context.Context, name, key string, o store.DeleteOptions) (bool, error) {
	ok, err := s.Store.Delete(ctx, name, key, o)
	s.m.op("delete", err)
	return ok, err
}

func (s countingStore) Atomic(ctx context.Context, checks []store.Check, muts []store.Mutation) (store.AtomicResult, error) {
	r, err := s.Store.Atomic(ctx, checks, muts)
	s.m.op("atomic", err)
	return r, err
}

func (s countingStore) List(ctx context.Context, name, prefix, cursor string, limit int) (store.Page, error) {
	p, err := s.Store.List(ctx, name, prefix, cursor, limit)
	s.m.op("list", err)
	return p, err
}

func (s countingStore) Names(ctx context.Context) ([]store.NameCount, error) {
	n, err := s.Store.Names(ctx)
	s.m.op("names", err)
	return n, err
}
