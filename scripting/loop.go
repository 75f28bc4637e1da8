package scripting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/store"
)

// runState is one run: its runtime, its event loop and what it produced.
// Fields marked (loop) are touched only by the run's goroutine.
type runState struct {
	e      *local
	name   string
	r      Run
	ctx    context.Context // the run's deadline
	cancel context.CancelFunc
	// callCtx is what store calls use: cancelled when the run ends in any
	// way, so no call outlives it.
	callCtx    context.Context
	callCancel context.CancelFunc
	vm         *goja.Runtime
	st         store.Store // guarded (and flow-stamped) view of r.Store
	limits     store.Limits

	busy atomic.Bool // executing JavaScript (the watchdog's victims)

	done     chan struct{} // closed when the run's goroutine has a result
	killed   chan struct{} // closed by kill
	killOnce sync.Once

	mu        sync.Mutex // guards the fields below
	killErr   error
	value     json.RawMessage
	err       error
	logs      []LogLine
	logBytes  int
	truncated bool

	qmu  sync.Mutex
	jobs []func() error
	wake chan struct{} // capacity 1: "jobs is not empty"

	pending   int           // (loop) store calls made and not settled
	inflight  int           // (loop) store calls running on goroutines
	queued    []storeCall   // (loop) store calls not started yet
	sem       chan struct{} // bounds store calls executing at once
	calls     sync.WaitGroup
	main      *goja.Promise   // (loop) the script's promise
	unhandled []*goja.Promise // (loop) rejected promises without handlers
	joinDepth int             // (loop) nesting of Array.prototype.join

	// (loop) built-ins captured before the script runs.
	errorCtor *goja.Object
	jsonParse goja.Callable
	jsonObj   *goja.Object
	globals   *globalScope
	asyncIter *goja.Symbol
	kvU64     *goja.Object // the KvU64 class (kv.go)
	// codegenThrower replaces the constructors that compile strings.
	codegenThrower *goja.Object
}

// newRunState makes a fresh runtime with the run-independent sandbox
// (prepare); attach gives it a run. Each runState serves one run only.
func newRunState(e *local) *runState {
	s := &runState{
		e:      e,
		vm:     goja.New(),
		done:   make(chan struct{}),
		killed: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		sem:    make(chan struct{}, e.opts.MaxParallel),
	}
	s.prepare()
	return s
}

// attach gives a prepared runtime its run.
func (s *runState) attach(ctx context.Context, cancel context.CancelFunc, r Run, name string) {
	s.name, s.r, s.ctx, s.cancel = name, r, ctx, cancel
	s.callCtx, s.callCancel = context.WithCancel(ctx)
	if r.Store != nil {
		s.limits = r.Store.Limits().Normalize()
		st := store.WithGrants(r.Store, r.Grants)
		if r.FlowUUID != "" {
			st = store.WithFlow(st, r.FlowUUID)
		}
		s.st = st
	} else {
		s.limits = store.DefaultLimits()
	}
}

// kill stops the run with err (the first kill wins): the runtime is
// interrupted and in-flight store calls are cancelled.
func (s *runState) kill(err error) {
	s.killOnce.Do(func() {
		s.mu.Lock()
		if s.killErr == nil {
			s.killErr = err
		}
		s.mu.Unlock()
		s.vm.Interrupt(err)
		s.cancel()
		close(s.killed)
	})
}

// stopped reports whether the run has been killed.
func (s *runState) stopped() bool {
	select {
	case <-s.killed:
		return true
	default:
		return false
	}
}

func (s *runState) finish(v json.RawMessage, err error) {
	s.mu.Lock()
	s.value, s.err = v, err
	s.mu.Unlock()
	close(s.done)
}

// outcome is the run's result so far: a kill's error wins over whatever
// the runtime reported while unwinding.
func (s *runState) outcome() (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := Result{Logs: append([]LogLine(nil), s.logs...), LogsTruncated: s.truncated}
	if s.killErr != nil {
		return res, s.killErr
	}
	select {
	case <-s.done:
	default:
		return res, store.Errorf(store.CodeTimeout, "script %s: did not finish", s.name)
	}
	if s.err != nil {
		return res, s.err
	}
	res.Value = s.value
	return res, nil
}

// execute runs the compiled script and its event loop to the end.
func (s *runState) execute(prg *goja.Program, gens bool) (json.RawMessage, error) {
	defer func() {
		s.callCancel()
		s.calls.Wait()
	}()
	if err := s.protect(s.bind); err != nil {
		return nil, err
	}
	if gens {
		s.disableCtor(genProtoPrg)
	}
	var v goja.Value
	s.busy.Store(true)
	err := s.protect(func() (err error) {
		v, err = s.vm.RunProgram(prg)
		return err
	})
	s.busy.Store(false)
	if err != nil {
		return nil, s.jsError(err)
	}
	p, ok := v.Export().(*goja.Promise)
	if !ok {
		return nil, store.Errorf(store.CodeInvalidArgument, "script %s: did not compile to an async function", s.name)
	}
	s.main = p
	if err := s.loop(); err != nil {
		return nil, err
	}
	switch p.State() {
	case goja.PromiseStateFulfilled:
		s.busy.Store(true)
		defer s.busy.Store(false)
		out, err := s.exportResult(p.Result())
		if err != nil {
			if ie, ok := interruptValue(err); ok {
				return nil, ie
			}
			return nil, err
		}
		return out, nil
	default:
		return nil, s.valueError(p.Result(), "")
	}
}

