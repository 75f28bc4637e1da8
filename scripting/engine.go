// Package scripting runs untrusted JavaScript (flows' JavaScript blocks and
// stored scripts) in a goja sandbox whose only door to the world is the data
// store, through the async `dataStore` and `kv` APIs. See docs/scripting.md.
//
// One Engine serves a process (pool.go): it runs every script in a sandbox
// worker process — the same binary started in worker mode (worker.go), under
// OS limits (limits_linux.go) — and answers the worker's store calls over a
// pipe (wire.go), so nothing a script does can end the serving process.
// Inside a worker, the in-process engine (local, this file) gives every run
// a fresh goja runtime on its own goroutine (an event loop: store calls run
// on other goroutines and their results are queued back to the loop, so
// promises settle only on the runtime's goroutine), stops it when its
// timeout expires, and ends it with a *store.Error carrying a code word when
// it fails.
package scripting

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/store"
)

// Defaults of Options.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultMaxCallStack    = 1000
	DefaultMaxLogBytes     = 64 << 10
	DefaultMaxLogLines     = 1000
	DefaultMaxResultBytes  = 1 << 20
	DefaultMaxMemory       = 64 << 20
	DefaultMaxHeapBytes    = 512 << 20
	DefaultMaxPendingCalls = 1000
	DefaultMaxParallel     = 8
	DefaultMaxSourceBytes  = 256 << 10
	DefaultCacheSize       = 256
	DefaultPrepared        = 4

	// RegexpTimeout bounds one match of a backtracking regular expression
	// (patterns with backreferences or lookaround; the others run in linear
	// time). A match that takes longer counts as no match. It is set for the
	// whole process when the package is loaded.
	RegexpTimeout = 250 * time.Millisecond
)

func init() {
	if regexp2.DefaultMatchTimeout == time.Duration(math.MaxInt64) {
		regexp2.DefaultMatchTimeout = RegexpTimeout
	}
}

// Options configure an Engine. Zero fields take their defaults.
type Options struct {
	// Timeout is a run's wall-clock limit when Run.Timeout is 0 (5 s).
	Timeout time.Duration
	// MaxCallStack bounds JavaScript call depth (1000 frames).
	MaxCallStack int
	// MaxLogBytes and MaxLogLines bound the captured console output of a
	// run; what goes beyond is dropped and Result.LogsTruncated is set.
	MaxLogBytes int
	MaxLogLines int
	// MaxResultBytes bounds the JSON encoding of a run's result (1 MiB).
	MaxResultBytes int
	// MaxMemory is the per-run budget for bulk allocations made by
	// built-ins (String repeat/padStart/padEnd, array methods over long
	// arrays, Function.prototype.apply, JSON): they are refused with
	// too_large before they allocate more than this (64 MiB).
	MaxMemory int64
	// MaxHeapBytes is the heap watchdog's threshold of an in-process
	// engine (InProcess; 512 MiB): while runs are active it samples the Go
	// heap and, past this, stops the runs executing JavaScript with
	// too_large. A worker's watchdog uses WorkerMemory instead.
	MaxHeapBytes uint64
	// MaxPendingCalls bounds the store calls one run may have in flight
	// (1000); one more rejects with too_large.
	MaxPendingCalls int
	// MaxParallel bounds how many of a run's store calls execute at once (8).
	MaxParallel int
	// MaxSourceBytes bounds a script's source (256 KiB).
	MaxSourceBytes int
	// CacheSize is how many compiled scripts are kept (256).
	CacheSize int
	// Prepared is how many fresh runtimes a worker builds ahead of time,
	// off the runs' critical path. Each is used by exactly one run.
	Prepared int
	// Workers is how many idle sandbox workers are kept warm (2).
	Workers int
	// MaxWorkers bounds the sandbox workers alive at once, hence the
	// scripts running at once (16); a run beyond it waits for a worker.
	MaxWorkers int
	// WorkerMemory is each worker's memory budget in bytes (256 MiB): the
	// Go memory limit and heap watchdog inside the worker, with an
	// address-space limit above it. A script that exhausts it fails with
	// too_large and its worker is replaced.
	WorkerMemory int64
	// InProcess runs scripts inside this process, with none of the worker
	// processes' isolation: a script that exhausts memory ends the
	// process. It exists to measure what isolation costs (benchmarks);
	// nothing in flowkv sets it.
	InProcess bool
}

