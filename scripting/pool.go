package scripting

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Defaults of the sandbox worker pool (Options).
const (
	// DefaultWorkers is how many idle workers are kept warm.
	DefaultWorkers = 2
	// DefaultMaxWorkers bounds the workers alive at once, so the scripts
	// running at once; a run beyond it waits for a worker until its time
	// limit.
	DefaultMaxWorkers = 16
	// DefaultWorkerMemory is each worker's memory budget.
	DefaultWorkerMemory = 256 << 20
	// KillGrace is how long a run may overstay its time limit before its
	// worker is killed: the worker stops the script itself at the limit,
	// and the parent kills it if it has not answered by then.
	KillGrace = 50 * time.Millisecond
	// maxWorkerRuns recycles a worker after this many runs.
	maxWorkerRuns = 10000
)

// Engine runs scripts in sandbox worker processes: the flowkv binary
// itself started in worker mode, kept warm in a pool, each running one
// script at a time under OS limits (address space, files, no child
// processes or sockets), with no database, file or network handle. A
// script's store calls are requests to this process, which checks them
// against the run's grants and executes them. The parent owns the clock: a
// run still going at its time limit is stopped, and its worker killed if it
// does not stop within KillGrace; a worker that dies mid-run (out of
// memory, stack overflow, a crash of the engine) fails that run with
// too_large or unavailable and is replaced off the critical path.
//
// One Engine serves a process; it is safe for concurrent use.
type Engine struct {
	opts Options
	exe  string
	cfg  string // the workers' configuration (workerConfig as JSON)
	log  *slog.Logger

	mu      sync.Mutex
	idle    []*worker
	slots   chan struct{} // one per live-or-starting worker (MaxWorkers)
	closed  bool
	warming bool
	missing sync.Once

	runs   sync.WaitGroup
	nextID atomic.Uint64

	inproc *local // Options.InProcess

	workers sync.Map // *worker -> struct{}: every live worker
}

// New returns an Engine with opts (zero fields take their defaults).
// Workers are started on first use.
func New(opts Options) *Engine {
	o := opts.normalize()
	// /proc/self/exe is the running binary even after a deploy replaced
	// the file on disk, so workers are always the parent's own build.
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			exe = os.Args[0]
		}
	}
	cfg, _ := json.Marshal(workerConfig{Options: o, MemoryBytes: o.WorkerMemory})
	e := &Engine{opts: o, exe: exe, cfg: string(cfg), log: slog.Default(), slots: make(chan struct{}, o.MaxWorkers)}
	if o.InProcess {
		e.inproc = newLocal(o)
	}
	return e
}

// Options returns the engine's options with defaults filled in.
func (e *Engine) Options() Options { return e.opts }

// Close ends the idle workers and waits for running scripts to end; it
// is for shutdown. Runs after Close still work (their workers are not kept).
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	idle := e.idle
	e.idle = nil
	e.mu.Unlock()
	for _, w := range idle {
		w.stop()
	}
	e.runs.Wait()
	if e.inproc != nil {
		e.inproc.Close()
	}
}

// Wait blocks until every run started so far has returned.
func (e *Engine) Wait() { e.runs.Wait() }

// Run executes r in a sandbox worker and returns its result. It fails with
// a *store.Error: invalid_argument for syntax errors and uncaught
// exceptions (or the code of an uncaught store error), timeout when the
// time limit passes or ctx ends, too_large when a size or memory limit is
// broken (including a worker that ran out of memory), unavailable when the
// worker crashed or none could be started, and the store's own codes when
// the script lets a rejected store call go uncaught.
func (e *Engine) Run(ctx context.Context, r Run) (Result, error) {
	if e.inproc != nil {
		return e.inproc.Run(ctx, r)
	}
	start := time.Now()
	name := r.Name
	if name == "" {
		name = "script"
	}
	if err := sourceSize(name, r.Source, e.opts.MaxSourceBytes); err != nil {
		return Result{}, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = e.opts.Timeout
	}
	wr := &wireRun{Source: r.Source, Name: name, Input: r.Input, Grants: r.Grants, FlowUUID: r.FlowUUID, HasStore: r.Store != nil}
	if len(r.Globals) > 0 {
		wr.Globals = make(map[string][]byte, len(r.Globals))
		for k, v := range r.Globals {
			wr.Globals[k] = v
		}
	}
	var st store.Store
	if r.Store != nil {
		wr.Limits = r.Store.Limits()
		st = store.WithGrants(r.Store, r.Grants)
		if r.FlowUUID != "" {
			st = store.WithFlow(st, r.FlowUUID)
		}
	}
	res, err := e.dispatch(ctx, wr, st, timeout)
	res.Duration = time.Since(start)
	return res, err
}