// loop runs queued completions until the script's promise has settled and
// no store call is in flight.
func (s *runState) loop() error {
	for {
		if err := s.checkUnhandled(); err != nil {
			return err
		}
		if len(s.queued) > 0 {
			if err := s.startQueued(); err != nil {
				return err
			}
			continue
		}
		if s.pending == 0 {
			if s.main.State() != goja.PromiseStatePending {
				return nil
			}
			return store.Errorf(store.CodeInvalidArgument, "script %s: it awaits a promise that nothing can settle any more", s.name)
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return s.ctxError()
		}
		s.qmu.Lock()
		jobs := s.jobs
		s.jobs = nil
		s.qmu.Unlock()
		for _, job := range jobs {
			if err := s.runJS(job); err != nil {
				return err
			}
		}
	}
}

// runJS runs a completion on the loop, converting what it throws.
func (s *runState) runJS(job func() error) error {
	s.busy.Store(true)
	err := s.protect(job)
	s.busy.Store(false)
	if err != nil {
		return s.jsError(err)
	}
	return nil
}

// startQueued starts the store calls the script made since the loop last
// looked. A lone call with nothing else in flight (the common `await
// dataStore.x()`) runs right here on the loop goroutine, which would only
// wait for it otherwise: no goroutine hand-off. Several calls at once
// (Promise.all) run on goroutines, MaxParallel at a time. Either way the
// promise settles on the loop, after the script's synchronous code.
func (s *runState) startQueued() error {
	q := s.queued
	if len(q) == 1 && s.inflight == 0 {
		c := q[0]
		q[0] = storeCall{}
		s.queued = q[:0] // reused: c is a copy
		res, err := c.work(s.callCtx)
		s.pending--
		return s.runJS(func() error { return c.settle(s, res, err) })
	}
	s.queued = nil
	for _, c := range q {
		c := c
		s.inflight++
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			var res any
			var err error
			select {
			case s.sem <- struct{}{}:
				res, err = c.work(s.callCtx)
				<-s.sem
			case <-s.callCtx.Done():
				err = s.callCtx.Err()
			}
			s.post(func() error {
				s.inflight--
				s.pending--
				return c.settle(s, res, err)
			})
		}()
	}
	return nil
}

func (s *runState) ctxError() error {
	s.mu.Lock()
	err := s.killErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return store.Errorf(store.CodeTimeout, "script %s: stopped after its time limit", s.name)
}

// protect runs f, turning a Go panic that escaped goja (a bug in a host
// function) into an error instead of a crash.
func (s *runState) protect(f func() error) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = s.panicError(x)
		}
	}()
	return f()
}

// post queues job to run on the loop goroutine; safe from any goroutine.
func (s *runState) post(job func() error) {
	s.qmu.Lock()
	s.jobs = append(s.jobs, job)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// checkUnhandled fails the run when a promise other than the script's own
// was rejected and nothing handled it by the time the microtasks ran.
func (s *runState) checkUnhandled() error {
	for _, p := range s.unhandled {
		if p != s.main {
			return s.valueError(p.Result(), "unhandled promise rejection: ")
		}
	}
	s.unhandled = s.unhandled[:0]
	return nil
}

func (s *runState) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		s.unhandled = append(s.unhandled, p)
	case goja.PromiseRejectionHandle:
		for i, q := range s.unhandled {
			if q == p {
				s.unhandled = append(s.unhandled[:i], s.unhandled[i+1:]...)
				break
			}
		}
	}
}

// async starts work on another goroutine and returns a promise settled on
// the loop with toJS(result) or the work's error. It must be called on the
// loop (from a host function).
func (s *runState) async(work func(ctx context.Context) (any, error), toJS func(any) goja.Value) goja.Value {
	if s.pending >= s.e.opts.MaxPendingCalls {
		panic(s.newError(store.Errorf(store.CodeTooLarge, "more than %d store calls in flight", s.e.opts.MaxPendingCalls)))
	}
	p, resolve, reject := s.vm.NewPromise()
	s.pending++
	s.queued = append(s.queued, storeCall{work: work, toJS: toJS, resolve: resolve, reject: reject})
	return s.vm.ToValue(p)
}

// storeCall is a store call made by the script, not started yet.
type storeCall struct {
	work            func(ctx context.Context) (any, error)
	toJS            func(any) goja.Value
	resolve, reject func(any) error
}

// settle settles the call's promise; on the loop only.
func (c *storeCall) settle(s *runState, res any, err error) error {
	if err != nil {
		return c.reject(s.newError(err))
	}
	return c.resolve(c.toJS(res))
}