func (o Options) normalize() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxCallStack <= 0 {
		o.MaxCallStack = DefaultMaxCallStack
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
	if o.MaxLogLines <= 0 {
		o.MaxLogLines = DefaultMaxLogLines
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.MaxHeapBytes == 0 {
		o.MaxHeapBytes = DefaultMaxHeapBytes
	}
	if o.MaxPendingCalls <= 0 {
		o.MaxPendingCalls = DefaultMaxPendingCalls
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = DefaultMaxParallel
	}
	if o.MaxSourceBytes <= 0 {
		o.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Prepared == 0 {
		o.Prepared = DefaultPrepared
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = DefaultMaxWorkers
	}
	if o.MaxWorkers < o.Workers {
		o.MaxWorkers = o.Workers
	}
	if o.WorkerMemory <= 0 {
		o.WorkerMemory = DefaultWorkerMemory
	}
	return o
}

// Run is one execution of a script.
type Run struct {
	// Source is the script: the body of an async function, so it may use
	// top-level await and return its result. TypeScript annotations and
	// `for await` are accepted too (translated before compiling).
	Source string
	// Name names the script in error messages and stack traces ("script").
	Name string
	// Input is the JSON value bound to the global `input` (null if empty).
	Input json.RawMessage
	// Globals are further JSON values bound as read-only-by-convention
	// globals (a flow passes `steps` and `flow`). Names that clash with the
	// sandbox's own globals are invalid_argument.
	Globals map[string]json.RawMessage
	// Store is what dataStore and kv use. The run wraps it with
	// store.WithGrants(Store, Grants), and with store.WithFlow when
	// FlowUUID is set. A nil Store makes every call unavailable.
	Store store.Store
	// Grants are the namespaces the script may use. nil or empty grants
	// allow nothing; pass store.AllGrants() for every namespace. Reserved
	// namespaces (_flowkv.*) are never reachable from scripts.
	Grants store.Grants
	// FlowUUID stamps every write (entries' flowUuid) when not empty.
	FlowUUID string
	// Timeout overrides Options.Timeout for this run when > 0.
	Timeout time.Duration
}

// LogLine is one captured console call.
type LogLine struct {
	// Level is log, info, warn, error or debug.
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Result is what a run produced. Run returns it with the logs even when
// the run fails.
type Result struct {
	// Value is the JSON encoding of the script's return value (null for
	// undefined).
	Value json.RawMessage `json:"value"`
	// Logs are the console lines, in order, bounded by MaxLogBytes and
	// MaxLogLines.
	Logs          []LogLine     `json:"logs"`
	LogsTruncated bool          `json:"logsTruncated,omitempty"`
	Duration      time.Duration `json:"duration"`

	// abandoned: the run returned while its runtime was still inside a
	// native operation (its goroutine ends in the background).
	abandoned bool
}

// local runs scripts in this process (a worker's engine, or an Engine with
// InProcess). It is safe for concurrent use; every Run is independent (a
// fresh runtime: nothing one run leaves in globals is visible to the next).
type local struct {
	opts  Options
	cache *programCache

	mu     sync.Mutex
	active map[*runState]struct{}
	dog    bool // watchdog goroutine running

	bg sync.WaitGroup // run goroutines, including abandoned ones

	// ready holds fresh prepared runtimes; want wakes the goroutine that
	// refills it; stop ends that goroutine.
	ready     chan *runState
	want      chan struct{}
	stop      chan struct{}
	closeOnce sync.Once
}

// newLocal returns a local engine with opts (zero fields take their
// defaults).
func newLocal(opts Options) *local {
	o := opts.normalize()
	e := &local{opts: o, cache: newProgramCache(o.CacheSize), active: map[*runState]struct{}{}, stop: make(chan struct{})}
	if o.Prepared > 0 {
		e.ready = make(chan *runState, o.Prepared)
		e.want = make(chan struct{}, 1)
		go e.refill()
	}
	return e
}

// refill keeps the ready pool full of fresh runtimes, building them when a
// run takes one. Prepared runtimes have never run anything: a pooled
// runtime starts as clean as a new one.
func (e *local) refill() {
	for {
		for len(e.ready) < cap(e.ready) {
			select {
			case e.ready <- newRunState(e):
			case <-e.stop:
				return
			}
		}
		select {
		case <-e.want:
		case <-e.stop:
			return
		}
	}
}

// runtime returns a fresh prepared runtime: from the pool when one is
// ready, else built now.
func (e *local) runtime() *runState {
	if e.ready != nil {
		select {
		case s := <-e.ready:
			select {
			case e.want <- struct{}{}:
			default:
			}
			return s
		default:
			select {
			case e.want <- struct{}{}:
			default:
			}
		}
	}
	return newRunState(e)
}

// Close stops the goroutine that prepares runtimes and waits for running
// scripts to end. Runs after Close still work (their runtimes are built
// inline).
func (e *local) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)

	})
	e.Wait()
}

// Options returns the engine's options with defaults filled in.
func (e *local) Options() Options { return e.opts }

// Wait blocks until every goroutine started by Run has ended, including
// those of runs that timed out while stuck in a long native operation
// (Run returns on time; their goroutine ends as soon as the operation
// does). Tests and shutdown use it.
func (e *local) Wait() { e.bg.Wait() }

// abandonGrace is how long Run waits for an interrupted runtime to stop
// before it returns anyway and lets the goroutine end in the background.
const abandonGrace = 20 * time.Millisecond

