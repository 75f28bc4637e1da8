package torture

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SoakConfig configures a soak: a measured peak, then a long run at a
// fraction of it.
type SoakConfig struct {
	Server *Server
	// Duration of the soak (default 30 minutes).
	Duration time.Duration
	// Warmup is excluded from the drift and flatness checks (default
	// Duration/6, at least 1 minute when Duration allows).
	Warmup time.Duration
	// PeakFor is how long the peak is measured (default 15s); Rate, when
	// > 0, skips the measurement.
	PeakFor time.Duration
	Rate    float64
	// Fraction of the peak to run at (default 0.5).
	Fraction float64
	// Window is the sampling period (default 10s).
	Window time.Duration
	// Keys in the working set (default 20,000).
	Keys int
	// Out receives one JSON line per window (may be nil).
	Out  io.Writer
	Logf func(format string, args ...any)
}

// SoakWindow is one sampling period.
type SoakWindow struct {
	At       time.Duration `json:"at"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Late     int           `json:"late"` // ticks with no free worker
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	RSSKiB   int64         `json:"rssKiB"`
	FDs      int           `json:"fds"`
	Threads  int           `json:"threads"`
	WALBytes int64         `json:"walBytes"`
	DBBytes  int64         `json:"dbBytes"`
	Expired  int64         `json:"expired"` // reaper's total
}

// SoakResult summarises a soak.
type SoakResult struct {
	PeakRate   float64       `json:"peakRate"`
	Rate       float64       `json:"rate"`
	Duration   time.Duration `json:"duration"`
	Warmup     time.Duration `json:"warmup"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	Late       int           `json:"late"`
	ErrorRate  float64       `json:"errorRate"`
	P99First   time.Duration `json:"p99First"` // after warm-up
	P99Last    time.Duration `json:"p99Last"`
	P99Drift   float64       `json:"p99Drift"`
	RSSFirst   int64         `json:"rssFirstKiB"`
	RSSLast    int64         `json:"rssLastKiB"`
	RSSMax     int64         `json:"rssMaxKiB"`
	FDsFirst   int           `json:"fdsFirst"`
	FDsLast    int           `json:"fdsLast"`
	FDsMax     int           `json:"fdsMax"`
	ThreadsMax int           `json:"threadsMax"`
	WALMax     int64         `json:"walMaxBytes"`
	Expired    int64         `json:"expired"`
	ErrorKinds map[string]int
	Windows    []SoakWindow `json:"-"`
}

func (r SoakResult) String() string {
	return fmt.Sprintf("peak=%.0f/s rate=%.0f/s duration=%s (warm-up %s) requests=%d errors=%d (%.4f%%) late=%d p99 %s→%s (drift %+.1f%%) rss %d→%d KiB (max %d) fds %d→%d (max %d) threads max %d WAL max %.1f MiB expired=%d kinds=%v",
		r.PeakRate, r.Rate, r.Duration.Round(time.Second), r.Warmup, r.Requests, r.Errors, 100*r.ErrorRate, r.Late,
		r.P99First.Round(time.Microsecond), r.P99Last.Round(time.Microsecond), 100*r.P99Drift,
		r.RSSFirst, r.RSSLast, r.RSSMax, r.FDsFirst, r.FDsLast, r.FDsMax, r.ThreadsMax, float64(r.WALMax)/(1<<20), r.Expired, r.ErrorKinds)
}

type soakLoad struct {
	cl   *Client
	keys int
	name string
	mu   sync.Mutex
	lat  []time.Duration
	errs int
	n    int
	kind map[string]int
}

