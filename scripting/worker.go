package scripting

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"syscall"

	"github.com/flowkv/flowkv/store"
)

// workerEnv names the environment variable that makes a process a sandbox
// worker; its value is the worker's configuration (workerConfig as JSON).
const workerEnv = "FLOWKV_SANDBOX_WORKER"

// workerConfig is what a worker is started with.
type workerConfig struct {
	// Options are the engine's options (limits of each run).
	Options Options `json:"options"`
	// MemoryBytes is the worker's memory budget: the Go memory limit and
	// the heap watchdog's threshold; the address-space limit sits above it.
	MemoryBytes int64 `json:"memoryBytes"`
	// NoSeccomp skips the system-call filter (tests of the filter itself).
	NoSeccomp bool `json:"noSeccomp,omitempty"`
}

// init turns a process started as a sandbox worker into one: any binary
// that links this package (flowkv, and the test binaries of the packages
// that run scripts) can serve as its own worker, so a worker is always the
// same build as its parent. The worker never returns to main.
func init() {
	cfg, ok := os.LookupEnv(workerEnv)
	if !ok {
		return
	}
	// The pipes from the parent in the network poller: a goroutine waiting
	// for the parent's message parks instead of holding the one P in a
	// blocking read (which left the script's goroutine waiting for sysmon
	// to take the P back, hundreds of µs per message).
	in, out := pollable(0, "stdin"), pollable(1, "stdout")
	os.Exit(workerMain(cfg, in, out))
}

// pollable returns fd as a non-blocking *os.File in the network poller
// (os.Stdin itself stays blocking when the parent gave a blocking pipe).
func pollable(fd int, name string) *os.File {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return os.NewFile(uintptr(fd), name)
	}
	return os.NewFile(uintptr(fd), name)
}

// worker is the worker side of the pipe.
type workerSide struct {
	l   *local
	cfg workerConfig

	wmu sync.Mutex
	bw  *bufio.Writer
	enc *gob.Encoder

	mu      sync.Mutex
	cancels map[uint64]context.CancelFunc
	calls   map[uint64]chan *wireReply
	nextID  uint64
}

func workerMain(raw string, in io.Reader, out io.Writer) int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "flowkv sandbox worker: bad configuration: %v\n", err)
		return 2
	}
	missing := applyLimits(cfg)
	o := cfg.Options
	o.Prepared = 1
	if cfg.MemoryBytes > 0 {
		o.MaxHeapBytes = uint64(cfg.MemoryBytes)
	}
	w := &workerSide{l: newLocal(o), cfg: cfg, cancels: map[uint64]context.CancelFunc{}, calls: map[uint64]chan *wireReply{}}
	w.bw = bufio.NewWriterSize(out, 64<<10)
	w.enc = gob.NewEncoder(w.bw)
	if err := w.send(&fromWorker{Ready: &wireReady{Missing: missing}}); err != nil {
		return 1
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(in, 64<<10))
	for {
		var m toWorker
		if err := dec.Decode(&m); err != nil {
			// The parent closed the pipe (or died): nothing left to do.
			return 0
		}
		switch {
		case m.Run != nil:
			go w.run(m.Run)
		case m.Reply != nil:
			w.mu.Lock()
			ch := w.calls[m.Reply.ID]
			delete(w.calls, m.Reply.ID)
			w.mu.Unlock()
			if ch != nil {
				ch <- m.Reply
			}
		case m.Cancel != 0:
			w.mu.Lock()
			cancel := w.cancels[m.Cancel]
			w.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	}
}

func (w *workerSide) send(m *fromWorker) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.enc.Encode(m); err != nil {
		return err
	}
	return w.bw.Flush()
}