// rejected returns a promise already rejected with err (validation that
// fails before any store call).
func (s *runState) rejected(err error) goja.Value {
	p, _, reject := s.vm.NewPromise()
	_ = reject(s.newError(err))
	return s.vm.ToValue(p)
}

// resolved returns a promise already fulfilled with v.
func (s *runState) resolved(v goja.Value) goja.Value {
	p, resolve, _ := s.vm.NewPromise()
	_ = resolve(v)
	return s.vm.ToValue(p)
}

// newError makes the JavaScript Error for err: message from
// store.Message (no internal detail), `code` the error's code word.
func (s *runState) newError(err error) *goja.Object {
	code := store.CodeOf(err)
	msg := store.Text(err)
	var obj *goja.Object
	if s.errorCtor != nil {
		obj, _ = s.vm.New(s.errorCtor, s.vm.ToValue(msg))
	}
	if obj == nil {
		obj = s.vm.NewGoError(err)
	}
	_ = obj.Set("code", string(code))
	return obj
}

// throw panics with a coded JavaScript error (host functions' throw).
func (s *runState) throw(code store.Code, format string, args ...any) {
	panic(s.newError(store.Errorf(code, format, args...)))
}

// jsError converts an error from goja into the run's coded error.
func (s *runState) jsError(err error) error {
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	if v, ok := interruptValue(err); ok {
		if v == errRunGone {
			return s.ctxError()
		}
		return v
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return store.Errorf(store.CodeTooLarge, "script %s: call stack is deeper than %d frames", s.name, s.e.opts.MaxCallStack)
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		where := ""
		if i := strings.LastIndex(ex.Error(), " at "); i >= 0 {
			where = ex.Error()[i:]
		}
		return s.valueErrorAt(ex.Value(), "", sourcePositions(s.name, where))
	}
	return store.Errorf(store.CodeInvalidArgument, "script %s: %s", s.name, oneLine(err.Error()))
}

// valueError converts a thrown or rejected JavaScript value: an object with
// a known `code` keeps it, anything else is invalid_argument.
func (s *runState) valueError(v goja.Value, prefix string) error {
	return s.valueErrorAt(v, prefix, "")
}

func (s *runState) valueErrorAt(v goja.Value, prefix, where string) error {
	code := store.CodeInvalidArgument
	msg := "undefined"
	if v != nil {
		msg = safeString(v)
		if obj, ok := v.(*goja.Object); ok {
			if c := obj.Get("code"); c != nil && !goja.IsUndefined(c) && known(store.Code(safeString(c))) {
				code = store.Code(safeString(c))
				if m := obj.Get("message"); m != nil && !goja.IsUndefined(m) {
					msg = safeString(m)
				}
			}
			if where == "" {
				where = sourcePositions(s.name, stackTop(obj))
			}
		}
	}
	msg = strings.TrimPrefix(msg, string(code)+": ")
	return store.Errorf(code, "script %s: %s%s%s", s.name, prefix, truncate(oneLine(msg), 1000), where)
}

// stackTop returns " at NAME:LINE:COL" from an Error's stack, or "".
func stackTop(obj *goja.Object) (out string) {
	defer func() {
		if recover() != nil {
			out = ""
		}
	}()
	st := obj.Get("stack")
	if st == nil || goja.IsUndefined(st) {
		return ""
	}
	for _, line := range strings.Split(st.String(), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "at ") && !strings.HasSuffix(line, "(native)") {
			return " " + pcSuffix.ReplaceAllString(line, "$1")
		}
	}
	return ""
}

// pcSuffix is goja's bytecode offset after a position ("s:1:5(3)").
var pcSuffix = regexp.MustCompile(`\(\d+\)(\)?)$`)

func known(c store.Code) bool {
	return store.Known(c)
}

// safeString renders a value without running script code that could
// throw (toString may be user-defined): errors on the way become a
// placeholder.
func safeString(v goja.Value) (out string) {
	defer func() {
		if recover() != nil {
			out = "[value]"
		}
	}()
	return v.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// log appends a console line within the log budget.
func (s *runState) log(level, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.truncated {
		return
	}
	if len(s.logs) >= s.e.opts.MaxLogLines || s.logBytes+len(msg) > s.e.opts.MaxLogBytes {
		s.truncated = true
		return
	}
	s.logBytes += len(msg)
	s.logs = append(s.logs, LogLine{Level: level, Message: msg})
}

// exportResult encodes the script's return value within MaxResultBytes.
func (s *runState) exportResult(v goja.Value) (json.RawMessage, error) {
	b, err := s.toJSON(v, s.e.opts.MaxResultBytes, store.DefaultMaxDepth, "result")
	if err != nil {
		var se *store.Error
		if errors.As(err, &se) && !strings.HasPrefix(se.Msg, "script ") {
			return nil, s.fmtErr(se.Code, "%s", se.Msg)
		}
		return nil, err
	}
	return b, nil
}

// fmtErr wraps a host-side problem with the run's name.
func (s *runState) fmtErr(code store.Code, format string, args ...any) error {
	return store.Errorf(code, "script %s: %s", s.name, fmt.Sprintf(format, args...))
}
