package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/torture"
	"github.com/flowkv/flowkv/store"
)

// scriptTimeout is the server's script time limit in these tests.
const scriptTimeout = 2 * time.Second

// grace is how far past its time limit a hostile run may answer.
const grace = 250 * time.Millisecond

var bin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "flowkv-hostile-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		root, err := torture.ModuleRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		// Always without -race: the race detector's shadow memory rules
		// out the workers' address-space limit, and the point is the build
		// users run.
		bin, err = torture.BuildBinary(ctx, root, dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// env is a running server with an admin and a read-only token.
type env struct {
	t      *testing.T
	srv    *torture.Server
	dsn    string
	admin  string
	reader string // orders:read only: the attacker
	other  string // orders:read only: another user, running innocent scripts
}

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "flowkv.db")
	srv := &torture.Server{Bin: bin, DSN: dsn, Token: torture.NewToken(), LogPath: filepath.Join(dir, "server.log"),
		Args: []string{"--script-timeout", scriptTimeout.String()}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			if b, _ := os.ReadFile(srv.LogPath); len(b) > 0 {
				t.Logf("server log (tail):\n%s", b[max(0, len(b)-6000):])
			}
		}
	})
	e := &env{t: t, srv: srv, dsn: dsn, admin: srv.Token}
	e.reader = e.createToken("--grant", "orders:read", "--name", "reader")
	e.other = e.createToken("--grant", "orders:read", "--name", "other")
	return e
}

// createToken runs `flowkv token create` against the server's database.
func (e *env) createToken(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(bin, append([]string{"token", "create"}, args...)...)
	cmd.Env = append(os.Environ(), "DATA_STORE_DSN="+e.dsn)
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("token create: %v\n%s", err, out)
	}
	tok, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(tok)
}