// op is one request of the mix: 60% get, 25% put with a TTL, 5% put
// without, 5% delete, 5% Database-module put with a TTL.
func (l *soakLoad) op(rng *rand.Rand) {
	k := "k" + strconv.Itoa(rng.IntN(l.keys))
	p := EntryPath(l.name, k)
	var r Reply
	var err error
	t0 := time.Now()
	ok := func(st ...int) bool { return err == nil && slices.Contains(st, r.Status) }
	good := false
	switch n := rng.IntN(100); {
	case n < 60:
		r, err = l.cl.Do(context.Background(), http.MethodGet, p, nil, nil)
		good = ok(200, 404)
	case n < 85:
		r, err = l.cl.Do(context.Background(), http.MethodPut, p, map[string]any{
			"data": map[string]any{"n": n, "s": "soak value " + k}, "ttl": 5 + rng.IntN(55)}, nil)
		good = ok(200)
	case n < 90:
		r, err = l.cl.Do(context.Background(), http.MethodPut, p, map[string]any{"data": n}, nil)
		good = ok(200)
	case n < 95:
		r, err = l.cl.Do(context.Background(), http.MethodDelete, p, nil, nil)
		good = ok(200)
	default:
		r, err = l.cl.Do(context.Background(), http.MethodPost, "/v1/operations/data", map[string]any{
			"key": "soak-" + k, "value": n, "ttl": 10 + rng.IntN(50)}, nil)
		good = ok(200, 201)
	}
	d := time.Since(t0)
	l.mu.Lock()
	l.n++
	l.lat = append(l.lat, d)
	if !good {
		l.errs++
		what := fmt.Sprint(err)
		if err == nil {
			what = fmt.Sprintf("%d %s", r.Status, r.Code)
		}
		l.kind[what]++
	}
	l.mu.Unlock()
}

func (l *soakLoad) take() (n, errs int, lat []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, errs, lat = l.n, l.errs, l.lat
	l.n, l.errs, l.lat = 0, 0, nil
	return
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*p/100)]
}

// RunSoak measures the peak rate (closed loop, 32 clients) unless
// cfg.Rate is set, then runs open loop at cfg.Fraction of it.
func RunSoak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 30 * time.Minute
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = min(max(cfg.Duration/6, time.Minute), cfg.Duration/3)
	}
	if cfg.PeakFor == 0 {
		cfg.PeakFor = 15 * time.Second
	}
	if cfg.Fraction == 0 {
		cfg.Fraction = 0.5
	}
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.Keys == 0 {
		cfg.Keys = 20000
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	srv := cfg.Server
	l := &soakLoad{cl: NewClient(srv.URL, srv.Token, 64), keys: cfg.Keys, name: "soak", kind: map[string]int{}}
	defer l.cl.Close()
	res := SoakResult{Rate: cfg.Rate, Warmup: cfg.Warmup, ErrorKinds: l.kind}

	if res.Rate == 0 {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for c := 0; c < 32; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), 1))
				for !stop.Load() {
					l.op(rng)
				}
			}(c)
		}
		time.Sleep(cfg.PeakFor)
		stop.Store(true)
		wg.Wait()
		n, errs, lat := l.take()
		res.PeakRate = float64(n) / cfg.PeakFor.Seconds()
		res.Rate = res.PeakRate * cfg.Fraction
		logf("peak: %.0f requests/s (32 clients, %d errors, p99 %s); soaking at %.0f/s for %s",
			res.PeakRate, errs, pct(lat, 99), res.Rate, cfg.Duration)
	}

	// Open loop: a ticker hands work to a pool; a tick with no free
	// worker is counted late (the server fell behind).
	work := make(chan struct{}, 256)
	var late atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 2))
			for range work {
				l.op(rng)
			}
		}(c)
	}
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	go func() {
		defer close(work)
		interval := time.Duration(float64(time.Second) / res.Rate)
		next := time.Now()
		for runCtx.Err() == nil {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			select {
			case work <- struct{}{}:
			default:
				late.Add(1)
			}
		}
	}()
	tick := time.NewTicker(cfg.Window)
	defer tick.Stop()
	enc := (*json.Encoder)(nil)
	if cfg.Out != nil {
		enc = json.NewEncoder(cfg.Out)
	}
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
		}
		n, errs, lat := l.take()
		w := SoakWindow{At: time.Since(start).Round(time.Second), Requests: n, Errors: errs, Late: int(late.Swap(0)),
			P50: pct(lat, 50), P99: pct(lat, 99)}
		sampleProcess(srv, &w)
		w.Expired = scrapeExpired(l.cl)
		res.Windows = append(res.Windows, w)
		if enc != nil {
			_ = enc.Encode(w)
		}
		logf("%6s req=%d err=%d late=%d p50=%s p99=%s rss=%dKiB fds=%d thr=%d wal=%.1fMiB db=%.1fMiB expired=%d",
			w.At, w.Requests, w.Errors, w.Late, w.P50.Round(time.Microsecond), w.P99.Round(time.Microsecond),
			w.RSSKiB, w.FDs, w.Threads, float64(w.WALBytes)/(1<<20), float64(w.DBBytes)/(1<<20), w.Expired)
	}
	wg.Wait()
	res.Duration = time.Since(start)
	summarizeSoak(&res)
	return res, ctx.Err()
}

