package torture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// AbuseConfig configures the abuse checks.
type AbuseConfig struct {
	Server *Server
	// BodyBytes is the size of the oversized bodies (default 1 GiB).
	BodyBytes int64
	// Depth is the nesting of the deep JSON (default 1,000,000).
	Depth int
	// Conns is how many slowloris connections to hold (default 10,000,
	// capped below the open-files limit).
	Conns int
	// Hold is how long the slowloris connections are kept (default 30s).
	Hold time.Duration
	// Attempts is the number of brute-force token guesses (default 50,000).
	Attempts int
	Logf     func(format string, args ...any)
}

// AbuseCheck is the outcome of one abuse.
type AbuseCheck struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
	// Canary: a well-behaved client writing and reading meanwhile.
	CanaryOK     int           `json:"canaryOk"`
	CanaryFailed int           `json:"canaryFailed"`
	CanaryP99    time.Duration `json:"canaryP99"`
}

func (c AbuseCheck) String() string {
	st := "PASS"
	if !c.Pass {
		st = "FAIL"
	}
	return fmt.Sprintf("%s %s: %s; canary ok=%d failed=%d p99=%s", st, c.Name, c.Detail, c.CanaryOK, c.CanaryFailed, c.CanaryP99.Round(time.Microsecond))
}

// canary is a well-behaved client: one request at a time on fresh
// connections (so it needs the server to accept), inserting unique keys
// and reading them back.
type canary struct {
	cl     *Client
	name   string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	acked  []string
	ok     int
	failed int
	lat    []time.Duration
	errs   []string
}

