// Command flowkv-load measures the HTTP API on loopback: in one run it
// starts a flowkv server (package web over embedded SQLite, with the flow
// engine, one log line per request formatted and discarded) and an echo
// server that answers a constant JSON body, then drives GET and PUT
// /v1/store/{name}/{key} at both with the same closed-loop client (N
// connections, each sending its next request when the previous answer is
// read) and prints requests/s and latency percentiles as a Markdown table.
//
//	go run ./cmd/flowkv-load -c 64 -d 10s
//
// -postgres DSN serves a second flowkv from a fresh database on that
// PostgreSQL server beside the SQLite one; -hook adds a webhook flow whose
// one block upserts the entry a PUT writes (POST /hooks/bench-hook). Every
// scenario alternates with the others in rounds. With -url and -token it
// drives an already running flowkv instead.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all" // the block types of the webhook flow
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/internal/torture"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

func main() {
	conns := flag.Int("c", 64, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "measured duration per scenario")
	warm := flag.Duration("warmup", time.Second, "warm-up before each measured round (not measured)")
	keys := flag.Int("keys", 1000, "distinct keys read and written")
	target := flag.String("url", "", "drive this running flowkv (base URL) instead of an in-process one")
	token := flag.String("token", os.Getenv("FLOWKV_TOKEN"), "token for -url (env FLOWKV_TOKEN)")
	tokenCache := flag.Duration("token-cache", 0, "the in-process server's web.Options.TokenCache (0: the default bound, 1s; negative: verify every request against the database)")
	dsn := flag.String("dsn", "", "database of the in-process server (default: SQLite in a temp dir)")
	pg := flag.String("postgres", "", "also serve a flowkv from a fresh database on this PostgreSQL server (postgres://…/db, e.g. $FLOWKV_TEST_POSTGRES), dropped at the end")
	hook := flag.Bool("hook", false, "add the webhook scenario: POST /hooks/bench-hook runs a flow whose one block upserts the entry a PUT writes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (client and in-process servers) here")
	only := flag.String("only", "", "run only the scenarios whose name contains this (or one of these, comma-separated)")
	nrounds := flag.Int("rounds", 5, "split -d into this many rounds, alternating the scenarios")
	useWrk := flag.Bool("wrk", false, "drive the load with wrk (Debian package wrk) instead of the Go client")
	wrkThreads := flag.Int("wrk-threads", 2, "wrk threads")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *conns < 1 || *dur <= 0 || *keys < 1 || *nrounds < 1 {
		log.Fatal("flowkv-load: -c, -d, -rounds and -keys must be positive")
	}

	constURL, stopConst := startConstant()
	defer stopConst()
	type server struct{ label, base, token string }
	var servers []server
	if *target == "" {
		base, tok, stop := startFlowkv(*dsn, *tokenCache, *hook)
		defer stop()
		servers = append(servers, server{"", base, tok})
		if *pg != "" {
			fresh, drop, err := torture.FreshPostgres(context.Background(), *pg)
			if err != nil {
				log.Fatalf("flowkv-load: -postgres: %v", err)
			}
			defer drop()
			base, tok, stop := startFlowkv(fresh, *tokenCache, *hook)
			defer stop()
			servers[0].label = " (SQLite)"
			servers = append(servers, server{" (PostgreSQL)", base, tok})
		}
	} else if *token == "" {
		log.Fatal("flowkv-load: -url needs -token")
	} else {
		servers = append(servers, server{"", strings.TrimRight(*target, "/"), *token})
	}

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        *conns * 2,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}}
	for _, sv := range servers {
		seed(client, sv.base, sv.token, *keys)
	}

	scenarios := []scenario{
		{name: "constant JSON (echo)", method: "GET", base: constURL, path: keyPath},
		{name: "constant JSON (echo) PUT", method: "PUT", base: constURL, path: keyPath, body: putBody},
	}
	// ratios pairs each flowkv scenario with the one it is measured against.
	var ratios [][2]string
	for _, sv := range servers {
		get := scenario{name: "flowkv GET" + sv.label, method: "GET", base: sv.base, token: sv.token, path: keyPath}
		put := scenario{name: "flowkv PUT" + sv.label, method: "PUT", base: sv.base, token: sv.token, path: keyPath, body: putBody}
		scenarios = append(scenarios, get, put)
		ratios = append(ratios, [2]string{get.name, scenarios[0].name}, [2]string{put.name, scenarios[1].name})
		if *hook {
			h := scenario{name: "webhook flow run" + sv.label, method: "POST", base: sv.base, path: hookPath, body: hookBody}
			scenarios = append(scenarios, h)
			ratios = append(ratios, [2]string{h.name, put.name})
		}
	}
	gen := "Go client"
	if *useWrk {
		gen = "wrk"
	}
	fmt.Printf("flowkv-load (%s): %d connections, %s per scenario in %d rounds (each after %s warm-up), %d keys, GOMAXPROCS=%d, %s\n\n",
		gen, *conns, *dur, *nrounds, *warm, *keys, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Println("| scenario | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU µs/request |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	// Scenarios alternate in rounds so that a change of load on a shared
	// machine hits the compared servers alike; every round warms up first.
	var picked []scenario
	for _, sc := range scenarios {
		if *only == "" || slices.ContainsFunc(strings.Split(*only, ","), func(o string) bool { return strings.Contains(sc.name, o) }) {
			picked = append(picked, sc)
		}
	}
	rounds := make(map[string][]result)
	per := *dur / time.Duration(*nrounds)
	for range *nrounds {
		for _, sc := range picked {
			if *useWrk {
				runWrk(sc, *conns, *wrkThreads, *warm, *keys)
				rounds[sc.name] = append(rounds[sc.name], runWrk(sc, *conns, *wrkThreads, per, *keys))
			} else {
				run(client, sc, *conns, *warm, *keys)
				rounds[sc.name] = append(rounds[sc.name], run(client, sc, *conns, per, *keys))
			}
		}
	}
	res := map[string]result{}
	for _, sc := range picked {
		r := merge(rounds[sc.name])
		res[sc.name] = r
		cpu := "-"
		if r.requests > 0 {
			cpu = fmt.Sprintf("%.1f", float64(r.cpu.Microseconds())/float64(r.requests))
		}
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %s |\n", sc.name, r.rps,
			ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.pct(100)), r.errors, cpu)
	}
	fmt.Println()
	for _, r := range ratios {
		num, den := res[r[0]], res[r[1]]
		if num.requests+int64(len(num.lat)) == 0 || den.requests+int64(len(den.lat)) == 0 {
			continue
		}
		var per []float64
		for i := range *nrounds {
			per = append(per, rounds[r[0]][i].rps/rounds[r[1]][i].rps)
		}
		perText := make([]string, len(per))
		for i, v := range per {
			perText[i] = fmt.Sprintf("%.0f%%", 100*v)
		}
		slices.Sort(per)
		cpu := ""
		if num.requests > 0 && den.requests > 0 {
			// The requests/s ratio CPU-bound servers would have.
			cpu = fmt.Sprintf("; by server CPU per request %.0f%%", 100*cpuPer(den)/cpuPer(num))
		}
		fmt.Printf("%s / %s = %.0f%% (median of the rounds %.0f%%: %s)%s\n",
			r[0], r[1], 100*num.rps/den.rps, 100*per[len(per)/2], strings.Join(perText, " "), cpu)
	}
}

