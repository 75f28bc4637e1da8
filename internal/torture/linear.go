package torture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// LinearConfig configures one linearizability run.
type LinearConfig struct {
	Server *Server
	// Servers, when set instead of Server, are several servers over one
	// database: client i talks to Servers[i % len(Servers)], so the
	// history checks that they behave as one (no kills then).
	Servers []*Server
	Clients int // concurrent clients (default 16)
	Ops     int // operations to record (default 10,000)
	Names   int // namespaces (default 2)
	Keys    int // keys per namespace (default 4)
	// Prefix makes this run's namespaces unique (several runs can share
	// one server and database).
	Prefix string
	// Kills > 0: SIGKILL the server that many times at random moments
	// (KillMin..KillMax apart) and restart it on the same database.
	Kills            int
	KillMin, KillMax time.Duration
	// ExternalDB: the database is another process (PostgreSQL) that keeps
	// executing a statement the killed server sent; a request whose
	// connection was lost may then take effect after the client saw the
	// error, so its return time is unbounded. With SQLite the database
	// dies with the server: whatever a lost request did, it did before.
	ExternalDB bool
	// CheckTimeout bounds porcupine (default 5 minutes).
	CheckTimeout time.Duration
	// OutDir, when set, receives a porcupine visualization of an illegal
	// history.
	OutDir string
	Seed   uint64
	// Logf reports progress (may be nil).
	Logf func(format string, args ...any)
}

// LinearResult is what a run recorded and found.
type LinearResult struct {
	Ops           int            `json:"ops"`           // recorded in the history
	Definite      int            `json:"definite"`      // with a known outcome
	Indeterminate int            `json:"indeterminate"` // outcome unknown
	Refused       int            `json:"refused"`       // never reached a server (not recorded)
	Unexpected    map[string]int `json:"unexpected"`    // answers the workload never expects (400, 401, …)
	Status5xx     int            `json:"status5xx"`
	Check         string         `json:"check"` // Ok, Illegal, Unknown
	CheckTime     time.Duration  `json:"checkTime"`
	Duration      time.Duration  `json:"duration"`
	Kills         int            `json:"kills"`
	Integrity     []string       `json:"integrity"` // PRAGMA integrity_check after each kill
	// Set workload: unique keys inserted; after every restart and at the
	// end every acknowledged one must be present (Lost) and nothing
	// never attempted may be (Unexpected).
	SetAcked      int    `json:"setAcked"`
	SetLost       int    `json:"setLost"`
	SetUnexpected int    `json:"setUnexpected"`
	Visualization string `json:"visualization,omitempty"`
}

// OK reports whether the run found nothing wrong.
func (r LinearResult) OK() bool {
	if r.Check != "Ok" || r.SetLost != 0 || r.SetUnexpected != 0 || len(r.Unexpected) != 0 {
		return false
	}
	for _, s := range r.Integrity {
		if s != "ok" {
			return false
		}
	}
	return true
}

func (r LinearResult) String() string {
	return fmt.Sprintf("check=%s ops=%d definite=%d indeterminate=%d refused=%d 5xx=%d unexpected=%v kills=%d integrity=%v set(acked=%d lost=%d unexpected=%d) run=%s check=%s",
		r.Check, r.Ops, r.Definite, r.Indeterminate, r.Refused, r.Status5xx, r.Unexpected, r.Kills, summarize(r.Integrity),
		r.SetAcked, r.SetLost, r.SetUnexpected, r.Duration.Round(time.Millisecond), r.CheckTime.Round(time.Millisecond))
}

