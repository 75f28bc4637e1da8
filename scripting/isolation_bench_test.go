package scripting

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// What isolation costs: each op runs the same thing once through a warm
// sandbox worker and once in-process (Options.InProcess), alternating, so
// the machine's load hits both sides alike. Figures in BENCHMARKS.md,
// section "JavaScript sandbox: the cost of isolation":
//
//	go test -run '^$' -bench 'Isolation|WorkerStart' -benchtime 2000x -count 3 ./scripting/

// BenchmarkIsolationEmptyRun: an empty script, worker vs in-process.
func BenchmarkIsolationEmptyRun(b *testing.B) {
	st := openStore(b)
	r := Run{Source: "", Store: st, Grants: store.AllGrants()}
	benchAlternate(b, r, 1, "run")
}

// BenchmarkIsolationFindNameKey: a script doing 1,000 awaited findNameKey
// calls, worker vs in-process, per call; each round also times the same
// calls made from Go, for the goal "Go call + 25 µs".
func BenchmarkIsolationFindNameKey(b *testing.B) {
	st := openStore(b)
	seedKeys(b, st, 1000)
	r := Run{Source: findScript, Store: st, Grants: store.AllGrants()}
	g := store.WithGrants(st, store.AllGrants())
	goSide := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for j := 0; j < 1000; j++ {
			if _, err := g.FindNameKey(ctx, "bench", fmt.Sprintf("k%04d", j)); err != nil {
				b.Fatal(err)
			}
		}
	}
	benchAlternate(b, r, 1000, "call", goSide)
}

func benchAlternate(b *testing.B, r Run, per int, unit string, more ...func()) {
	worker := New(Options{Timeout: time.Minute})
	defer worker.Close()
	inproc := New(Options{Timeout: time.Minute, InProcess: true})
	defer inproc.Close()
	ctx := context.Background()
	for _, e := range []*Engine{worker, inproc} {
		if _, err := e.Run(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	dw := make([]time.Duration, 0, b.N)
	di := make([]time.Duration, 0, b.N)
	dg := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := worker.Run(ctx, r); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := inproc.Run(ctx, r); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		for _, f := range more {
			f()
		}
		t3 := time.Now()
		dw = append(dw, t1.Sub(t0))
		di = append(di, t2.Sub(t1))
		dg = append(dg, t3.Sub(t2))
	}
	b.StopTimer()
	mw, mi := median(dw)/float64(per), median(di)/float64(per)
	b.ReportMetric(mw, "worker-µs/"+unit)
	b.ReportMetric(mi, "inproc-µs/"+unit)
	b.ReportMetric(mw-mi, "added-µs/"+unit)
	if len(more) > 0 {
		mg := median(dg) / float64(per)
		b.ReportMetric(mg, "go-µs/"+unit)
		b.ReportMetric(mw-mg, "worker-minus-go-µs/"+unit)
	}
}

// median in microseconds.
func median(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return float64(s[len(s)/2].Nanoseconds()) / 1e3
}

// BenchmarkWorkerStart is the time to replace a killed worker: start a
// worker process and wait until it is ready under its limits.
func BenchmarkWorkerStart(b *testing.B) {
	e := New(Options{})
	defer e.Close()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		w, err := e.start()
		if err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
		w.kill()
		<-w.dead
	}
	b.StopTimer()
	reportMedian(b, d)
}