func summarizeSoak(res *SoakResult) {
	var after []SoakWindow
	for _, w := range res.Windows {
		res.Requests += w.Requests
		res.Errors += w.Errors
		res.Late += w.Late
		res.WALMax = max(res.WALMax, w.WALBytes)
		res.Expired = max(res.Expired, w.Expired)
		if w.At > res.Warmup {
			after = append(after, w)
		}
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
	}
	if len(after) < 2 {
		after = res.Windows
	}
	if len(after) == 0 {
		return
	}
	// p99 of the first and last fifth (at least one window each), as the
	// median of the windows' p99 (robust to a single noisy window).
	k := max(1, len(after)/5)
	med := func(ws []SoakWindow) time.Duration {
		ps := make([]time.Duration, len(ws))
		for i, w := range ws {
			ps[i] = w.P99
		}
		slices.Sort(ps)
		return ps[len(ps)/2]
	}
	res.P99First, res.P99Last = med(after[:k]), med(after[len(after)-k:])
	if res.P99First > 0 {
		res.P99Drift = float64(res.P99Last-res.P99First) / float64(res.P99First)
	}
	res.RSSFirst, res.RSSLast = after[0].RSSKiB, after[len(after)-1].RSSKiB
	res.FDsFirst, res.FDsLast = after[0].FDs, after[len(after)-1].FDs
	for _, w := range after {
		res.RSSMax = max(res.RSSMax, w.RSSKiB)
		res.FDsMax = max(res.FDsMax, w.FDs)
		res.ThreadsMax = max(res.ThreadsMax, w.Threads)
	}
}

// sampleProcess reads the server's RSS, threads and open files from /proc
// and its database files' sizes.
func sampleProcess(srv *Server, w *SoakWindow) {
	pid := srv.PID()
	if pid == 0 {
		return
	}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			switch fields[0] {
			case "VmRSS:":
				w.RSSKiB, _ = strconv.ParseInt(fields[1], 10, 64)
			case "Threads:":
				w.Threads, _ = strconv.Atoi(fields[1])
			}
		}
		f.Close()
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		w.FDs = len(ents)
	}
	if p := SQLitePath(srv.DSN); p != "" {
		if st, err := os.Stat(p + "-wal"); err == nil {
			w.WALBytes = st.Size()
		}
		if st, err := os.Stat(p); err == nil {
			w.DBBytes = st.Size()
		}
	}
}

// scrapeExpired reads flowkv_store_entries_expired_total from /metrics.
func scrapeExpired(cl *Client) int64 {
	r, err := cl.Do(context.Background(), http.MethodGet, "/metrics", nil, nil)
	if err != nil || r.Status != 200 {
		return 0
	}
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, "flowkv_store_entries_expired_total "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(n)
		}
	}
	return 0
}

// WriteJSON writes v as indented JSON to path (creating its directory).
func WriteJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