func summarize(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	n := map[string]int{}
	for _, s := range ss {
		n[s]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for _, k := range keys {
		out += fmt.Sprintf("%s×%d ", k, n[k])
	}
	return out[:len(out)-1]
}

type recorder struct {
	mu      sync.Mutex
	start   time.Time
	ops     []porcupine.Operation
	res     LinearResult
	setAck  map[string]bool
	setTry  map[string]bool
	started atomic.Int64 // operations begun
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) unexpected(what string) {
	r.mu.Lock()
	r.res.Unexpected[what]++
	r.mu.Unlock()
}

// RunLinear drives the server with cfg.Clients concurrent clients and
// checks the recorded history with porcupine.
func RunLinear(ctx context.Context, cfg LinearConfig) (LinearResult, error) {
	if cfg.Clients == 0 {
		cfg.Clients = 16
	}
	if cfg.Ops == 0 {
		cfg.Ops = 10000
	}
	if cfg.Names == 0 {
		cfg.Names = 2
	}
	if cfg.Keys == 0 {
		cfg.Keys = 4
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = 5 * time.Minute
	}
	if cfg.KillMin == 0 {
		cfg.KillMin = 100 * time.Millisecond
	}
	if cfg.KillMax < cfg.KillMin {
		cfg.KillMax = cfg.KillMin * 5
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "lin-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if cfg.Server == nil && len(cfg.Servers) > 0 {
		if cfg.Kills > 0 && len(cfg.Servers) > 1 {
			return LinearResult{}, errors.New("torture: kills need one server")
		}
		cfg.Server = cfg.Servers[0]
	}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []*Server{cfg.Server}
	}
	srv := cfg.Server
	cls := make([]*Client, len(cfg.Servers))
	for i, s := range cfg.Servers {
		cls[i] = NewClient(s.URL, s.Token, cfg.Clients/len(cfg.Servers)+2)
		defer cls[i].Close()
	}
	cl := cls[0]

	names := make([]string, cfg.Names)
	for i := range names {
		names[i] = fmt.Sprintf("%s-n%d", cfg.Prefix, i)
	}
	// Keys hold characters that must be percent-encoded.
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%d é:x", i)
	}
	setName := cfg.Prefix + "-set"

	rec := &recorder{start: time.Now(), setAck: map[string]bool{}, setTry: map[string]bool{}}
	rec.res.Unexpected = map[string]int{}

	var killing atomic.Bool
	killing.Store(cfg.Kills > 0)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var killErr error
	killDone := make(chan struct{})
	go func() {
		defer close(killDone)
		if cfg.Kills == 0 {
			return
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, 99))
		for i := 0; i < cfg.Kills; i++ {
			d := cfg.KillMin + time.Duration(rng.Int64N(int64(cfg.KillMax-cfg.KillMin)+1))
			select {
			case <-time.After(d):
			case <-runCtx.Done():
				return
			}
			srv.Kill()
			rec.mu.Lock()
			rec.res.Kills++
			acked := make([]string, 0, len(rec.setAck))
			for k := range rec.setAck {
				acked = append(acked, k)
			}
			rec.mu.Unlock()
			if p := SQLitePath(srv.DSN); p != "" {
				ic, err := IntegrityCheck(p)
				if err != nil {
					ic = "error: " + err.Error()
				}
				rec.mu.Lock()
				rec.res.Integrity = append(rec.res.Integrity, ic)
				rec.mu.Unlock()
			}
			if err := srv.Start(runCtx); err != nil {
				killErr = fmt.Errorf("restart %d: %w", i+1, err)
				cancel()
				return
			}
			// Every write acknowledged before the kill survived it.
			present, err := cl.ListKeys(runCtx, setName)
			if err != nil {
				killErr = fmt.Errorf("set check after restart %d: %w", i+1, err)
				cancel()
				return
			}
			lost := 0
			for _, k := range acked {
				if !present[k] {
					lost++
				}
			}
			if lost > 0 {
				rec.mu.Lock()
				rec.res.SetLost += lost
				rec.mu.Unlock()
				logf("restart %d: %d acknowledged inserts lost", i+1, lost)
			}
		}
		killing.Store(false)
	}()

	var wg sync.WaitGroup
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			w := &worker{id: c, cfg: cfg, cl: cls[c%len(cls)], rec: rec, names: names, keys: keys, setName: setName,
				rng: rand.New(rand.NewPCG(cfg.Seed, uint64(c)+1)), known: map[[2]string]int64{}}
			for runCtx.Err() == nil && (rec.started.Add(1) <= int64(cfg.Ops) || killing.Load()) {
				w.one(runCtx)
			}
		}(c)
	}
	wg.Wait()
	cancel()
	<-killDone
	rec.res.Duration = time.Since(rec.start)
	if killErr != nil {
		return rec.res, killErr
	}
	if ctx.Err() != nil {
		return rec.res, ctx.Err()
	}

	// Final set check: nothing lost, nothing never attempted.
	present, err := cl.ListKeys(ctx, setName)
	if err != nil {
		return rec.res, fmt.Errorf("final set check: %w", err)
	}
	rec.res.SetAcked = len(rec.setAck)
	for k := range rec.setAck {
		if !present[k] {
			rec.res.SetLost++
		}
	}
	for k := range present {
		if !rec.setTry[k] {
			rec.res.SetUnexpected++
		}
	}

	model := Model()
	t0 := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, rec.ops, cfg.CheckTimeout)
	rec.res.CheckTime = time.Since(t0)
	rec.res.Ops = len(rec.ops)
	switch res {
	case porcupine.Ok:
		rec.res.Check = "Ok"
	case porcupine.Illegal:
		rec.res.Check = "Illegal"
	default:
		rec.res.Check = "Unknown"
	}
	if res == porcupine.Illegal && cfg.OutDir != "" {
		if p, err := dumpIllegal(cfg.OutDir, cfg.Prefix, rec.ops); err == nil {
			logf("illegal partition history: %s", p)
		}
		p := filepath.Join(cfg.OutDir, cfg.Prefix+"-illegal.html")
		if f, err := os.Create(p); err == nil {
			if porcupine.Visualize(model, info, f) == nil {
				rec.res.Visualization = p
			}
			f.Close()
		}
	}
	return rec.res, nil
}