func (w *workerSide) run(r *wireRun) {
	ctx, cancel := context.WithCancel(context.Background())
	w.mu.Lock()
	w.cancels[r.ID] = cancel
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.cancels, r.ID)
		w.mu.Unlock()
		cancel()
	}()
	done := &wireDone{ID: r.ID}
	if r.Check {
		_, _, err := w.l.cache.get(r.Name, r.Source)
		done.Code, done.Msg = codeMsg(err)
	} else {
		run := Run{Source: r.Source, Name: r.Name, Input: r.Input, Grants: r.Grants, FlowUUID: r.FlowUUID, Timeout: r.Timeout}
		if len(r.Globals) > 0 {
			run.Globals = make(map[string]json.RawMessage, len(r.Globals))
			for k, v := range r.Globals {
				run.Globals[k] = v
			}
		}
		if r.HasStore {
			run.Store = &remoteStore{w: w, run: r.ID, limits: r.Limits}
		}
		res, err := w.l.Run(ctx, run)
		done.Value, done.Logs, done.Truncated, done.Tainted = res.Value, res.Logs, res.LogsTruncated, res.abandoned
		done.Code, done.Msg = codeMsg(err)
	}
	done.Heap = liveHeap()
	_ = w.send(&fromWorker{Done: done})
}

// liveHeap is the heap live at the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// call sends one store call to the parent and waits for its answer.
func (w *workerSide) call(ctx context.Context, c *wireCall) (*wireReply, error) {
	ch := make(chan *wireReply, 1)
	w.mu.Lock()
	w.nextID++
	c.ID = w.nextID
	w.calls[c.ID] = ch
	w.mu.Unlock()
	if err := w.send(&fromWorker{Call: c}); err != nil {
		return nil, store.Errorf(store.CodeUnavailable, "sandbox: the parent process is gone")
	}
	select {
	case rep := <-ch:
		return rep, errOf(rep.Code, rep.Msg)
	case <-ctx.Done():
		w.mu.Lock()
		delete(w.calls, c.ID)
		w.mu.Unlock()
		return nil, ctx.Err()
	}
}

// remoteStore is the store a worker's scripts see: every call is a request
// to the parent, which holds the database and checks the run's grants.
type remoteStore struct {
	w      *workerSide
	run    uint64
	limits store.Limits
}

func (s *remoteStore) do(ctx context.Context, c wireCall) (*wireReply, error) {
	c.Run = s.run
	return s.w.call(ctx, &c)
}

func entryOf(rep *wireReply, err error) (store.Entry, error) {
	if err != nil || rep.Entry == nil {
		if err == nil {
			err = store.Errorf(store.CodeUnavailable, "sandbox: empty answer from the parent")
		}
		return store.Entry{}, err
	}
	return *rep.Entry, nil
}

func pageOf(rep *wireReply, err error) (store.Page, error) {
	if err != nil || rep.Page == nil {
		if err == nil {
			err = store.Errorf(store.CodeUnavailable, "sandbox: empty answer from the parent")
		}
		return store.Page{}, err
	}
	return *rep.Page, nil
}

func (s *remoteStore) Fetch(ctx context.Context, q store.FetchQuery) (store.Page, error) {
	return pageOf(s.do(ctx, wireCall{Op: opFetch, Fetch: &q}))
}

func (s *remoteStore) FindName(ctx context.Context, name string, limit, offset int) ([]store.Entry, error) {
	rep, err := s.do(ctx, wireCall{Op: opFindName, Name: name, Limit: limit, Offset: offset})
	if err != nil {
		return nil, err
	}
	return rep.Entries, nil
}

func (s *remoteStore) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	return entryOf(s.do(ctx, wireCall{Op: opFindNameKey, Name: name, Key: key}))
}

func (s *remoteStore) Insert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	return entryOf(s.do(ctx, wireCall{Op: opInsert, Name: name, Key: key, Data: data, Write: o}))
}

func (s *remoteStore) Upsert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	return entryOf(s.do(ctx, wireCall{Op: opUpsert, Name: name, Key: key, Data: data, Write: o}))
}

func (s *remoteStore) Update(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	return entryOf(s.do(ctx, wireCall{Op: opUpdate, Name: name, Key: key, Data: data, Write: o}))
}

func (s *remoteStore) Delete(ctx context.Context, name, key string, o store.DeleteOptions) (bool, error) {
	rep, err := s.do(ctx, wireCall{Op: opDelete, Name: name, Key: key, Delete: o})
	if err != nil {
		return false, err
	}
	return rep.OK, nil
}

