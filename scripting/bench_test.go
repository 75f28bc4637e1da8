package scripting

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/store"
)

// Benchmarks. Figures and the command are in BENCHMARKS.md, section
// "JavaScript sandbox":
//
//	go test -run '^$' -bench . -benchtime 2000x ./scripting/

// cpuTime is the process's user+system CPU time: a cost per op that the
// machine's other load disturbs less than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportMedian adds the median of per-op durations as a metric.
func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "median-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkEmptyRun is the per-run overhead: a fresh hardened runtime with
// every binding, a (cached) compiled empty script, its event loop and the
// result's encoding.
func BenchmarkEmptyRun(b *testing.B) { benchEmpty(b, Options{}) }

// BenchmarkEmptyRunInline builds every runtime on the run's own path (no
// prepared runtimes).
func BenchmarkEmptyRunInline(b *testing.B) { benchEmpty(b, Options{Prepared: -1}) }

func benchEmpty(b *testing.B, o Options) {
	e := New(o)
	defer e.Close()
	st := openStore(b)
	ctx := context.Background()
	r := Run{Source: "", Store: st, Grants: store.AllGrants()}
	if _, err := e.Run(ctx, r); err != nil {
		b.Fatal(err)
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := e.Run(ctx, r); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/run")
	reportMedian(b, d)
}

// BenchmarkPrepare is building one hardened runtime with its bindings.
func BenchmarkPrepare(b *testing.B) {
	e := newLocal(Options{Prepared: -1})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		newRunState(e)
	}
}

// BenchmarkGojaNew is the bare runtime, for reference.
func BenchmarkGojaNew(b *testing.B) {
	prg := goja.MustCompile("", "1", false)
	for i := 0; i < b.N; i++ {
		vm := goja.New()
		if _, err := vm.RunProgram(prg); err != nil {
			b.Fatal(err)
		}
	}
}

func seedKeys(b testing.TB, st store.Store, n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := st.Upsert(ctx, "bench", fmt.Sprintf("k%04d", i), json.RawMessage(fmt.Sprintf(`{"n":%d,"tag":"item"}`, i)), store.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

const findScript = `
let sum = 0;
for (let i = 0; i < 1000; i++) {
  const e = await dataStore.findNameKey('bench', 'k' + String(i).padStart(4, '0'));
  sum += e.data.n;
}
return sum;`

// BenchmarkFindNameKeyJS: one op is a script doing 1,000 awaited
// findNameKey calls (and using each result).
func BenchmarkFindNameKeyJS(b *testing.B) {
	e := New(Options{Timeout: time.Minute})
	st := openStore(b)
	seedKeys(b, st, 1000)
	ctx := context.Background()
	r := Run{Source: findScript, Store: st, Grants: store.AllGrants()}
	res, err := e.Run(ctx, r)
	if err != nil || string(res.Value) != "499500" {
		b.Fatalf("%s %v", res.Value, err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := e.Run(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1000/1e3, "cpu-µs/call")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000/1e3, "µs/call")
}

// BenchmarkFindNameKeyGo: the same 1,000 calls from Go, through the same
// grants wrapper, decoding each value, with a deadline on the calls as a
// script run (or an HTTP request) has.
func BenchmarkFindNameKeyGo(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	benchGoFind(b, ctx)
}

// BenchmarkFindNameKeyGoNoDeadline: the same without a deadline (the
// SQLite driver then skips its per-query cancellation watcher).
func BenchmarkFindNameKeyGoNoDeadline(b *testing.B) { benchGoFind(b, context.Background()) }

func benchGoFind(b *testing.B, ctx context.Context) {
	st := openStore(b)
	seedKeys(b, st, 1000)
	g := store.WithGrants(st, store.AllGrants())
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		sum := 0
		for j := 0; j < 1000; j++ {
			e, err := g.FindNameKey(ctx, "bench", fmt.Sprintf("k%04d", j))
			if err != nil {
				b.Fatal(err)
			}
			var v struct{ N int }
			if err := json.Unmarshal(e.Data, &v); err != nil {
				b.Fatal(err)
			}
			sum += v.N
		}
		if sum != 499500 {
			b.Fatal(sum)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1000/1e3, "cpu-µs/call")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000/1e3, "µs/call")
}

// BenchmarkFindNameKeyRatio alternates the JS run and the Go loop (deadline
// context) within each op, so changes in the machine's load hit both alike,
// and reports JS throughput as a percentage of Go's.
func BenchmarkFindNameKeyRatio(b *testing.B) {
	e := New(Options{Timeout: time.Minute})
	defer e.Close()
	st := openStore(b)
	seedKeys(b, st, 1000)
	g := store.WithGrants(st, store.AllGrants())
	r := Run{Source: findScript, Store: st, Grants: store.AllGrants()}
	var js, gt time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := e.Run(context.Background(), r); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		sum := 0
		for j := 0; j < 1000; j++ {
			ent, err := g.FindNameKey(ctx, "bench", fmt.Sprintf("k%04d", j))
			if err != nil {
				b.Fatal(err)
			}
			var v struct{ N int }
			if err := json.Unmarshal(ent.Data, &v); err != nil {
				b.Fatal(err)
			}
			sum += v.N
		}
		cancel()
		t2 := time.Now()
		js += t1.Sub(t0)
		gt += t2.Sub(t1)
	}
	b.ReportMetric(float64(js.Nanoseconds())/float64(b.N)/1000/1e3, "js-µs/call")
	b.ReportMetric(float64(gt.Nanoseconds())/float64(b.N)/1000/1e3, "go-µs/call")
	b.ReportMetric(100*float64(gt)/float64(js), "js-%-of-go")
}