type worker struct {
	id      int
	cfg     LinearConfig
	cl      *Client
	rec     *recorder
	names   []string
	keys    []string
	setName string
	rng     *rand.Rand
	seq     int64
	// known: the last version this client saw per (name, key), for
	// If-Match and atomic checks.
	known map[[2]string]int64
}

// The operation mix (weights).
var mix = []struct {
	k Kind
	w int
}{
	{KGet, 25}, {KInsert, 8}, {KUpsert, 12}, {KUpdate, 10}, {KDelete, 6},
	{KCasPut, 15}, {KCasDelete, 5}, {KSum, 10}, {KCheckSet, 9},
}

func (w *worker) pick() Kind {
	total := 0
	for _, m := range mix {
		total += m.w
	}
	n := w.rng.IntN(total)
	for _, m := range mix {
		if n < m.w {
			return m.k
		}
		n -= m.w
	}
	return KGet
}

func (w *worker) one(ctx context.Context) {
	// One operation in ten also inserts a unique key of the set workload.
	if w.rng.IntN(10) == 0 {
		w.setInsert(ctx)
	}
	w.seq++
	in := Input{
		Kind: w.pick(),
		Name: w.names[w.rng.IntN(len(w.names))],
		Key:  w.keys[w.rng.IntN(len(w.keys))],
		// Unique per write: client, sequence; sums add 1.
		Val: int64(w.id+1)*1_000_000_000 + w.seq*1000,
	}
	nk := [2]string{in.Name, in.Key}
	switch in.Kind {
	case KSum:
		in.Val = 1
	case KCasPut, KCasDelete, KCheckSet:
		in.IfVer = w.known[nk]
		if in.IfVer == 0 || w.rng.IntN(5) == 0 {
			// A stale or made-up version now and then.
			in.IfVer = 1 + w.rng.Int64N(max(in.IfVer, 1)+3)
		}
		if in.Kind == KCheckSet && w.rng.IntN(4) == 0 {
			in.IfVer = 0 // expect absent
		}
	}
	call := w.rec.now()
	out, rerr := w.exec(ctx, in)
	ret := w.rec.now()
	if rerr != nil {
		switch {
		case errors.Is(rerr, ErrRefused):
			w.rec.mu.Lock()
			w.rec.res.Refused++
			w.rec.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			return
		case ctx.Err() != nil:
			// The run was cancelled: an unfinished call may still apply.
			out, ret = Output{Unknown: true}, math.MaxInt64
		case errors.Is(rerr, ErrTimeout):
			out, ret = Output{Unknown: true}, math.MaxInt64
		case errors.Is(rerr, errUnexpectedAnswer):
			w.rec.unexpected(rerr.Error())
			return
		default:
			// Connection lost (the server died): with SQLite whatever
			// happened, happened before now.
			out = Output{Unknown: true}
		}
	}
	if out.Unknown && w.cfg.ExternalDB {
		ret = math.MaxInt64
	}
	if out.OK && out.Ver > 0 {
		w.known[nk] = out.Ver
	}
	if !out.Unknown && out.Code == "" && (in.Kind == KDelete || in.Kind == KCasDelete) && out.OK {
		delete(w.known, nk)
	}
	if in.Kind == KGet && !out.OK && !out.Unknown {
		delete(w.known, nk)
	}
	w.rec.mu.Lock()
	w.rec.ops = append(w.rec.ops, porcupine.Operation{ClientId: w.id, Input: in, Call: call, Output: out, Return: ret})
	if out.Unknown {
		w.rec.res.Indeterminate++
	} else {
		w.rec.res.Definite++
	}
	w.rec.mu.Unlock()
}