// Check compiles source in a worker, under the same limits as a run, and
// reports its syntax errors (invalid_argument with the position) without
// running it. Saving a flow or a stored script calls it.
func (e *Engine) Check(ctx context.Context, name, source string) error {
	if err := sourceSize(name, source, e.opts.MaxSourceBytes); err != nil {
		return err
	}
	if e.inproc != nil {
		_, _, err := e.inproc.cache.get(name, source)
		return err
	}
	_, err := e.dispatch(ctx, &wireRun{Check: true, Name: name, Source: source}, nil, e.opts.Timeout)
	return err
}

// activeRun is the parent's side of one run in a worker.
type activeRun struct {
	id   uint64
	st   store.Store
	ctx  context.Context // store calls; cancelled when the run ends
	done chan *wireDone
}

func (e *Engine) dispatch(ctx context.Context, wr *wireRun, st store.Store, timeout time.Duration) (Result, error) {
	e.runs.Add(1)
	defer e.runs.Done()
	name := wr.Name
	wr.Timeout = timeout
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
		wr.Timeout = max(time.Until(d), time.Millisecond)
	}
	// The parent's clock: at the deadline the worker stops the script
	// itself; past deadline+KillGrace the parent kills the worker.
	hard := time.NewTimer(time.Until(deadline) + KillGrace)
	defer hard.Stop()
	actx, acancel := context.WithDeadline(ctx, deadline)
	w, err := e.acquire(actx)
	acancel()
	if err != nil {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return Result{}, timeoutError(name, timeout, ctx)
		}
		return Result{}, err
	}
	wr.ID = e.nextID.Add(1)
	callCtx, callCancel := context.WithDeadline(ctx, deadline.Add(KillGrace))
	defer callCancel()
	ar := &activeRun{id: wr.ID, st: st, ctx: callCtx, done: make(chan *wireDone, 1)}
	w.cur.Store(ar)
	if err := w.send(&toWorker{Run: wr}); err != nil {
		w.kill()
		e.release(w, false)
		return Result{}, w.deathError(name)
	}
	cancelled := ctx.Done()
	var grace <-chan time.Time
	for {
		select {
		case d := <-ar.done:
			w.cur.Store(nil)
			w.runs++
			reuse := !d.Tainted && d.Heap < uint64(e.opts.WorkerMemory)/2 && w.runs < maxWorkerRuns
			e.release(w, reuse)
			res := Result{Value: d.Value, Logs: d.Logs, LogsTruncated: d.Truncated}
			if d.Code != "" {
				res.Value = nil
				return res, errOf(d.Code, d.Msg)
			}
			return res, nil
		case <-w.dead:
			e.release(w, false)
			if w.killedByUs.Load() {
				return Result{}, timeoutError(name, timeout, ctx)
			}
			return Result{}, w.deathError(name)
		case <-cancelled:
			// The caller gave up: ask the worker to stop the run, and kill
			// it if it has not within KillGrace.
			cancelled = nil
			_ = w.send(&toWorker{Cancel: wr.ID})
			grace = time.After(KillGrace)
		case <-grace:
			hard.Reset(0)
		case <-hard.C:
			// Answer now: a process holding much memory can take a while
			// to be torn down, and release reaps it in the background.
			w.kill()
			e.release(w, false)
			return Result{}, timeoutError(name, timeout, ctx)
		}
	}
}

// acquire returns an idle worker, or starts one when fewer than MaxWorkers
// are alive, else waits for one until ctx ends.
func (e *Engine) acquire(ctx context.Context) (*worker, error) {
	for {
		e.mu.Lock()
		if n := len(e.idle); n > 0 {
			w := e.idle[n-1]
			e.idle = e.idle[:n-1]
			e.mu.Unlock()
			select {
			case <-w.dead:
				continue // died while idle (killed from outside)
			default:
			}
			if n == 1 {
				// The last idle one: have more ready for the next run.
				e.warm()
			}
			return w, nil
		}
		e.mu.Unlock()
		select {
		case e.slots <- struct{}{}:
			w, err := e.start()
			if err != nil {
				<-e.slots
				return nil, err
			}
			return w, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
			// A worker may have come back to the idle list.
		}
	}
}

