package web_test

// The unauthenticated surface under attack, against a real listening
// server: hostile methods and paths cannot grow /metrics or the log; slow
// clients (trickled bodies, trickled headers, unread responses) are cut off
// by the connection deadlines; meanwhile an ordinary client is served.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

const attackMark = "XATTACKX"

// tchars are the bytes net/http accepts in a method (RFC 9110 token).
const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randToken(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tchars[r.IntN(len(tchars))]
	}
	return string(b)
}

func randPathSeg(r *rand.Rand) string {
	const c = "abcdefghijklmnopqrstuvwxyz0123456789-_.~%20%2F"
	b := make([]byte, 8+r.IntN(24))
	for i := range b {
		b[i] = c[r.IntN(len(c)-9)] // letters, digits and -_.~ only
	}
	return attackMark + string(b)
}

// rawRequest sends one request on a new connection and returns the
// status (0 when the server closed without answering).
func rawRequest(t *testing.T, addr, method, path string) int {
	st, _ := rawRequestSize(t, addr, method, path)
	return st
}

// rawRequestSize is rawRequest that also returns the answer's body size.
func rawRequestSize(t *testing.T, addr, method, path string) (int, int64) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Errorf("dial: %v", err)
		return 0, 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	w := bufio.NewWriterSize(conn, 64<<10)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path)
	if err := w.Flush(); err != nil {
		return 0, 0
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, 0
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, n
}

// innocent is an ordinary client that keeps using the server until stop
// is closed; it reports every failure.
type innocent struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	done       chan struct{}
}

func startInnocent(h *harness, stop <-chan struct{}) *innocent {
	in := &innocent{done: make(chan struct{})}
	tr := &http.Transport{}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(path, token string, body string) error {
		method := http.MethodGet
		var rd io.Reader
		if body != "" {
			method, rd = http.MethodPut, strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, h.base+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
		}
		return nil
	}
	go func() {
		defer close(in.done)
		defer tr.CloseIdleConnections()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var err error
			switch i % 3 {
			case 0:
				err = get("/healthz", "", "")
			case 1:
				err = get("/v1/store/innocent/k", h.admin, fmt.Sprintf(`{"data": %d}`, i))
			case 2:
				err = get("/v1/store/innocent/k", h.admin, "")
			}
			if err != nil {
				in.failed.Add(1)
				in.mu.Lock()
				in.errs = append(in.errs, err.Error())
				in.mu.Unlock()
			} else {
				in.ok.Add(1)
			}
		}
	}()
	return in
}

// check stops waiting for the innocent client and fails the test unless
// every one of its requests (at least min) succeeded.
func (in *innocent) check(t *testing.T, min int64) {
	t.Helper()
	<-in.done
	if in.failed.Load() > 0 {
		t.Errorf("the ordinary client failed %d times while under attack: %v", in.failed.Load(), in.errs)
	}
	if in.ok.Load() < min {
		t.Errorf("the ordinary client got only %d answers, want at least %d", in.ok.Load(), min)
	}
}

