package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowkv/flowkv/store"
)

// Reaper is implemented by stores that delete expired entries in the
// background (sqlstore); /metrics reports the count.
type Reaper interface {
	Reaped() int64
}

// GroupCommitter is implemented by stores that commit concurrent writes in
// shared transactions (sqlstore): writes that ran alone, transactions of
// several writes, and the writes those held.
type GroupCommitter interface {
	GroupCommitCounts() (solo, batches, batched int64)
}

// latency buckets in seconds.
var buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Every label value comes from a closed set, so no request can add a
// series: the method is one of knownMethods or "other", the route is the
// template echo matched ("/v1/store/:name/:key", never the raw path) or
// unmatchedRoute, the status is a number 100-599 or "other".
var knownMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions, http.MethodConnect: http.MethodConnect, http.MethodTrace: http.MethodTrace,
}

const (
	otherLabel     = "other"
	unmatchedRoute = "unmatched"
)

// methodLabel is the metrics and log label for a request method.
func methodLabel(m string) string {
	if l, ok := knownMethods[m]; ok {
		return l
	}
	return otherLabel
}

var statusLabels = func() []string {
	s := make([]string, 600)
	for i := 100; i < 600; i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 100 && code < 600 {
		return statusLabels[code]
	}
	return otherLabel
}

// metrics are flowkv's Prometheus metrics, with the Go runtime and process
// collectors, in a registry of the Server's own (not the global one, so
// two servers in one test binary do not collide).
type metrics struct {
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	lat     *prometheus.HistogramVec
	ops     *prometheus.CounterVec
	handler http.Handler
	// series caches each label combination's counter and histogram, so a
	// request costs one map read instead of the vectors' label hashing
	// (bounded: the labels are a closed set).
	series sync.Map // seriesKey → series
	// opSeries caches the store operation counters the same way.
	opSeries sync.Map // [2]string{op, result} → prometheus.Counter
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	reqs prometheus.Counter
	lat  prometheus.Observer
}

// metricsInFlight bounds concurrent /metrics scrapes (each reads /proc and
// the runtime's statistics); more answer 503.
const metricsInFlight = 4

func newMetrics(st store.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowkv_http_requests_total",
			Help: "HTTP requests by method (known methods, else other), route template (unmatched when none) and status.",
		}, []string{"method", "route", "status"}),
		lat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowkv_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: buckets,
		}, []string{"method", "route"}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowkv_store_operations_total",
			Help: "Store operations by operation and result (ok or error code).",
		}, []string{"op", "result"}),
	}
	m.reg.MustRegister(m.reqs, m.lat, m.ops,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if r, ok := st.(Reaper); ok {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "flowkv_store_entries_expired_total",
			Help: "Expired entries removed by the store's reaper.",
		}, func() float64 { return float64(r.Reaped()) }))
	}
	if g, ok := st.(GroupCommitter); ok {
		counter := func(name, help string, pick func(solo, batches, batched int64) int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
				return float64(pick(g.GroupCommitCounts()))
			})
		}
		m.reg.MustRegister(
			counter("flowkv_store_writes_solo_total", "Store writes committed alone (no other write was waiting).",
				func(solo, _, _ int64) int64 { return solo }),
			counter("flowkv_store_commit_batches_total", "Store transactions that committed several waiting writes at once.",
				func(_, batches, _ int64) int64 { return batches }),
			counter("flowkv_store_writes_batched_total", "Store writes applied in those shared transactions.",
				func(_, _, batched int64) int64 { return batched }))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: metricsInFlight,
		ErrorHandling:       promhttp.ContinueOnError,
	})
	return m
}

// request records one answered request. method and route must already be
// labels (methodLabel, a route template or unmatchedRoute).
func (m *metrics) request(method, route string, status int, sec float64) {
	k := seriesKey{method, route, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, series{
			reqs: m.reqs.WithLabelValues(method, route, statusLabel(status)),
			lat:  m.lat.WithLabelValues(method, route),
		})
	}
	s := v.(series)
	s.reqs.Inc()
	s.lat.Observe(sec)
}

func (m *metrics) op(op string, err error) {
	result := "ok"
	if err != nil {
		result = otherLabel
		if c := store.CodeOf(err); store.Known(c) {
			result = string(c)
		}
	}
	k := [2]string{op, result}
	v, ok := m.opSeries.Load(k)
	if !ok {
		v, _ = m.opSeries.LoadOrStore(k, m.ops.WithLabelValues(op, result))
	}
	v.(prometheus.Counter).Inc()
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

func (s countingStore) ReadRanges(ctx context.Context, name string, r []store.KeyRange) ([][]store.Entry, error) {
	es, err := s.Store.ReadRanges(ctx, name, r)
	s.m.op("readRanges", err)
	return es, err
}

func (s countingStore) Names(ctx context.Context) ([]store.NameCount, error) {
	n, err := s.Store.Names(ctx)
	s.m.op("names", err)
	return n, err
}

func (s countingStore) Query(ctx context.Context, q store.Query) (store.QueryPage, error) {
	p, err := s.Store.Query(ctx, q)
	s.m.op("query", err)
	return p, err
}

func (s countingStore) CreateIndex(ctx context.Context, name, field string) (store.Index, error) {
	ix, err := s.Store.CreateIndex(ctx, name, field)
	s.m.op("createIndex", err)
	return ix, err
}

func (s countingStore) DropIndex(ctx context.Context, name, field string) (bool, error) {
	ok, err := s.Store.DropIndex(ctx, name, field)
	s.m.op("dropIndex", err)
	return ok, err
}

func (s countingStore) Indexes(ctx context.Context, name string) ([]store.Index, error) {
	ix, err := s.Store.Indexes(ctx, name)
	s.m.op("indexes", err)
	return ix, err
}