// release hands w back after a run: to the idle list when reuse (and the
// pool is not full), else it is ended and its slot freed.
func (e *Engine) release(w *worker, reuse bool) {
	e.mu.Lock()
	if reuse && !e.closed && len(e.idle) < e.opts.Workers {
		e.idle = append(e.idle, w)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	w.stop()
	go func() {
		<-w.dead
		<-e.slots
	}()
	e.warm()
}

// warm starts workers in the background until Workers are idle.
func (e *Engine) warm() {
	e.mu.Lock()
	if e.warming || e.closed || len(e.idle) >= e.opts.Workers {
		e.mu.Unlock()
		return
	}
	e.warming = true
	e.mu.Unlock()
	go func() {
		defer func() {
			e.mu.Lock()
			e.warming = false
			e.mu.Unlock()
		}()
		for {
			e.mu.Lock()
			full := e.closed || len(e.idle) >= e.opts.Workers
			e.mu.Unlock()
			if full {
				return
			}
			select {
			case e.slots <- struct{}{}:
			default:
				return // at MaxWorkers: busy ones come back
			}
			w, err := e.start()
			if err != nil {
				<-e.slots
				e.log.Warn("sandbox: cannot start a worker", "err", err)
				return
			}
			e.mu.Lock()
			if e.closed || len(e.idle) >= e.opts.Workers {
				e.mu.Unlock()
				w.stop()
				go func() { <-w.dead; <-e.slots }()
				return
			}
			e.idle = append(e.idle, w)
			e.mu.Unlock()
		}
	}()
}

// worker is the parent's side of one worker process.
type worker struct {
	e    *Engine
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  chan *toWorker // queued for write
	bw   *bufio.Writer
	enc  *gob.Encoder
	tail *tailBuffer

	cur        atomic.Pointer[activeRun]
	runs       int // runs done (owned by whoever holds the worker)
	dead       chan struct{}
	killedByUs atomic.Bool
	waitErr    error
}

// startTimeout bounds a worker's start-up (exec, runtime, limits). A start
// takes milliseconds; the bound only decides when a worker that cannot
// start is given up, so it is generous: a race-enabled binary on a machine
// at load 40 took over 10 s to exec.
const startTimeout = 30 * time.Second

// start starts a worker process and waits for it to be ready.
func (e *Engine) start() (*worker, error) {
	cmd := exec.Command(e.exe)
	cmd.Args = []string{"flowkv-sandbox-worker"} // what ps shows
	// Nothing of the parent's environment: no DSN, no cloud credentials.
	cmd.Env = []string{workerEnv + "=" + e.cfg, "GOTRACEBACK=single"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	childIn, in, err := newPipe("stdin")
	if err != nil {
		return nil, err
	}
	out, childOut, err := newPipe("stdout")
	if err != nil {
		childIn.Close()
		in.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = childIn, childOut
	w := &worker{e: e, cmd: cmd, in: in, tail: &tailBuffer{max: 16 << 10}, dead: make(chan struct{}), out: make(chan *toWorker, 1024)}
	cmd.Stderr = w.tail
	w.bw = bufio.NewWriterSize(in, 64<<10)
	w.enc = gob.NewEncoder(w.bw)
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		in.Close()
		out.Close()
		return nil, store.Errorf(store.CodeUnavailable, "sandbox: cannot start a worker: %v", err)
	}
	e.workers.Store(w, struct{}{})
	ready := make(chan *wireReady, 1)
	go w.read(out, ready)
	go w.write()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case r := <-ready:
		if r.Missing != "" {
			e.missing.Do(func() {
				e.log.Warn("sandbox: workers run without some OS limits", "missing", r.Missing)
			})
		}
		return w, nil
	case <-w.dead:
		return nil, store.Errorf(store.CodeUnavailable, "sandbox: a worker exited at start: %s", w.tail.lastLines(3))
	case <-t.C:
		w.kill()
		return nil, store.Errorf(store.CodeUnavailable, "sandbox: a worker did not start within %s", startTimeout)
	}
}

// blockingPipe returns a pipe, close-on-exec. The parent's end is in the
// network poller (a goroutine waiting on it parks without holding a P);
// the child's end is handed over as its stdin or stdout.
func newPipe(what string) (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, store.Errorf(store.CodeUnavailable, "sandbox: %s pipe: %v", what, err)
	}
	return r, w, nil
}