// TestMetricsSurviveHostileMethodsAndPaths: 200 requests with 200 KB
// random methods and random paths leave /metrics small and free of any
// attacker string; labels come from a closed set.
func TestMetricsSurviveHostileMethodsAndPaths(t *testing.T) {
	t.Parallel()
	// Headers up to 1 MiB, so the 200 KB methods reach the handlers (the
	// default 64 KiB refuses them before; checked below).
	h := newSQLite(t, func(o *web.Options) { o.Limits.MaxHeaderBytes = 1 << 20 })
	addr := strings.TrimPrefix(h.base, "http://")
	stop := make(chan struct{})
	in := startInnocent(h, stop)

	templates := []string{"/%s", "/v1/store/%s/%s", "/hooks/%s", "/static/%s", "/%s/%s/%s", "/v1/%s", "/metrics/%s", "/login/%s"}
	var wg sync.WaitGroup
	var answered atomic.Int64
	jobs := make(chan int)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			tail := randToken(r, 200<<10)
			for i := range jobs {
				// A new random method each time (generating 200 KB per
				// request would cost more than the attack).
				method := attackMark + randToken(r, 64) + tail
				if i%10 == 0 {
					method = "GET" // known methods on hostile paths too
				}
				tpl := templates[i%len(templates)]
				args := make([]any, strings.Count(tpl, "%s"))
				for j := range args {
					args[j] = randPathSeg(r)
				}
				// The answer names the method and path, cut short.
				if st, n := rawRequestSize(t, addr, method, fmt.Sprintf(tpl, args...)); st < 400 || st >= 500 {
					t.Errorf("%.20s… %s: status %d, want a 4xx answer", method, tpl, st)
				} else if n > 1024 {
					t.Errorf("%.20s… %s: a %d-byte answer", method, tpl, n)
				} else {
					answered.Add(1)
				}
			}
		}()
	}
	for i := range 200 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	in.check(t, 3)
	if answered.Load() != 200 {
		t.Fatalf("%d of 200 hostile requests answered", answered.Load())
	}

	r := h.do("GET", "/metrics", "", nil)
	want(t, r, 200, "")
	body := string(r.Body)
	if len(body) > 200<<10 {
		t.Errorf("/metrics is %d bytes after the attack, want < 200 KiB", len(body))
	}
	if strings.Contains(strings.ToUpper(body), attackMark) {
		t.Errorf("/metrics holds attacker input")
	}
	for _, line := range []string{
		`flowkv_http_requests_total{method="other",route="unmatched",status="404"}`,
		`flowkv_http_requests_total{method="GET",route="/healthz",status="200"}`,
		`# TYPE go_goroutines gauge`,
		`# TYPE go_memstats_heap_alloc_bytes gauge`,
		`# TYPE go_gc_duration_seconds summary`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(body, "# TYPE process_resident_memory_bytes gauge") {
		t.Error("/metrics lacks the process collector")
	}
	// Every method label is a known method or "other".
	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true, "other": true}
	series := 0
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "flowkv_http_requests_total{") {
			continue
		}
		series++
		m := l[strings.Index(l, `method="`)+8:]
		if m = m[:strings.IndexByte(m, '"')]; !known[m] {
			t.Errorf("method label %q", m)
		}
	}
	if series > 30 {
		t.Errorf("%d request series after the attack: labels are not a closed set", series)
	}
	// The log names the method by its label and cuts long paths.
	logs := h.Logs()
	if strings.Contains(logs, "method="+attackMark) {
		t.Error("the log holds a hostile method")
	}
	if len(logs) > 250*4096 {
		t.Errorf("the log grew %d bytes for ~250 requests", len(logs))
	}

	// With the default header limit, a 200 KB method is refused with 431
	// before any handler runs.
	d := newSQLite(t)
	if st := rawRequest(t, strings.TrimPrefix(d.base, "http://"), attackMark+strings.Repeat("A", 200<<10), "/"); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KB method with default limits: status %d, want 431", st)
	}
}

// trickle opens a connection, sends head, then one byte of body (or
// header) every 50 ms until the server closes the connection or giveUp
// passes. It returns how long the server took to close it.
func trickle(addr, head string, chunked bool, giveUp time.Duration) (time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		// Whatever the server answers, wait for it to close.
		io.Copy(io.Discard, conn)
		close(closed)
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return time.Since(start), nil
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(giveUp)
	for {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-deadline:
			return time.Since(start), fmt.Errorf("still open after %s", giveUp)
		case <-tick.C:
			b := "x"
			if chunked {
				b = "1\r\nx\r\n"
			}
			conn.Write([]byte(b)) // errors show as closed above
		}
	}
}

