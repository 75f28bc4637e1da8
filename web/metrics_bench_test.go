package web

import (
	"sort"
	"sync"
	"testing"
)

// handMetrics is the recording path of the hand-written exporter that
// client_golang replaced (one mutex, maps keyed by the labels), kept here
// only as the benchmark's reference.
type handMetrics struct {
	mu   sync.Mutex
	reqs map[[3]string]uint64
	lat  map[[2]string]*[16]uint64
	sums map[[2]string]float64
}

func (m *handMetrics) request(method, route string, status int, sec float64) {
	i := sort.SearchFloat64s(buckets, sec)
	m.mu.Lock()
	m.reqs[[3]string{method, route, statusLabel(status)}]++
	h := m.lat[[2]string{method, route}]
	if h == nil {
		h = new([16]uint64)
		m.lat[[2]string{method, route}] = h
	}
	h[i]++
	m.sums[[2]string{method, route}] += sec
	m.mu.Unlock()
}

// BenchmarkMetricsRequest: the cost per request of recording the request
// metrics, client_golang against the hand-written recorder it replaced,
// side by side in one run (RunParallel, as requests arrive):
//
//	go test -run '^$' -bench MetricsRequest -benchtime 2s -count 5 ./web/
func BenchmarkMetricsRequest(b *testing.B) {
	routes := []string{"/v1/store/:name/:key", "/v1/store/:name", "/healthz", "/v1/atomic"}
	methods := []string{"GET", "PUT", "GET", "POST"}
	run := func(b *testing.B, rec func(method, route string, status int, sec float64)) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				rec(methods[i%4], routes[i%4], 200+(i%2)*204, 0.0003)
			}
		})
	}
	b.Run("client_golang", func(b *testing.B) {
		m := newMetrics(nil)
		run(b, m.request)
	})
	b.Run("hand-written", func(b *testing.B) {
		m := &handMetrics{reqs: map[[3]string]uint64{}, lat: map[[2]string]*[16]uint64{}, sums: map[[2]string]float64{}}
		run(b, m.request)
	})
}