// read decodes the worker's messages until its stdout ends, then reaps the
// process and closes dead.
func (w *worker) read(f *os.File, ready chan<- *wireReady) {
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for {
		var m fromWorker
		if err := dec.Decode(&m); err != nil {
			break
		}
		switch {
		case m.Ready != nil:
			ready <- m.Ready
		case m.Call != nil:
			ar := w.cur.Load()
			if ar == nil || ar.id != m.Call.Run {
				// A call of a run that has ended: refuse it.
				_ = w.send(&toWorker{Reply: &wireReply{ID: m.Call.ID, Code: store.CodeTimeout, Msg: "the run has ended"}})
				continue
			}
			go w.serve(ar, m.Call)
		case m.Done != nil:
			if ar := w.cur.Load(); ar != nil && ar.id == m.Done.ID {
				ar.done <- m.Done
			}
		}
	}
	w.in.Close()
	w.waitErr = w.cmd.Wait()
	w.e.workers.Delete(w)
	close(w.dead)
}

func (w *worker) serve(ar *activeRun, c *wireCall) {
	var rep *wireReply
	if ar.st == nil {
		rep = &wireReply{ID: c.ID, Code: store.CodeUnavailable, Msg: "no data store is available to this script"}
	} else {
		rep = serveCall(ar.ctx, ar.st, c)
	}
	_ = w.send(&toWorker{Reply: rep})
}

// send queues m for the worker without blocking: a worker that stops
// reading its input (stuck in native code) must not stall the parent's
// clock. A worker whose queue is full is not keeping up and is killed.
func (w *worker) send(m *toWorker) error {
	select {
	case w.out <- m:
		return nil
	case <-w.dead:
		return errWorkerGone
	default:
		w.kill()
		return errWorkerGone
	}
}

var errWorkerGone = errors.New("sandbox: the worker is gone")

// write encodes the queued messages onto the worker's stdin until it dies.
func (w *worker) write() {
	for {
		select {
		case m := <-w.out:
			err := w.enc.Encode(m)
			if err == nil && len(w.out) == 0 {
				err = w.bw.Flush()
			}
			if err != nil {
				w.kill()
				return
			}
		case <-w.dead:
			return
		}
	}
}

// kill ends the worker at once (SIGKILL to its process group).
func (w *worker) kill() {
	w.killedByUs.Store(true)
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		_ = w.cmd.Process.Kill()
	}
}

// stop ends an idle worker: closing its stdin makes it exit; it is killed
// if it has not within a moment.
func (w *worker) stop() {
	w.in.Close()
	go func() {
		select {
		case <-w.dead:
		case <-time.After(time.Second):
			w.kill()
		}
	}()
}

// deathError says why a worker died mid-run, from what its runtime wrote
// to stderr: out of memory and stack exhaustion are too_large, anything
// else unavailable.
func (w *worker) deathError(name string) error {
	<-w.dead
	text := w.tail.String()
	mib := w.e.opts.WorkerMemory >> 20
	switch {
	case strings.Contains(text, "out of memory") || strings.Contains(text, "cannot allocate memory"):
		return store.Errorf(store.CodeTooLarge, "script %s: the sandbox ran out of memory (its budget is %d MiB) and was stopped", name, mib)
	case strings.Contains(text, "stack overflow") || strings.Contains(text, "stack exceeds"):
		return store.Errorf(store.CodeTooLarge, "script %s: the sandbox's stack overflowed and it was stopped", name)
	}
	why := w.tail.fatalLine()
	if why == "" && w.waitErr != nil {
		why = w.waitErr.Error()
	}
	if why == "" {
		why = "it exited"
	}
	return store.Errorf(store.CodeUnavailable, "script %s: the sandbox worker crashed (%s); the run was lost", name, why)
}

// tailBuffer keeps the first and the last max/2 bytes written to it (a
// worker's stderr: the runtime's "fatal error" line comes first, before a
// stack trace that may be long).
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	head []byte
	b    []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max/2 - len(t.head); room > 0 {
		n := min(room, len(p))
		t.head = append(t.head, p[:n]...)
		p = p[n:]
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max/2 {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.head) + string(t.b)
}

// fatalLine is the runtime's "fatal error: …" or "panic: …" line, if any.
func (t *tailBuffer) fatalLine() string {
	for _, l := range strings.Split(t.String(), "\n") {
		if strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "runtime: ") {
			return truncate(strings.TrimSpace(l), 200)
		}
	}
	return ""
}

func (t *tailBuffer) lastLines(n int) string {
	ls := strings.Split(strings.TrimSpace(t.String()), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return truncate(strings.Join(ls, " | "), 300)
}