// call sends a request and returns the status and body.
func (e *env) call(token, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL()+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func (e *env) must(token, method, path string, body any) []byte {
	e.t.Helper()
	st, b, err := e.call(token, method, path, body)
	if err != nil || st/100 != 2 {
		e.t.Fatalf("%s %s: %d %s %v", method, path, st, b, err)
	}
	return b
}

// codeOf reads the error code of an error answer ("" for success).
func codeOf(status int, body []byte) store.Code {
	if status/100 == 2 {
		return ""
	}
	var eb struct {
		Error struct {
			Code store.Code `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &eb)
	if eb.Error.Code == "" {
		return store.Code(fmt.Sprintf("http %d", status))
	}
	return eb.Error.Code
}

// healthWatch polls /healthz until stopped and counts failures.
type healthWatch struct {
	stop   chan struct{}
	done   chan struct{}
	polls  atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	first  string
}

func (e *env) watchHealth() *healthWatch {
	h := &healthWatch{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 3 * time.Second}
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			res, err := client.Get(e.srv.URL() + "/healthz")
			h.polls.Add(1)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode != http.StatusOK {
				h.failed.Add(1)
				h.mu.Lock()
				if h.first == "" {
					h.first = fmt.Sprintf("%v (status %v)", err, res)
				}
				h.mu.Unlock()
			}
		}
	}()
	return h
}

func (h *healthWatch) end(t *testing.T) {
	t.Helper()
	close(h.stop)
	<-h.done
	if n := h.failed.Load(); n > 0 {
		t.Errorf("/healthz failed %d of %d times; first: %s", n, h.polls.Load(), h.first)
	}
	if h.polls.Load() == 0 {
		t.Error("/healthz was never polled")
	}
}

const innocent = `const e = await dataStore.findNameKey('orders', 'o-1'); return e.data.n + input.i`

// TestCorpus runs every hostile script through the HTTP API with a
// read-only token (stored by the admin, run by name as that token), with
// four innocent runs of another user started beside each, while /healthz
// is polled.
func TestCorpus(t *testing.T) {
	e := start(t)
	e.must(e.admin, http.MethodPut, "/v1/store/orders/o-1", map[string]any{"data": map[string]int{"n": 1}})
	e.must(e.admin, http.MethodPut, "/v1/scripts/innocent", map[string]string{"source": innocent})
	pid := e.srv.PID()
	h := e.watchHealth()
	contained := 0
	for i, v := range Corpus {
		name := fmt.Sprintf("v%03d", i)
		t0 := time.Now()
		st, body, err := e.call(e.admin, http.MethodPut, "/v1/scripts/"+name, map[string]string{"source": v.Source})
		if err != nil {
			t.Fatalf("%s: storing the script: %v (did the server die?)", v.Name, err)
		}
		var innocents sync.WaitGroup
		var bad atomic.Int64
		var badMsg atomic.Value
		if st/100 == 2 {
			// Stored: run it as the read-only token, with innocents beside.
			done := make(chan struct{})
			go func() {
				defer close(done)
				t0 = time.Now()
				st, body, err = e.call(e.reader, http.MethodPost, "/v1/operations/scripts", map[string]string{"script": name})
			}()
			time.Sleep(20 * time.Millisecond)
			for j := 0; j < 4; j++ {
				innocents.Add(1)
				go func() {
					defer innocents.Done()
					ist, ib, ierr := e.call(e.other, http.MethodPost, "/v1/operations/scripts", map[string]any{"script": "innocent", "input": map[string]int{"i": j}})
					if ierr != nil || ist != http.StatusOK || strings.TrimSpace(string(ib)) != fmt.Sprint(1+j) {
						bad.Add(1)
						badMsg.Store(fmt.Sprintf("%d %s %v", ist, ib, ierr))
					}
				}()
			}
			<-done
		}
		took := time.Since(t0)
		innocents.Wait()
		if err != nil {
			t.Fatalf("%s: %v (did the server die?)", v.Name, err)
		}
		code := codeOf(st, body)
		ok := true
		if !slices.Contains(v.Codes, code) {
			t.Errorf("%s [%s]: got %q (%s), want one of %v", v.Name, v.Kind, code, truncate(body), v.Codes)
			ok = false
		}
		if took > scriptTimeout+grace {
			t.Errorf("%s [%s]: answered after %s, more than the time limit %s + %s", v.Name, v.Kind, took.Round(time.Millisecond), scriptTimeout, grace)
			ok = false
		}
		if n := bad.Load(); n > 0 {
			t.Errorf("%s [%s]: %d of 4 innocent runs beside it failed: %v", v.Name, v.Kind, n, badMsg.Load())
			ok = false
		}
		if ok {
			contained++
		}
	}
	h.end(t)
	if got := e.srv.PID(); got != pid {
		t.Errorf("the server process changed from %d to %d", pid, got)
	}
	// Stored data is intact.
	var ent struct {
		Data struct{ N int } `json:"data"`
	}
	if err := json.Unmarshal(e.must(e.admin, http.MethodGet, "/v1/store/orders/o-1", nil), &ent); err != nil || ent.Data.N != 1 {
		t.Errorf("orders/o-1 changed: %+v %v", ent, err)
	}
	t.Logf("hostile corpus: %d tried, %d contained, parent deaths 0 (pid %d throughout), /healthz polled %d times",
		len(Corpus), contained, pid, h.polls.Load())
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestPersistedScheduleAttack saves a scheduled flow whose script exhausts
// memory every second — before the sandbox, it killed the server again
// within seconds of every restart. The server must stay up across three
// restarts, recording the runs as failed.
func TestPersistedScheduleAttack(t *testing.T) {
	e := start(t)
	flow := map[string]any{
		"id": "boom", "dataStores": []string{},
		"trigger": map[string]any{"type": "schedule", "every": "1s"},
		"blocks":  []map[string]any{{"id": "b", "type": "javascript", "code": "return new Array(2**32 - 1).map(x => x).length;"}},
	}
	e.must(e.admin, http.MethodPut, "/v1/flows/boom", flow)
	for round := 0; round <= 3; round++ {
		if round > 0 {
			e.srv.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := e.srv.Start(ctx)
			cancel()
			if err != nil {
				t.Fatalf("restart %d: %v", round, err)
			}
		}
		pid := e.srv.PID()
		h := e.watchHealth()
		before := e.failedRuns()
		deadline := time.Now().Add(20 * time.Second)
		for e.failedRuns() < before+2 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		h.end(t)
		if got := e.failedRuns(); got < before+2 {
			t.Fatalf("round %d: %d failed runs recorded, want at least %d", round, got, before+2)
		}
		if got := e.srv.PID(); got != pid {
			t.Fatalf("round %d: the server process changed from %d to %d (it died)", round, pid, got)
		}
	}
}

// failedRuns counts boom's runs that failed with too_large.
func (e *env) failedRuns() int {
	st, b, err := e.call(e.admin, http.MethodGet, "/v1/flows/boom/runs?limit=1000", nil)
	if err != nil {
		e.t.Fatalf("listing runs: %v (did the server die?)", err)
	}
	if st != http.StatusOK {
		e.t.Fatalf("listing runs: %d %s", st, b)
	}
	return strings.Count(string(b), `"too_large"`)
}
