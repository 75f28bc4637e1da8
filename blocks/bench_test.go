package blocks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/blocks/javascript"
	"github.com/flowkv/flowkv/scripting"
	"github.com/flowkv/flowkv/store"
)

// benchEngine is an engine over a fresh SQLite store; record false turns
// run records off so only the blocks' own work is measured.
func benchEngine(b *testing.B, record bool) (*blocks.Engine, store.Store) {
	e, st := newEngine(b)
	if !record {
		e = blocks.NewEngine(st, blocks.Options{RunTTL: -1})
	}
	return e, st
}

// upsertFlow is a flow of n Data Store upserts of the input.
func upsertFlow(id string, n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "id: %s\ndataStores: [bench]\nblocks:\n", id)
	for i := range n {
		fmt.Fprintf(&sb, "  - {id: b%d, type: dataStore, operation: upsert, name: bench, key: \"k%d-{{ input.i }}\", data: \"{{ input }}\"}\n", i, i)
	}
	return sb.String()
}

// BenchmarkStoreUpsertDirect is the baseline: the store call a Data Store
// upsert block makes, without the engine.
func BenchmarkStoreUpsertDirect(b *testing.B) {
	_, st := benchEngine(b, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		data := json.RawMessage(fmt.Sprintf(`{"i":%d,"name":"bench"}`, i%1000))
		if _, err := st.Upsert(ctx, "bench", fmt.Sprintf("k0-%d", i%1000), data, store.WriteOptions{FlowUUID: "f"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlowUpsertBlocks runs flows of 1 and 10 upsert blocks; compare
// ns/op/blocks with BenchmarkStoreUpsertDirect for the engine's overhead
// per block (expressions, grants and stamping wrappers, run bookkeeping).
func BenchmarkFlowUpsertBlocks(b *testing.B) {
	for _, record := range []bool{false, true} {
		for _, n := range []int{1, 10} {
			b.Run(fmt.Sprintf("blocks=%d/record=%v", n, record), func(b *testing.B) {
				e, _ := benchEngine(b, record)
				mustPut(b, e, upsertFlow("bench", n))
				ctx := context.Background()
				b.ResetTimer()
				for i := range b.N {
					in := json.RawMessage(fmt.Sprintf(`{"i":%d,"name":"bench"}`, i%1000))
					r, err := e.RunFlow(ctx, "bench", blocks.RunRequest{Input: in})
					if err != nil || r.Status != blocks.StatusSucceeded {
						b.Fatalf("%v %+v", err, r)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/block")
			})
		}
	}
}

// BenchmarkExpressions measures evaluating a typical key template.
func BenchmarkExpressions(b *testing.B) {
	in := json.RawMessage(`{"user":{"id":"u-1"},"n":3}`)
	for range b.N {
		if _, err := blocks.EvalExpression("'ratelimit:' + input.user.id + ':' + (input.n * 2)", in, nil, blocks.FlowInfo{}); err != nil {
			b.Fatal(err)
		}
	}
}

// twoBlockFlow is the benchmark flow: a Data Store upsert, then a
// JavaScript block reading the entry back through the dataStore API.
const twoBlockFlow = `
id: bench-two
dataStores: [bench]
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: bench
    key: "k-{{ input.i }}"
    data: "{{ input }}"
  - id: read
    type: javascript
    code: |
      const e = await dataStore.findNameKey('bench', 'k-' + input.i);
      return e.data.i;
`

// BenchmarkFlowUpsertThenJSRead measures runs/s of the two-block flow,
// run records on (the default).
func BenchmarkFlowUpsertThenJSRead(b *testing.B) {
	e, _ := benchEngine(b, true)
	mustPut(b, e, twoBlockFlow)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		in := json.RawMessage(fmt.Sprintf(`{"i":%d}`, i%1000))
		r, err := e.RunFlow(ctx, "bench-two", blocks.RunRequest{Input: in})
		if err != nil || r.Status != blocks.StatusSucceeded {
			b.Fatalf("%v %+v", err, r.Error)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// BenchmarkDirectUpsertThenRead is the same work without the engine: a
// store upsert and a store read.
func BenchmarkDirectUpsertThenRead(b *testing.B) {
	_, st := benchEngine(b, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("k-%d", i%1000)
		if _, err := st.Upsert(ctx, "bench", key, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i%1000)), store.WriteOptions{FlowUUID: "f"}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.FindNameKey(ctx, "bench", key); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// noopSpec is a block that evaluates a key and a data field and does
// nothing else: the engine's own cost per block.
var noopSpec = blocks.Spec{Type: "benchNoop", Label: "No-op", Fields: []blocks.Field{
	{Name: "key", Label: "Key", Type: blocks.TypeString, Required: true},
	{Name: "data", Label: "Data", Type: blocks.TypeJSON},
}}

func init() {
	blocks.Register(noopSpec, func(blocks.Config) (blocks.Block, error) {
		return blocks.BlockFunc(func(ctx context.Context, c *blocks.Call) (json.RawMessage, error) {
			if _, err := c.Fields.JSON("data"); err != nil {
				return nil, err
			}
			return json.RawMessage(`{"ok":true}`), nil
		}), nil
	})
}

// BenchmarkEngineOverheadPerBlock runs 10 no-op blocks with the same
// templated fields as the upsert blocks, run records off: ns/block is the
// engine's own cost per block (expressions, field checks, grants view,
// bookkeeping), without any database work.
func BenchmarkEngineOverheadPerBlock(b *testing.B) {
	e, _ := benchEngine(b, false)
	var sb strings.Builder
	sb.WriteString("id: noop\ndataStores: [bench]\nblocks:\n")
	for i := range 10 {
		fmt.Fprintf(&sb, "  - {id: b%d, type: benchNoop, key: \"k%d-{{ input.i }}\", data: \"{{ input }}\"}\n", i, i)
	}
	mustPut(b, e, sb.String())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		in := json.RawMessage(fmt.Sprintf(`{"i":%d,"name":"bench"}`, i%1000))
		r, err := e.RunFlow(ctx, "noop", blocks.RunRequest{Input: in})
		if err != nil || r.Status != blocks.StatusSucceeded {
			b.Fatalf("%v %+v", err, r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/block")
}

// cpuNow is the process's CPU time (user + system): unlike wall time it
// barely moves when other processes load the machine.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cost is wall and CPU time spent on one kind of operation.
type cost struct{ wall, cpu time.Duration }

func (c *cost) measure(fn func()) {
	w, p := time.Now(), cpuNow()
	fn()
	c.cpu += cpuNow() - p
	c.wall += time.Since(w)
}

// BenchmarkInterleaved times the direct store calls and the flows doing
// the same work alternately in one loop, so that load from other
// processes hits both alike, and reports the process CPU time of each as
// well as wall time (CPU time is what to compare on a busy machine).
func BenchmarkInterleaved(b *testing.B) {
	e, st := benchEngine(b, true)
	quiet := blocks.NewEngine(st, blocks.Options{RunTTL: -1})
	mustPut(b, e, upsertFlow("one", 1))
	mustPut(b, e, upsertFlow("ten", 10))
	mustPut(b, e, twoBlockFlow)
	ctx := context.Background()
	var direct, direct2, one, oneRec, ten, two cost
	run := func(eng *blocks.Engine, id string, in json.RawMessage) func() {
		return func() {
			r, err := eng.RunFlow(ctx, id, blocks.RunRequest{Input: in})
			if err != nil || r.Status != blocks.StatusSucceeded {
				b.Fatalf("%s: %v %+v", id, err, r)
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		in := json.RawMessage(fmt.Sprintf(`{"i":%d,"name":"bench"}`, i%1000))
		key := fmt.Sprintf("k0-%d", i%1000)
		direct.measure(func() {
			if _, err := st.Upsert(ctx, "bench", key, in, store.WriteOptions{FlowUUID: "f"}); err != nil {
				b.Fatal(err)
			}
		})
		direct2.measure(func() {
			if _, err := st.Upsert(ctx, "bench", "k-"+key, in, store.WriteOptions{FlowUUID: "f"}); err != nil {
				b.Fatal(err)
			}
			if _, err := st.FindNameKey(ctx, "bench", "k-"+key); err != nil {
				b.Fatal(err)
			}
		})
		one.measure(run(quiet, "one", in))
		oneRec.measure(run(e, "one", in))
		ten.measure(run(quiet, "ten", in))
		two.measure(run(e, "bench-two", in))
	}
	b.StopTimer()
	n := float64(b.N)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / n / 1000 }
	b.ReportMetric(us(direct.cpu), "direct-upsert-cpu-us")
	b.ReportMetric(us(one.cpu), "flow1-cpu-us")
	b.ReportMetric(us(oneRec.cpu), "flow1-recorded-cpu-us")
	b.ReportMetric((us(ten.cpu)-10*us(direct.cpu))/10, "overhead-per-block-cpu-us")
	b.ReportMetric(us(direct2.cpu), "direct-upsert+read-cpu-us")
	b.ReportMetric(us(two.cpu), "two-block-cpu-us")
	b.ReportMetric(us(two.cpu)/us(direct2.cpu), "two-block/direct-cpu-ratio")
	b.ReportMetric(us(direct.wall), "direct-upsert-wall-us")
	b.ReportMetric(us(ten.wall)/10, "flow10-wall-us/block")
	b.ReportMetric(us(two.wall), "two-block-wall-us")
}

// BenchmarkJSBlockIsolation: runs/s of the two-block flow (Data Store upsert
// + JavaScript read, recorded) with the JavaScript block in a sandbox worker
// and in-process (scripting.Options.InProcess, for measuring only),
// alternating rounds of 20 runs so the machine's load hits both alike.
func BenchmarkJSBlockIsolation(b *testing.B) {
	e, _ := benchEngine(b, true)
	worker := scripting.New(scripting.Options{})
	defer worker.Close()
	inproc := scripting.New(scripting.Options{InProcess: true})
	defer inproc.Close()
	defer javascript.SetEngine(nil)
	mustPut(b, e, twoBlockFlow)
	ctx := context.Background()
	const round = 20
	var tw, ti time.Duration
	var nw, ni int
	b.ResetTimer()
	for i := 0; i < b.N; i += round {
		for side, eng := range []*scripting.Engine{worker, inproc} {
			javascript.SetEngine(eng)
			t0 := time.Now()
			for j := 0; j < round; j++ {
				in := json.RawMessage(fmt.Sprintf(`{"i":%d}`, (i+j)%1000))
				r, err := e.RunFlow(ctx, "bench-two", blocks.RunRequest{Input: in})
				if err != nil || r.Status != blocks.StatusSucceeded {
					b.Fatalf("%v %+v", err, r.Error)
				}
			}
			if side == 0 {
				tw += time.Since(t0)
				nw += round
			} else {
				ti += time.Since(t0)
				ni += round
			}
		}
	}
	b.StopTimer()
	rw, ri := float64(nw)/tw.Seconds(), float64(ni)/ti.Seconds()
	b.ReportMetric(rw, "worker-runs/s")
	b.ReportMetric(ri, "inproc-runs/s")
	b.ReportMetric(100*rw/ri, "worker-%-of-inproc")
}

// BenchmarkRunRetention prices pruning run records (the default: newest
// 100 per flow, at most 10 MiB, pruned every 10 runs) against recording
// without retention, on a one-upsert flow: the side-by-side pair of
// BENCHMARKS.md's retention row.
func BenchmarkRunRetention(b *testing.B) {
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprintf("retention=%v", keep), func(b *testing.B) {
			_, st := newEngine(b)
			opts := blocks.Options{RunKeep: -1, RunMaxBytes: -1}
			if keep {
				opts = blocks.Options{}
			}
			e := blocks.NewEngine(st, opts)
			mustPut(b, e, upsertFlow("bench", 1))
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := e.RunFlow(ctx, "bench", blocks.RunRequest{Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i%1000))}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