func cpuPer(r result) float64 { return float64(r.cpu) / float64(r.requests) }

// merge combines rounds: mean requests/s; latencies pooled (Go client) or,
// for wrk's percentiles, the median of the rounds' values.
func merge(rs []result) result {
	var out result
	for _, r := range rs {
		out.rps += r.rps / float64(len(rs))
		out.errors += r.errors
		out.lat = append(out.lat, r.lat...)
		out.requests += r.requests
		out.cpu += r.cpu
	}
	slices.Sort(out.lat)
	if rs[0].wrkPct != nil {
		out.wrkPct = map[float64]time.Duration{}
		for p := range rs[0].wrkPct {
			var v []time.Duration
			for _, r := range rs {
				v = append(v, r.wrkPct[p])
			}
			slices.Sort(v)
			out.wrkPct[p] = v[len(v)/2]
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scenario is one kind of request: path and body are formats given the
// request's key number (%06d), in Go and in wrk's Lua alike.
type scenario struct {
	name, method, base, token string
	path, body                string
}

const (
	keyPath  = "/v1/store/bench/key-%06d"
	putBody  = `{"data":{"n":12345,"status":"paid","items":["a","b","c"]}}`
	hookPath = "/hooks/bench-hook"
	// hookBody is the flow's input: the block upserts input.data under
	// input.id, the entry a PUT of putBody writes.
	hookBody = `{"id":"key-%06d","data":{"n":12345,"status":"paid","items":["a","b","c"]}}`
	// hookFlow is that flow: a webhook trigger and one upsert block.
	hookFlow = `{"id":"bench-hook","dataStores":["bench"],"trigger":{"type":"webhook"},` +
		`"blocks":[{"id":"save","type":"dataStore","operation":"upsert","name":"bench","key":"{{ input.id }}","data":"{{ input.data }}"}]}`
)

// format fills the key number into f when it has a place for it.
func format(f string, k int) string {
	if !strings.Contains(f, "%06d") {
		return f
	}
	return fmt.Sprintf(f, k)
}

type result struct {
	rps    float64
	lat    []time.Duration // sorted
	errors int64
	// wrk reports percentiles itself.
	wrkPct map[float64]time.Duration
	// requests and cpu: with wrk (another process) this process holds only
	// the servers, so its CPU time per request is the server's cost,
	// which load on a shared machine disturbs far less than requests/s.
	requests int64
	cpu      time.Duration
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r result) pct(p float64) time.Duration {
	if r.wrkPct != nil {
		return r.wrkPct[p]
	}
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	i = max(0, min(i, len(r.lat)-1))
	return r.lat[i]
}

// run drives sc with conns closed-loop workers for d.
func run(client *http.Client, sc scenario, conns int, d time.Duration, keys int) result {
	var errs atomic.Int64
	var total atomic.Int64
	lats := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			own := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) {
				k := rng.IntN(keys)
				var rd io.Reader
				if sc.body != "" {
					rd = strings.NewReader(format(sc.body, k))
				}
				req, _ := http.NewRequest(sc.method, sc.base+format(sc.path, k), rd)
				if sc.token != "" {
					req.Header.Set("Authorization", "Bearer "+sc.token)
				}
				if rd != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				t0 := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				own = append(own, time.Since(t0))
				total.Add(1)
				if err != nil {
					errs.Add(1)
				}
			}
			lats[w] = own
		}()
	}
	wg.Wait()
	el := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	return result{rps: float64(total.Load()) / el.Seconds(), lat: all, errors: errs.Load()}
}