// Run executes r and returns its result. It fails with a *store.Error:
// invalid_argument for syntax errors and uncaught exceptions (or the code
// of an uncaught store error), timeout when the time limit passes or ctx
// ends, too_large when a size or memory limit is broken, and the store's
// own codes (access_denied, not_found, …) when the script lets a rejected
// store call go uncaught.
func (e *local) Run(ctx context.Context, r Run) (Result, error) {
	start := time.Now()
	name := r.Name
	if name == "" {
		name = "script"
	}
	if err := sourceSize(name, r.Source, e.opts.MaxSourceBytes); err != nil {
		return Result{}, err
	}
	prg, gens, err := e.cache.get(name, r.Source)
	if err != nil {
		return Result{Duration: time.Since(start)}, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = e.opts.Timeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	s := e.runtime()
	s.attach(rctx, cancel, r, name)
	e.track(s)
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		defer e.untrack(s)
		s.finish(s.execute(prg, gens))
	}()

	var res Result
	select {
	case <-s.done:
	case <-s.killed:
		// The watchdog or the deadline stopped the run; give the runtime a
		// moment to unwind cleanly, then return without it.
		select {
		case <-s.done:
		case <-time.After(abandonGrace):
		}
	case <-rctx.Done():
		s.kill(timeoutError(name, timeout, ctx))
		select {
		case <-s.done:
		case <-time.After(abandonGrace):
		}
	}
	res, err = s.outcome()
	select {
	case <-s.done:
	default:
		res.abandoned = true
	}
	cancel()
	res.Duration = time.Since(start)
	return res, err
}

// sourceSize refuses a source over max bytes (too_large).
func sourceSize(name, source string, max int) error {
	if len(source) > max {
		return store.Errorf(store.CodeTooLarge, "script %s: source is %d bytes, the limit is %d", name, len(source), max)
	}
	return nil
}

func timeoutError(name string, d time.Duration, parent context.Context) error {
	if parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded) {
		return store.Errorf(store.CodeTimeout, "script %s: cancelled", name)
	}
	return store.Errorf(store.CodeTimeout, "script %s: stopped after the time limit of %s", name, d)
}

func (e *local) track(s *runState) {
	e.mu.Lock()
	e.active[s] = struct{}{}
	if !e.dog {
		e.dog = true
		go e.watchdog()
	}
	e.mu.Unlock()
}

func (e *local) untrack(s *runState) {
	e.mu.Lock()
	delete(e.active, s)
	e.mu.Unlock()
}

// watchdogTick is how often the heap is sampled while runs are active.
const watchdogTick = 5 * time.Millisecond

// watchdog samples the process heap while runs are active and stops the
// runs executing JavaScript when the live heap exceeds MaxHeapBytes. It
// judges by the heap live at the last collection (garbage left by earlier
// runs does not count), forcing a collection when uncollected objects pass
// the limit. It exits when no run is active.
func (e *local) watchdog() {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	var lastGC time.Time
	needGC := false
	for range t.C {
		e.mu.Lock()
		if len(e.active) == 0 {
			e.dog = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		metrics.Read(sample)
		objects, live := sample[0].Value.Uint64(), sample[1].Value.Uint64()
		if objects <= e.opts.MaxHeapBytes {
			continue
		}
		busy := e.anyBusy()
		if !busy {
			// Nothing to stop; collect what stopped runs left, once.
			if needGC {
				runtime.GC()
				lastGC, needGC = time.Now(), false
			}
			continue
		}
		// Objects include garbage (left by earlier runs too); judge by the
		// heap live now. Collect when the last collection is stale (50 ms),
		// or at once when the heap is far past the limit, where waiting
		// could let a doubling run double again.
		if objects > 4*e.opts.MaxHeapBytes || time.Since(lastGC) >= 50*time.Millisecond {
			runtime.GC()
			lastGC = time.Now()
			metrics.Read(sample)
			live = sample[1].Value.Uint64()
		}
		if live <= e.opts.MaxHeapBytes {
			continue
		}
		e.mu.Lock()
		var victims []*runState
		unwinding := false
		for s := range e.active {
			switch {
			case s.stopped():
				// Already stopped, still inside an uninterruptible native
				// operation: its memory goes when it returns.
				unwinding = true
			case s.busy.Load():
				victims = append(victims, s)
			}
		}
		e.mu.Unlock()
		// While a stopped run unwinds, the heap it holds is not the other
		// runs' doing; stop them too only when the heap keeps growing far
		// past the limit regardless.
		if unwinding && live <= 4*e.opts.MaxHeapBytes {
			continue
		}
		// Judge the next sample by a fresh collection: the victims' memory
		// becomes garbage once they unwind.
		lastGC, needGC = time.Time{}, true
		for _, s := range victims {
			s.kill(store.Errorf(store.CodeTooLarge, "script %s: stopped: the process heap passed the %d MiB limit while it ran (memory budget)", s.name, e.opts.MaxHeapBytes>>20))
		}
	}
}

func (e *local) anyBusy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.active {
		if s.busy.Load() {
			return true
		}
	}
	return false
}

// errRunGone is the interrupt value when a run is killed for a reason
// already recorded.
var errRunGone = errors.New("run stopped")

// interruptValue recovers a coded error from a goja interrupt.
func interruptValue(err error) (error, bool) {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if v, ok := ie.Value().(error); ok {
			return v, true
		}
		return errRunGone, true
	}
	return nil, false
}