// TestSlowClientsAreCutOff: many connections trickling request bodies (to
// /hooks/x and /v1 routes, signed in or not) and headers are closed within
// the read deadlines while an ordinary client is served throughout.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	const readTimeout = time.Second
	h := newSQLite(t, func(o *web.Options) {
		o.Limits = web.Limits{ReadTimeout: readTimeout, ReadHeaderTimeout: 500 * time.Millisecond}
	})
	addr := strings.TrimPrefix(h.base, "http://")
	stop := make(chan struct{})
	in := startInnocent(h, stop)

	heads := []struct {
		name, head string
		chunked    bool
	}{
		{"hook body", "POST /hooks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", false},
		{"hook chunked body", "POST /hooks/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"v1 body, no token", "PUT /v1/store/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", false},
		{"v1 body, signed in", "PUT /v1/store/a/b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + h.admin + "\r\nContent-Length: 100000\r\n\r\n", false},
		{"unmatched route body", "POST /nothing/here HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", false},
		{"headers", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", false},
	}
	const perKind = 20 // 120 connections
	type result struct {
		name string
		took time.Duration
		err  error
	}
	results := make(chan result, perKind*len(heads))
	for _, hd := range heads {
		for range perKind {
			go func() {
				took, err := trickle(addr, hd.head, hd.chunked, 15*time.Second)
				results <- result{hd.name, took, err}
			}()
		}
	}
	worst := map[string]time.Duration{}
	for range perKind * len(heads) {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		worst[r.name] = max(worst[r.name], r.took)
	}
	close(stop)
	in.check(t, 3)
	// Generous slack for a loaded CI machine; without the deadlines these
	// connections stay open until the client gives up (15 s).
	for name, d := range worst {
		if d > readTimeout+4*time.Second {
			t.Errorf("%s: the slowest connection was closed after %s, read timeout %s", name, d, readTimeout)
		}
		t.Logf("%s: closed after at most %s", name, d.Round(time.Millisecond))
	}
}

// TestDeadlinesSpareLongWork: a handler that runs longer than the read and
// write timeouts after reading its body is neither cancelled nor cut, and a
// LongResponse stream outlives WriteTimeout while its client reads.
func TestDeadlinesSpareLongWork(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	h := newSQLite(t, func(o *web.Options) {
		o.Limits = web.Limits{ReadTimeout: timeout, WriteTimeout: timeout}
	})
	h.srv.Handle(http.MethodPost, "/v1/test/work", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		select {
		case <-time.After(3 * timeout):
		case <-c.Request().Context().Done():
			return c.String(http.StatusServiceUnavailable, "cancelled")
		}
		return c.String(http.StatusOK, "done")
	}, web.RouteDoc{Summary: "test: works longer than the timeouts"})
	h.srv.Handle(http.MethodGet, "/v1/test/stream", func(c echo.Context) error {
		web.LongResponse(c)
		c.Response().WriteHeader(http.StatusOK)
		for i := range 20 { // 20 × 50 ms > 3 × WriteTimeout
			fmt.Fprintf(c.Response(), "line %d\n", i)
			c.Response().Flush()
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}, web.RouteDoc{Summary: "test: streams longer than WriteTimeout"})

	r := h.do("POST", "/v1/test/work", h.admin, `{"input": 1}`)
	if r.Status != 200 || string(r.Body) != "done" {
		t.Errorf("long handler: %d %s", r.Status, r.Body)
	}
	r = h.do("GET", "/v1/test/stream", h.admin, nil)
	if r.Status != 200 || strings.Count(string(r.Body), "\n") != 20 {
		t.Errorf("stream: %d, %d lines", r.Status, strings.Count(string(r.Body), "\n"))
	}
}

// dialSmallWindow connects with a small receive buffer, so a client that
// does not read stalls the server's writes quickly.
func dialSmallWindow(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.Dial("tcp", addr)
}

// TestUnreadResponsesAreCutOff: a client that asks for a large response
// (or a stream) and never reads it is cut off within WriteTimeout while an
// ordinary client is served.
func TestUnreadResponsesAreCutOff(t *testing.T) {
	t.Parallel()
	const writeTimeout = 500 * time.Millisecond
	h := newSQLite(t, func(o *web.Options) { o.Limits = web.Limits{WriteTimeout: writeTimeout} })
	type outcome struct {
		route string
		took  time.Duration
		err   error
	}
	outcomes := make(chan outcome, 64)
	chunk := []byte(strings.Repeat("y", 64<<10))
	big := func(long bool) echo.HandlerFunc {
		return func(c echo.Context) error {
			if long {
				web.LongResponse(c)
			}
			start := time.Now()
			c.Response().WriteHeader(http.StatusOK)
			var err error
			for range 1024 { // 64 MiB: more than any socket buffers
				if _, err = c.Response().Write(chunk); err != nil {
					break
				}
				if long {
					c.Response().Flush()
				}
			}
			outcomes <- outcome{c.Path(), time.Since(start), err}
			return nil
		}
	}
	h.srv.Handle(http.MethodGet, "/v1/test/big", big(false), web.RouteDoc{Summary: "test: 64 MiB"})
	h.srv.Handle(http.MethodGet, "/v1/test/bigstream", big(true), web.RouteDoc{Summary: "test: 64 MiB stream"})

	stop := make(chan struct{})
	in := startInnocent(h, stop)
	addr := strings.TrimPrefix(h.base, "http://")
	const n = 10
	for i := range n {
		route := "/v1/test/big"
		if i%2 == 1 {
			route = "/v1/test/bigstream"
		}
		conn, err := dialSmallWindow(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", route, h.admin)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for range n {
		select {
		case o := <-outcomes:
			if o.err == nil {
				t.Errorf("%s: 64 MiB written to a client that reads nothing", o.route)
			} else if o.took > writeTimeout+4*time.Second {
				t.Errorf("%s: cut off after %s, write timeout %s", o.route, o.took, writeTimeout)
			}
		case <-ctx.Done():
			t.Fatal("a response to a client that reads nothing is still being written after 15 s")
		}
	}
	close(stop)
	in.check(t, 3)
}

// pingCounter counts the store's pings; each takes a little while, as over
// a network.
type pingCounter struct {
	store.Store
	n atomic.Int64
}

func (p *pingCounter) Ping(ctx context.Context) error {
	p.n.Add(1)
	time.Sleep(20 * time.Millisecond)
	return p.Store.Ping(ctx)
}

// TestReadyzDoesNotLoadTheStore: 400 /readyz requests from 40 clients at
// once cost at most one store ping per second (plus one), all answer
// ready, and the API answers meanwhile.
func TestReadyzDoesNotLoadTheStore(t *testing.T) {
	t.Parallel()
	st, err := sqlstore.Open(t.Context(), testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc := &pingCounter{Store: st}
	h := newHarnessOn(t, pc)
	stop := make(chan struct{})
	in := startInnocent(h, stop)
	// Its own transport, closed at the end: connections it dialled but
	// never used would hold up the server's graceful shutdown.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				res, err := cl.Get(h.base + "/readyz")
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	in.check(t, 1)
	if bad.Load() > 0 {
		t.Errorf("%d of 400 /readyz failed", bad.Load())
	}
	if n, most := pc.n.Load(), int64(took/time.Second)+2; n > most {
		t.Errorf("400 /readyz in %s pinged the store %d times, want at most %d", took, n, most)
	}
}

// TestOpenAPIIsEncodedOnce: the public OpenAPI document is built once for
// 300 requests from 30 clients (all get the same bytes), and again only
// when a route is added.
func TestOpenAPIIsEncodedOnce(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	first := h.do("GET", "/v1/openapi.json", "", nil)
	want(t, first, 200, "")
	var wg sync.WaitGroup
	var differ atomic.Int64
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				res, err := cl.Get(h.base + "/v1/openapi.json")
				if err != nil {
					differ.Add(1)
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != string(first.Body) {
					differ.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if differ.Load() > 0 {
		t.Errorf("%d of 300 answers failed or differed", differ.Load())
	}
	if n := web.OpenAPIBuilds(h.srv); n != 1 {
		t.Errorf("the document was built %d times for 301 requests", n)
	}
	h.srv.Handle(http.MethodGet, "/v1/test/added-late", func(c echo.Context) error { return nil }, web.RouteDoc{Summary: "test: added after the first build"})
	if r := h.do("GET", "/v1/openapi.json", "", nil); !strings.Contains(string(r.Body), "/v1/test/added-late") {
		t.Error("a route added later is missing from the document")
	}
}