// seed writes every key once so GETs find them.
func seed(client *http.Client, base, tok string, keys int) {
	for i := range keys {
		req, _ := http.NewRequest("PUT", base+format(keyPath, i), strings.NewReader(putBody))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			log.Fatalf("flowkv-load: seed: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			log.Fatalf("flowkv-load: seed: status %d", res.StatusCode)
		}
	}
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

// startConstant serves a constant JSON body the size of an entry answer
// from echo for GET and PUT /v1/store/:name/:key.
func startConstant() (string, func()) {
	body, _ := json.Marshal(store.Entry{
		Name: "bench", Key: "key-000001", Data: json.RawMessage(`{"items":["a","b","c"],"n":12345,"status":"paid"}`),
		Version: 1234, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
	})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	e.GET("/v1/store/:name/:key", h)
	e.PUT("/v1/store/:name/:key", h)
	ln := listen()
	hs := &http.Server{Handler: e}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Close() }
}

// startFlowkv serves the real API (web.Server) over a store, with the flow
// engine as flowkv serve wires it (one quota manager for both), and with
// hook the webhook flow bench-hook saved.
func startFlowkv(dsn string, tokenCache time.Duration, hook bool) (string, string, func()) {
	ctx := context.Background()
	dir := ""
	if dsn == "" {
		var err error
		dir, err = os.MkdirTemp("", "flowkv-load-")
		if err != nil {
			log.Fatal(err)
		}
		dsn = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		log.Fatalf("flowkv-load: open %s: %v", dsn, err)
	}
	tok, _, err := tokens.New(st).Create(ctx, "bench", store.Grants{"bench": store.Write}, tokens.ScopeFlows)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	quotas, err := quota.Open(ctx, st, quota.Options{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	engine := blocks.NewEngine(quotas.Namespaces(st), blocks.Options{Logger: logger})
	srv, err := web.New(web.Options{Store: st, Logger: logger, TokenCache: tokenCache, Quotas: quotas,
		Extra: map[string]any{"flows": engine}})
	if err != nil {
		log.Fatal(err)
	}
	ln := listen()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln, 5*time.Second); err != nil {
			log.Print(err)
		}
	}()
	base := "http://" + ln.Addr().String()
	if hook {
		req, _ := http.NewRequest("PUT", base+"/v1/flows/bench-hook", strings.NewReader(hookFlow))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatalf("flowkv-load: saving the webhook flow: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			log.Fatalf("flowkv-load: saving the webhook flow: %d %s", res.StatusCode, b)
		}
	}
	return base, tok, func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		engine.Shutdown(sctx)
		scancel()
		quotas.Close()
		st.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
}