func (s *remoteStore) Atomic(ctx context.Context, checks []store.Check, muts []store.Mutation) (store.AtomicResult, error) {
	rep, err := s.do(ctx, wireCall{Op: opAtomic, Checks: checks, Muts: muts})
	if err != nil {
		// A failed check still answers with its result.
		if rep != nil && rep.Atomic != nil {
			return *rep.Atomic, err
		}
		return store.AtomicResult{}, err
	}
	if rep.Atomic == nil {
		return store.AtomicResult{}, store.Errorf(store.CodeUnavailable, "sandbox: empty answer from the parent")
	}
	return *rep.Atomic, nil
}

func (s *remoteStore) List(ctx context.Context, name, prefix, cursor string, limit int) (store.Page, error) {
	return pageOf(s.do(ctx, wireCall{Op: opList, Name: name, Prefix: prefix, Cursor: cursor, Limit: limit}))
}

func (s *remoteStore) ReadRanges(ctx context.Context, name string, ranges []store.KeyRange) ([][]store.Entry, error) {
	rep, err := s.do(ctx, wireCall{Op: opReadRanges, Name: name, Ranges: ranges})
	if err != nil {
		return nil, err
	}
	if len(rep.Ranges) != len(ranges) {
		return nil, store.Errorf(store.CodeUnavailable, "sandbox: %d ranges answered for %d read", len(rep.Ranges), len(ranges))
	}
	return rep.Ranges, nil
}

func (s *remoteStore) Names(ctx context.Context) ([]store.NameCount, error) {
	rep, err := s.do(ctx, wireCall{Op: opNames})
	if err != nil {
		return nil, err
	}
	return rep.Names, nil
}

func (s *remoteStore) Query(ctx context.Context, q store.Query) (store.QueryPage, error) {
	rep, err := s.do(ctx, wireCall{Op: opQuery, Query: &q})
	if err != nil {
		return store.QueryPage{}, err
	}
	if rep.Query == nil {
		return store.QueryPage{}, store.Errorf(store.CodeUnavailable, "sandbox: empty answer from the parent")
	}
	if q.Count && rep.Query.Count == nil {
		// gob leaves out zero values, a pointer to 0 included.
		rep.Query.Count = new(int64)
	}
	return *rep.Query, nil
}

func (s *remoteStore) CreateIndex(ctx context.Context, name, field string) (store.Index, error) {
	rep, err := s.do(ctx, wireCall{Op: opCreateIndex, Name: name, Field: field})
	if err != nil {
		return store.Index{}, err
	}
	if rep.Index == nil {
		return store.Index{}, store.Errorf(store.CodeUnavailable, "sandbox: empty answer from the parent")
	}
	return *rep.Index, nil
}

func (s *remoteStore) DropIndex(ctx context.Context, name, field string) (bool, error) {
	rep, err := s.do(ctx, wireCall{Op: opDropIndex, Name: name, Field: field})
	if err != nil {
		return false, err
	}
	return rep.OK, nil
}

func (s *remoteStore) Indexes(ctx context.Context, name string) ([]store.Index, error) {
	rep, err := s.do(ctx, wireCall{Op: opIndexes, Name: name})
	if err != nil {
		return nil, err
	}
	return rep.Indexes, nil
}

func (s *remoteStore) Limits() store.Limits           { return s.limits }
func (s *remoteStore) Ping(ctx context.Context) error { return nil }
func (s *remoteStore) Close() error                   { return nil }

// applyLimits puts the worker under its OS and runtime limits before it
// runs anything, and returns what could not be applied ("" when all was).
func applyLimits(cfg workerConfig) string {
	runtime.GOMAXPROCS(1)
	if cfg.MemoryBytes > 0 {
		debug.SetMemoryLimit(cfg.MemoryBytes)
	}
	debug.SetMaxStack(64 << 20)
	return osLimits(cfg)
}

// workerHeapMargin is what the address-space limit allows beyond the
// worker's size at start and its memory budget: thread stacks, the
// collector's work and the heap's overshoot of the soft limit.
const workerHeapMargin = 256 << 20