func startCanary(srv *Server, name string) *canary {
	cl := NewClient(srv.URL, srv.Token, 1)
	cl.HTTP.Transport.(*http.Transport).DisableKeepAlives = true
	cl.Timeout = 10 * time.Second
	c := &canary{cl: cl, name: name, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			k := "c" + strconv.Itoa(i)
			t0 := time.Now()
			r, err := cl.Do(context.Background(), http.MethodPost, EntryPath(name, k), map[string]any{"data": i}, nil)
			ok := err == nil && r.Status == http.StatusCreated
			if ok {
				r, err = cl.Do(context.Background(), http.MethodGet, EntryPath(name, k), nil, nil)
				ok = err == nil && r.Status == http.StatusOK
			}
			d := time.Since(t0)
			c.mu.Lock()
			if ok {
				c.ok++
				c.acked = append(c.acked, k)
				c.lat = append(c.lat, d)
			} else {
				c.failed++
				if len(c.errs) < 5 {
					c.errs = append(c.errs, fmt.Sprintf("%v %d %s", err, r.Status, r.Code))
				}
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// finish stops the canary, checks every acknowledged key is present and
// fills the canary fields of chk.
func (c *canary) finish(ctx context.Context, chk *AbuseCheck) {
	// Let it make a few rounds even when the abuse was quick.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		n := c.ok + c.failed
		c.mu.Unlock()
		if n >= 3 {
			break
		}
	}
	close(c.stop)
	<-c.done
	defer c.cl.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	chk.CanaryOK, chk.CanaryFailed = c.ok, c.failed
	if len(c.lat) > 0 {
		slices.Sort(c.lat)
		chk.CanaryP99 = c.lat[len(c.lat)*99/100]
	}
	if c.failed > 0 {
		chk.Pass = false
		chk.Detail += fmt.Sprintf("; canary failures: %v", c.errs)
	}
	if c.ok == 0 {
		chk.Pass = false
		chk.Detail += "; the canary never got through"
	}
	keys, err := c.cl.ListKeys(ctx, c.name)
	if err != nil {
		chk.Pass = false
		chk.Detail += "; listing the canary's keys: " + err.Error()
		return
	}
	lost := 0
	for _, k := range c.acked {
		if !keys[k] {
			lost++
		}
	}
	if lost > 0 {
		chk.Pass = false
		chk.Detail += fmt.Sprintf("; %d acknowledged canary writes lost", lost)
	}
}

// RunAbuse runs every abuse check against the server, each with a canary,
// then checks the server process is still the same one.
func RunAbuse(ctx context.Context, cfg AbuseConfig) ([]AbuseCheck, error) {
	if cfg.BodyBytes == 0 {
		cfg.BodyBytes = 1 << 30
	}
	if cfg.Depth == 0 {
		cfg.Depth = 1_000_000
	}
	if cfg.Conns == 0 {
		cfg.Conns = 10_000
	}
	if cfg.Hold == 0 {
		cfg.Hold = 30 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 50_000
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	srv := cfg.Server
	pid := srv.PID()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	var out []AbuseCheck
	run := func(name string, fn func() AbuseCheck) {
		c := startCanary(srv, "canary-"+name+"-"+tag)
		chk := fn()
		chk.Name = name
		c.finish(ctx, &chk)
		logf("%s", chk)
		out = append(out, chk)
	}
	run("body-content-length", func() AbuseCheck { return bigBody(srv, cfg.BodyBytes, false) })
	run("body-chunked", func() AbuseCheck { return bigBody(srv, cfg.BodyBytes, true) })
	run("deep-json", func() AbuseCheck { return deepJSON(srv, cfg.Depth) })
	run("slowloris", func() AbuseCheck { return slowloris(srv, cfg.Conns, cfg.Hold) })
	run("token-bruteforce", func() AbuseCheck { return bruteForce(srv, cfg.Attempts) })
	if srv.PID() != pid || pid == 0 {
		return out, fmt.Errorf("the server process changed (%d → %d)", pid, srv.PID())
	}
	if err := srv.waitReady(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// zeros is an endless body of 'x' that counts what was read from it.
// The transport reads it on its own goroutine, so n is atomic.
type zeros struct {
	n   atomic.Int64
	max int64
}

func (z *zeros) Read(p []byte) (int, error) {
	n := z.n.Load()
	if n >= z.max {
		return 0, io.EOF
	}
	k := int64(len(p))
	if z.max-n < k {
		k = z.max - n
	}
	for i := range p[:k] {
		p[i] = 'x'
	}
	z.n.Add(k)
	return int(k), nil
}

// bigBody sends a body of size bytes (declared, or chunked of unknown
// length) to PUT /v1/store/…: the server must answer 413 having read at
// most a little more than its limit.
func bigBody(srv *Server, size int64, chunked bool) AbuseCheck {
	body := &zeros{max: size}
	// A reader of unknown length: sent chunked unless ContentLength is set.
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+EntryPath("abuse", "big"), body)
	if !chunked {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	cl := &http.Client{Timeout: 2 * time.Minute}
	res, err := cl.Do(req)
	d := time.Since(t0)
	chk := AbuseCheck{}
	status := 0
	if res != nil {
		status = res.StatusCode
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	sent := body.n.Load()
	chk.Detail = fmt.Sprintf("%d MiB offered, %.1f MiB sent before the answer, status %d, err %v, %s",
		size>>20, float64(sent)/(1<<20), status, err, d.Round(time.Millisecond))
	// The answer must be 413, or the connection closed once the limit was
	// read; never the whole body read.
	chk.Pass = (status == http.StatusRequestEntityTooLarge || (err != nil && status == 0)) && sent < 64<<20
	return chk
}

// deepJSON sends JSON nested depth deep in every body decoder and query
// parameter: each must answer 400 or 413, never crash.
func deepJSON(srv *Server, depth int) AbuseCheck {
	cl := NewClient(srv.URL, srv.Token, 1)
	defer cl.Close()
	cl.Timeout = time.Minute
	open := strings.Repeat("[", depth)
	closed := open + strings.Repeat("]", depth)
	type probe struct {
		method, path string
		body         string
		want         []int
	}
	probes := []probe{
		{http.MethodPut, EntryPath("abuse", "deep"), `{"data":` + closed + `}`, []int{400, 413}},
		{http.MethodPut, EntryPath("abuse", "deep"), `{"data":` + open, []int{400, 413}},
		{http.MethodPost, "/v1/atomic", `{"mutations":[{"op":"set","name":"abuse","key":"d","data":` + open, []int{400, 413}},
		{http.MethodPost, "/v1/operations/data", `{"key":"deep","value":` + closed[:min(len(closed), 900_000)], []int{400, 413}},
		{http.MethodPut, EntryPath("abuse", "deep"), strings.Repeat(`{"a":`, depth/5), []int{400, 413}},
	}
	var results []string
	pass := true
	for _, p := range probes {
		req, _ := http.NewRequest(p.method, srv.URL()+p.path, strings.NewReader(p.body))
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		res, err := cl.HTTP.Do(req)
		st := 0
		if err == nil {
			st = res.StatusCode
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		ok := slices.Contains(p.want, st)
		pass = pass && ok
		results = append(results, fmt.Sprintf("%s %s (%d KiB) → %d", p.method, p.path, len(p.body)>>10, st))
	}
	// The data filter of fetch, in the query string (within the header
	// limit).
	q := strings.Repeat("[", 200_000)
	r, err := cl.Do(context.Background(), http.MethodGet, "/v1/store?data="+url.QueryEscape(q), nil, nil)
	st := 0
	if err == nil {
		st = r.Status
	}
	pass = pass && (st == 400 || st == 431)
	results = append(results, fmt.Sprintf("GET /v1/store?data=[×200000 → %d", st))
	// The entry written before must be unharmed.
	return AbuseCheck{Pass: pass, Detail: strings.Join(results, "; ")}
}

// slowloris holds conns connections that trickle a request header one
// byte at a time (re-opening those the server closes) for hold.
func slowloris(srv *Server, conns int, hold time.Duration) AbuseCheck {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		if lim.Cur < lim.Max {
			lim.Cur = lim.Max
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
		// Both ends share the limit (the server inherits it): stay below
		// it with room for the database and the canary.
		if c := int(lim.Cur) - 1500; conns > c {
			conns = max(c, 100)
		}
	}
	addr := srv.Addr()
	stop := make(chan struct{})
	var open, peak, dials, dialErrs, closedByServer atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				dials.Add(1)
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					dialErrs.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Millisecond):
					}
					continue
				}
				if n := open.Add(1); n > peak.Load() {
					peak.Store(n)
				}
				hdr := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
				_, err = c.Write([]byte(hdr))
				for err == nil {
					select {
					case <-stop:
						err = io.EOF
						continue
					case <-time.After(2 * time.Second):
					}
					_, err = c.Write([]byte("a"))
				}
				if err != io.EOF {
					closedByServer.Add(1)
				}
				open.Add(-1)
				c.Close()
			}
		}(i)
	}
	time.Sleep(hold)
	close(stop)
	wg.Wait()
	return AbuseCheck{Pass: true, Detail: fmt.Sprintf("%d slow connections held for %s (peak open %d, %d dials, %d dial errors, %d closed by the server's header timeout)",
		conns, hold, peak.Load(), dials.Load(), dialErrs.Load(), closedByServer.Load())}
}

// bruteForce sends attempts requests with random tokens from 64
// concurrent clients: every one must be 401.
func bruteForce(srv *Server, attempts int) AbuseCheck {
	cl := NewClient(srv.URL, "", 64)
	defer cl.Close()
	var next, unauth, other, errs atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 32)
			for next.Add(1) <= int64(attempts) {
				_, _ = rand.Read(b)
				r, err := cl.Do(context.Background(), http.MethodGet, EntryPath("canary", "x"), nil,
					map[string]string{"Authorization": "Bearer fkv_" + hex.EncodeToString(b)})
				switch {
				case err != nil:
					errs.Add(1)
				case r.Status == http.StatusUnauthorized:
					unauth.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	return AbuseCheck{
		Pass: unauth.Load() == int64(attempts) && other.Load() == 0,
		Detail: fmt.Sprintf("%d guesses in %s (%.0f/s): %d × 401, %d other answers, %d transport errors",
			attempts, d.Round(time.Millisecond), float64(attempts)/d.Seconds(), unauth.Load(), other.Load(), errs.Load()),
	}
}