// wrkScript picks a random key per request and sets method, token, path
// and body (string.format ignores the key when the format has no place for
// it).
const wrkScript = `
local keys = %d
local token = %q
local method = %q
local path = %q
local body = %q
init = function(args)
  math.randomseed(os.time() + math.random(1, 100000))
end
request = function()
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local k = math.random(0, keys - 1)
  local b = nil
  if body ~= "" then
    headers["Content-Type"] = "application/json"
    b = string.format(body, k)
  end
  return wrk.format(method, string.format(path, k), headers, b)
end
done = function(summary, latency, requests)
  io.write(string.format("FLOWKV %%d %%d %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, 0))
end
`

// runWrk drives sc with wrk for d and parses the numbers the script prints.
func runWrk(sc scenario, conns, threads int, d time.Duration, keys int) result {
	f, err := os.CreateTemp("", "flowkv-load-*.lua")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	fmt.Fprintf(f, wrkScript, keys, sc.token, sc.method, sc.path, sc.body)
	f.Close()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cpu0 := processCPU()
	cmd := exec.Command("wrk", "-t", fmt.Sprint(threads), "-c", fmt.Sprint(conns), "-d", fmt.Sprintf("%ds", secs),
		"--timeout", "10s", "-s", f.Name(), sc.base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Fatalf("flowkv-load: wrk: %v: %s", err, out)
	}
	cpu := processCPU() - cpu0
	for _, line := range strings.Split(string(out), "\n") {
		var n, durUs, errs, p50, p90, p99, mx, z int64
		if _, err := fmt.Sscanf(line, "FLOWKV %d %d %d %d %d %d %d %d", &n, &durUs, &errs, &p50, &p90, &p99, &mx, &z); err == nil {
			us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
			return result{rps: float64(n) / (float64(durUs) / 1e6), errors: errs, requests: n, cpu: cpu,
				wrkPct: map[float64]time.Duration{50: us(p50), 90: us(p90), 99: us(p99), 100: us(mx)}}
		}
	}
	log.Fatalf("flowkv-load: no numbers in wrk's output: %s", out)
	return result{}
}