var errUnexpectedAnswer = errors.New("unexpected answer")

// exec sends in and interprets the answer. 5xx answers are Unknown
// outcomes (and counted).
func (w *worker) exec(ctx context.Context, in Input) (Output, error) {
	p := EntryPath(in.Name, in.Key)
	var (
		r   Reply
		err error
	)
	ifm := map[string]string{"If-Match": strconv.FormatInt(in.IfVer, 10)}
	data := map[string]any{"data": in.Val}
	switch in.Kind {
	case KGet:
		r, err = w.cl.Do(ctx, http.MethodGet, p, nil, nil)
	case KInsert:
		r, err = w.cl.Do(ctx, http.MethodPost, p, data, nil)
	case KUpsert:
		r, err = w.cl.Do(ctx, http.MethodPut, p, data, nil)
	case KUpdate:
		r, err = w.cl.Do(ctx, http.MethodPatch, p, data, nil)
	case KDelete:
		r, err = w.cl.Do(ctx, http.MethodDelete, p, nil, nil)
	case KCasPut:
		r, err = w.cl.Do(ctx, http.MethodPut, p, data, ifm)
	case KCasDelete:
		r, err = w.cl.Do(ctx, http.MethodDelete, p, nil, ifm)
	case KSum:
		r, err = w.cl.Do(ctx, http.MethodPost, "/v1/atomic", map[string]any{
			"mutations": []map[string]any{{"op": "sum", "name": in.Name, "key": in.Key, "data": in.Val}},
		}, nil)
	case KCheckSet:
		var ver any // null: expect absent
		if in.IfVer != 0 {
			ver = in.IfVer
		}
		r, err = w.cl.Do(ctx, http.MethodPost, "/v1/atomic", map[string]any{
			"checks":    []map[string]any{{"name": in.Name, "key": in.Key, "version": ver}},
			"mutations": []map[string]any{{"op": "set", "name": in.Name, "key": in.Key, "data": in.Val}},
		}, nil)
	}
	if err != nil {
		return Output{}, err
	}
	if r.Status >= 500 {
		w.rec.mu.Lock()
		w.rec.res.Status5xx++
		w.rec.mu.Unlock()
		return Output{Unknown: true}, nil
	}
	bad := func() (Output, error) {
		return Output{}, fmt.Errorf("%w: %s → %d %s", errUnexpectedAnswer, in.Kind, r.Status, r.Code)
	}
	switch r.Status {
	case http.StatusOK, http.StatusCreated:
	case http.StatusNotFound:
		switch {
		case in.Kind == KGet && r.Code == "not_found":
			return Output{}, nil
		case in.Kind == KUpdate && r.Code == "not_found":
			return Output{Code: r.Code}, nil
		}
		return bad()
	case http.StatusConflict:
		switch {
		case in.Kind == KInsert && r.Code == "already_exists":
			return Output{Code: r.Code}, nil
		case (in.Kind == KCasPut || in.Kind == KCasDelete || in.Kind == KCheckSet) && r.Code == "conflict":
			return Output{Code: r.Code}, nil
		}
		return bad()
	default:
		return bad()
	}
	switch in.Kind {
	case KGet:
		val, ver, err := parseEntry(r.Body)
		if err != nil {
			return bad()
		}
		return Output{OK: true, Val: val, Ver: ver}, nil
	case KInsert, KUpsert, KUpdate, KCasPut:
		_, ver, err := parseEntry(r.Body)
		if err != nil {
			return bad()
		}
		return Output{OK: true, Ver: ver}, nil
	case KDelete, KCasDelete:
		var d struct {
			Deleted bool `json:"deleted"`
		}
		if err := json.Unmarshal(r.Body, &d); err != nil {
			return bad()
		}
		return Output{OK: d.Deleted}, nil
	case KSum, KCheckSet:
		var a struct {
			OK       bool    `json:"ok"`
			Versions []int64 `json:"versions"`
		}
		if err := json.Unmarshal(r.Body, &a); err != nil || !a.OK || len(a.Versions) != 1 {
			return bad()
		}
		return Output{OK: true, Ver: a.Versions[0]}, nil
	}
	return bad()
}

