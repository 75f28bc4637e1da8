package scripting

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// The sandbox worker pool: what the parent does when a worker crashes,
// hangs or is cancelled, and what a worker process is allowed.

// busyWorker starts src on e and returns the pid of the worker running it
// and a channel with the run's error.
func busyWorker(t *testing.T, e *Engine, ctx context.Context, src string) (int, <-chan error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, Run{Source: src, Name: "busy"})
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pid := runningPID(e); pid != 0 {
			return pid, errc
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no worker picked up the run")
	return 0, nil
}

// runningPID is the pid of a worker with a run, or 0.
func runningPID(e *Engine) int {
	e.mu.Lock()
	idle := map[*worker]bool{}
	for _, w := range e.idle {
		idle[w] = true
	}
	e.mu.Unlock()
	var found int
	e.workers.Range(func(k, _ any) bool {
		w := k.(*worker)
		if !idle[w] && w.cur.Load() != nil && w.cmd.Process != nil {
			found = w.cmd.Process.Pid
			return false
		}
		return true
	})
	return found
}

func wantAnswer(t *testing.T, e *Engine) {
	t.Helper()
	res, err := e.Run(context.Background(), Run{Source: "return 6 * 7", Name: "after", Timeout: 20 * time.Second})
	if err != nil || string(res.Value) != "42" {
		t.Fatalf("the engine does not run the next script: %s %v", res.Value, err)
	}
}

// A worker killed from outside mid-run (a crash of the engine) fails that
// run with unavailable and a message saying so; the next run works.
func TestWorkerCrashIsUnavailable(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 20 * time.Second})
	defer e.Close()
	pid, errc := busyWorker(t, e, context.Background(), `for (;;) {}`)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if store.CodeOf(err) != store.CodeUnavailable || !strings.Contains(err.Error(), "crashed") {
		t.Fatalf("want unavailable (crashed), got %v", err)
	}
	wantAnswer(t, e)
}

// A worker that exhausts its memory fails the run with too_large.
func TestWorkerOutOfMemoryIsTooLarge(t *testing.T) {
	if raceEnabled {
		t.Skip("a race-enabled worker has no address-space limit; internal/hostile covers this on a normal build")
	}
	t.Parallel()
	e := New(Options{Timeout: 20 * time.Second})
	defer e.Close()
	_, err := e.Run(context.Background(), Run{Source: `return new Array(2**32 - 1).map(x => x).length`, Name: "oom"})
	if store.CodeOf(err) != store.CodeTooLarge || !strings.Contains(err.Error(), "ran out of memory") {
		t.Fatalf("want too_large (ran out of memory), got %v", err)
	}
	wantAnswer(t, e)
}

// A run stuck in native code past its limit is answered with timeout
// (the worker killed), and its worker is not reused.
func TestStuckWorkerIsKilled(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 300 * time.Millisecond})
	defer e.Close()
	start := time.Now()
	_, err := e.Run(context.Background(), Run{Source: `return new Array(2**32 - 1).indexOf(1)`, Name: "stuck"})
	if store.CodeOf(err) != store.CodeTimeout {
		t.Fatalf("want timeout, got %v after %s", err, time.Since(start))
	}
	wantAnswer(t, e)
}

// Cancelling the caller's context (a deleted flow, a server shutting down)
// stops the run.
func TestCancelStopsRun(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute})
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	_, errc := busyWorker(t, e, ctx, `for (;;) {}`)
	cancel()
	select {
	case err := <-errc:
		if store.CodeOf(err) != store.CodeTimeout || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("want timeout (cancelled), got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled run did not end")
	}
	wantAnswer(t, e)
}

// A worker process starts with nothing of the parent's environment, under
// its OS limits, with the system-call filter loaded.
func TestWorkerProcessLimits(t *testing.T) {
	t.Setenv("DATA_STORE_DSN", "postgres://secret@db/prod")
	e := New(Options{Timeout: 20 * time.Second})
	defer e.Close()
	pid, errc := busyWorker(t, e, context.Background(), `for (;;) {}`)
	defer func() { syscall.Kill(pid, syscall.SIGKILL); <-errc }()
	proc := "/proc/" + strconv.Itoa(pid)

	env, err := os.ReadFile(proc + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(strings.TrimRight(string(env), "\x00"), "\x00") {
		k, _, _ := strings.Cut(kv, "=")
		if k != workerEnv && k != "GOTRACEBACK" {
			t.Errorf("the worker's environment holds %s", k)
		}
	}

	limits, err := os.ReadFile(proc + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Max open files": "32", "Max file size": "0", "Max core file size": "0"}
	for _, line := range strings.Split(string(limits), "\n") {
		for name, v := range want {
			if strings.HasPrefix(line, name) {
				if f := strings.Fields(strings.TrimPrefix(line, name)); len(f) == 0 || f[0] != v {
					t.Errorf("%s: %q, want %s", name, line, v)
				}
				delete(want, name)
			}
		}
		if strings.HasPrefix(line, "Max address space") && !raceEnabled && strings.Contains(line, "unlimited") {
			t.Errorf("no address-space limit: %q", line)
		}
	}
	if len(want) > 0 {
		t.Errorf("limits not found: %v", want)
	}

	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("worker status lacks %q", want)
		}
	}
}