// setInsert inserts a unique key into the set namespace and remembers
// whether it was acknowledged.
func (w *worker) setInsert(ctx context.Context) {
	w.seq++
	k := fmt.Sprintf("c%02d-%08d", w.id, w.seq)
	w.rec.mu.Lock()
	w.rec.setTry[k] = true
	w.rec.mu.Unlock()
	r, err := w.cl.Do(ctx, http.MethodPost, EntryPath(w.setName, k), map[string]any{"data": w.seq}, nil)
	if err != nil {
		return // refused, lost or timed out: may or may not be there
	}
	switch {
	case r.Status == http.StatusCreated:
		w.rec.mu.Lock()
		w.rec.setAck[k] = true
		w.rec.mu.Unlock()
	case r.Status >= 500:
		w.rec.mu.Lock()
		w.rec.res.Status5xx++
		w.rec.mu.Unlock()
	default:
		w.rec.unexpected(fmt.Sprintf("set insert → %d %s", r.Status, r.Code))
	}
}

// dumpIllegal writes the history of each partition porcupine rejects, in
// call order, as text into dir and returns the file's path.
func dumpIllegal(dir, prefix string, ops []porcupine.Operation) (string, error) {
	m := Model()
	p := filepath.Join(dir, prefix+"-illegal.txt")
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, part := range m.Partition(ops) {
		if porcupine.CheckOperationsTimeout(m, part, time.Minute) != porcupine.Illegal {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		in := part[0].Input.(Input)
		fmt.Fprintf(f, "== %s / %s: %d operations\n", in.Name, in.Key, len(part))
		for _, op := range part {
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = strconv.FormatInt(op.Return/1000, 10)
			}
			fmt.Fprintf(f, "c%02d [%d, %s]us %s\n", op.ClientId, op.Call/1000, ret, m.DescribeOperation(op.Input, op.Output))
		}
	}
	return p, nil
}
