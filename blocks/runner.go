package blocks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/store"
)

// RunRequest is how a run is started.
type RunRequest struct {
	// Input is the flow's input (JSON; empty means null).
	Input json.RawMessage
	// Trigger is recorded in the run: manual (default), webhook, schedule.
	Trigger string
	// Request is the webhook request (without its body) the run sees as
	// `request`; nil for other triggers (request is then null).
	Request *Request
}

// HookCall is a call of a webhook flow.
type HookCall struct {
	// Input is the run's input: the parsed body (empty means null).
	Input json.RawMessage
	// Request is the rest of the call (see Request).
	Request *Request
	// Secret is the secret the caller sent ("" for none).
	Secret string
	// Wait is how long StartHook waits for the run to finish before it
	// answers with the run still going (0: until it finishes).
	Wait time.Duration
}

// Runs are detached from their callers: a run belongs to the engine, and
// its flow's timeout is its only clock. A caller that gives up (a client
// hanging up) neither cancels a run nor fails its store calls; only the
// flow's deletion, the timeout and the engine's Shutdown end a run early.

// RunFlow runs the stored flow id and waits for it. The returned error is
// for a run that could not start (no such flow, bad input) or whose record
// could not be written; a run that started and failed returns its record
// with status failed and a nil error. When ctx ends first (a request's
// deadline, a caller giving up), RunFlow returns a snapshot with status
// running and the run goes on (a provisional record is written).
func (e *Engine) RunFlow(ctx context.Context, id string, req RunRequest) (*Run, error) {
	return e.runFlow(ctx, id, req, false)
}

// runFlow runs stored flow id; attached runs also end when ctx ends (the
// scheduler's, when it stops).
func (e *Engine) runFlow(ctx context.Context, id string, req RunRequest, attached bool) (*Run, error) {
	cf, flowUUID, err := e.loadFlow(ctx, id)
	if err != nil {
		return nil, err
	}
	ar, err := e.start(ctx, cf, flowUUID, req, attached)
	if err != nil {
		return nil, err
	}
	if attached {
		e.finish(ar)
		return ar.run, ar.err
	}
	return e.await(ctx, ar, 0)
}

// await runs ar in the background and waits for it up to wait (0: no
// limit) or until ctx ends; a run still going then has a provisional
// record written and is returned as a snapshot with status running.
func (e *Engine) await(ctx context.Context, ar *activeRun, wait time.Duration) (*Run, error) {
	if ctx.Done() == nil && wait <= 0 {
		e.finish(ar)
		return ar.run, ar.err
	}
	go e.finish(ar)
	var timeout <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-ar.done:
		return ar.run, ar.err
	case <-timeout:
	case <-ctx.Done():
	}
	return e.recordRunning(ar), nil
}

// RunHook runs a webhook-triggered stored flow with input and waits for it
// (StartHook with only Input and Secret).
func (e *Engine) RunHook(ctx context.Context, id string, input json.RawMessage, secret string) (*Run, error) {
	return e.StartHook(ctx, id, HookCall{Input: input, Secret: secret})
}

// StartHook starts a run of webhook-triggered stored flow id: not_found —
// the same error whether the flow does not exist or is not
// webhook-triggered — and unauthenticated when its trigger has a secret
// and call.Secret differs. It waits up to call.Wait for the run (and
// until ctx ends): finished in time, it returns the run's record; else a
// record with status running
// (the run goes on; a provisional record is written so GET /v1/runs/{id}
// finds it on any server until the final one replaces it).
func (e *Engine) StartHook(ctx context.Context, id string, call HookCall) (*Run, error) {
	noHook := store.Errorf(store.CodeNotFound, "no webhook flow %q", id)
	cf, flowUUID, err := e.loadFlow(ctx, id)
	if err != nil {
		if store.CodeOf(err) == store.CodeUnavailable && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, noHook
	}
	if cf.flow.Trigger.Type != TriggerWebhook {
		return nil, noHook
	}
	if want := cf.flow.Trigger.secretHash; want != "" && !secretMatches(want, call.Secret) {
		return nil, store.Errorf(store.CodeUnauthenticated, "webhook secret missing or wrong")
	}
	ar, err := e.start(ctx, cf, flowUUID, RunRequest{Input: call.Input, Trigger: TriggerWebhook, Request: call.Request}, false)
	if err != nil {
		return nil, err
	}
	return e.await(ctx, ar, call.Wait)
}

// RunDocument validates and runs a flow document without storing it (for
// `flow run --file`); its UUID is FileFlowUUID(id). The run is recorded.
func (e *Engine) RunDocument(ctx context.Context, src []byte, req RunRequest) (*Run, error) {
	f, err := ParseFlow(src)
	if err != nil {
		return nil, err
	}
	cf, err := compile(f)
	if err != nil {
		return nil, err
	}
	if req.Trigger == "" {
		req.Trigger = TriggerFile
	}
	ar, err := e.start(ctx, cf, FileFlowUUID(f.ID), req, false)
	if err != nil {
		return nil, err
	}
	e.finish(ar)
	return ar.run, ar.err
}

// track registers a run; it fails when the flow was deleted or the engine
// shut down.
func (e *Engine) track(ar *activeRun) error {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if _, gone := e.deleted[ar.flowUUID]; gone {
		return errFlowDeleted
	}
	if e.base.Err() != nil {
		return context.Cause(e.base)
	}
	m := e.active[ar.flowUUID]
	if m == nil {
		m = map[*activeRun]struct{}{}
		e.active[ar.flowUUID] = m
	}
	m[ar] = struct{}{}
	e.byID[ar.run.ID] = ar
	e.runs.Add(1)
	return nil
}

func (e *Engine) isDeleted(flowUUID string) bool {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	_, gone := e.deleted[flowUUID]
	return gone
}

func (e *Engine) untrack(ar *activeRun) {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	delete(e.active[ar.flowUUID], ar)
	if len(e.active[ar.flowUUID]) == 0 {
		delete(e.active, ar.flowUUID)
	}
	delete(e.byID, ar.run.ID)
	e.runs.Done()
}

// liveRun is a snapshot of run id going on in this process.
func (e *Engine) liveRun(id string) (Run, bool) {
	e.runsMu.Lock()
	ar := e.byID[id]
	e.runsMu.Unlock()
	if ar == nil {
		return Run{}, false
	}
	return ar.snapshot(), true
}

// snapshot copies the run as it is now, status running unless finished.
func (ar *activeRun) snapshot() Run {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	c := *ar.run
	c.Blocks = append([]BlockRun{}, c.Blocks...)
	c.Logs = append([]LogLine{}, c.Logs...)
	if c.Status == "" {
		c.Status = StatusRunning
		c.Output = json.RawMessage("null")
	}
	return c
}

// errShutdown ends the runs still going on when the engine shuts down.
var errShutdown = store.Errorf(store.CodeUnavailable, "the server shut down while this run was going")

// Shutdown waits for the runs going on to finish until ctx ends, then
// cancels those left (they fail with unavailable, "the server shut down
// while this run was going", and are recorded) and waits for them to be
// recorded. Runs started after Shutdown fail at once. Call it before
// closing the store.
func (e *Engine) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() { e.runs.Wait(); close(done) }()
	select {
	case <-done:
		e.shutdown(errShutdown)
	case <-ctx.Done():
		e.shutdown(errShutdown)
		<-done
	}
	e.flushPointers()
}

// start prepares a run of cf and registers it; finish runs it.
func (e *Engine) start(ctx context.Context, cf *compiledFlow, flowUUID string, req RunRequest, attached bool) (*activeRun, error) {
	input := req.Input
	if len(strings.TrimSpace(string(input))) == 0 {
		input = json.RawMessage("null")
	}
	in, err := e.limits.PrepareData(input)
	if err != nil {
		return nil, store.Errorf(store.CodeOf(err), "input: %s", store.Text(err))
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerManual
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	if !attached {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	started := e.now().UTC()
	ds := append([]string{}, cf.flow.DataStores...)
	r := &Run{
		ID: id.String(), Flow: cf.flow.ID, FlowUUID: flowUUID, DataStores: ds, Trigger: trigger, Input: in,
		Request: capRequest(req.Request), StartedAt: started, Blocks: []BlockRun{}, Logs: []LogLine{}, Output: json.RawMessage("null"),
	}
	ar := &activeRun{cancel: cancel, flowUUID: flowUUID, started: started, run: r, done: make(chan struct{}), ctx: ctx, cf: cf, id: id}
	if err := e.track(ar); err != nil {
		cancel(nil)
		return nil, err
	}
	return ar, nil
}

// finish runs ar to its end, records it and closes ar.done.
func (e *Engine) finish(ar *activeRun) {
	defer close(ar.done)
	defer e.untrack(ar)
	defer ar.cancel(nil)
	stop := context.AfterFunc(e.base, func() { ar.cancel(context.Cause(e.base)) })
	defer stop()
	ctx, r := ar.ctx, ar.run
	if r.Trigger != TriggerFile {
		defer e.watchDeletion(ar).Stop()
	}
	e.execute(ctx, ar.cf, ar)
	ar.mu.Lock()
	r.FinishedAt = e.now().UTC()
	r.DurationMS = ms(r.FinishedAt.Sub(r.StartedAt))
	ar.mu.Unlock()
	ar.recMu.Lock()
	defer ar.recMu.Unlock()
	ar.recorded = true
	if errors.Is(context.Cause(ctx), errFlowDeleted) {
		r.Status, r.Error = StatusFailed, runError(errFlowDeleted, r.Error.blockOrEmpty())
		return // the flow is gone: nothing to record it under
	}
	if e.isDeleted(ar.flowUUID) {
		return // deleted as it finished: its records are being deleted
	}
	ar.err = e.record(r, ar.id)
}

// DeletionCheck is how often a run going on checks that its flow still
// exists (after its first DeletionCheck), so a flow deleted by another
// process (the CLI, another server) stops its runs here too.
const DeletionCheck = time.Second

// watchDeletion cancels ar with errFlowDeleted once no stored flow has its
// UUID any more (deleted, or replaced by another flow of the id), checking every
// DeletionCheck (through the flow cache); stop the returned timer when ar ends.
func (e *Engine) watchDeletion(ar *activeRun) *time.Timer {
	var t *time.Timer
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(DeletionCheck, func() {
		if ar.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(e.base, 5*time.Second)
		defer cancel()
		// By id through the cache; when that misses (deleted, or renamed:
		// RenameFlow keeps the UUID), by UUID.
		_, flowUUID, err := e.loadFlow(ctx, ar.run.Flow)
		if errors.Is(err, store.ErrNotFound) || (err == nil && flowUUID != ar.flowUUID) {
			if _, err := e.FlowByUUID(ctx, ar.flowUUID); errors.Is(err, store.ErrNotFound) {
				ar.cancel(errFlowDeleted)
				return
			}
		}
		mu.Lock()
		t.Reset(DeletionCheck)
		mu.Unlock()
	})
	return t
}

// recordRunning writes a provisional record of ar (status running) unless
// its final one is written, and returns a snapshot of the run.
func (e *Engine) recordRunning(ar *activeRun) *Run {
	ar.recMu.Lock()
	defer ar.recMu.Unlock()
	snap := ar.snapshot()
	if ar.recorded || e.opts.RunTTL < 0 {
		return &snap
	}
	data, err := json.Marshal(snap)
	if err == nil && len(data) > e.limits.MaxDataBytes-1024 {
		data = shrinkRun(&snap, e.limits.MaxDataBytes-1024)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err == nil {
		_, err = e.st.Atomic(ctx, nil, e.recordMutations(ar.flowUUID, ar.id, data))
	}
	if err != nil {
		e.log.Warn("blocks: recording a run still going failed", "flow", snap.Flow, "run", snap.ID, "err", err)
	}
	return &snap
}

func (re *RunError) blockOrEmpty() string {
	if re == nil {
		return ""
	}
	return re.Block
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (e *Engine) execute(ctx context.Context, cf *compiledFlow, ar *activeRun) {
	r := ar.run
	ctx, cancel := context.WithTimeoutCause(ctx, cf.timeout, store.Errorf(store.CodeTimeout, "the flow ran longer than its timeout of %s", cf.timeout))
	defer cancel()
	deadline, _ := ctx.Deadline()
	info := FlowInfo{ID: cf.flow.ID, UUID: r.FlowUUID, RunID: r.ID, StartedAt: r.StartedAt.Format(time.RFC3339Nano)}
	sc, err := newScope(r.Input, nil, info)
	reqJSON := json.RawMessage("null")
	if err == nil && r.Request != nil {
		reqJSON, err = json.Marshal(r.Request)
		sc["request"] = &lazyJSON{raw: reqJSON} // decoded only if an expression reads it
	}
	if err != nil {
		ar.mu.Lock()
		r.Status, r.Error = StatusFailed, runError(err, "")
		ar.mu.Unlock()
		return
	}
	steps := sc["steps"].(map[string]any)
	rawSteps := map[string]json.RawMessage{}
	view := store.WithFlow(store.WithGrants(e.st, cf.grants), r.FlowUUID)
	logs := &logBudget{max: e.opts.MaxLogLines}
	for _, cb := range cf.blocks {
		br := BlockRun{ID: cb.id, Type: cb.typ, Output: json.RawMessage("null")}
		t0 := time.Now()
		logf := func(level, format string, args ...any) {
			ar.mu.Lock()
			defer ar.mu.Unlock()
			logs.add(r, LogLine{Time: e.now().UTC(), Block: cb.id, Level: level, Message: fmt.Sprintf(format, args...)})
		}
		out, skipped, err := e.runBlock(ctx, cb, sc, &Call{
			BlockID: cb.id, Input: r.Input, Request: reqJSON, Steps: rawSteps, Flow: info,
			Store: view, Grants: cf.grants, Logf: logf, Deadline: deadline,
		})
		br.DurationMS = ms(time.Since(t0))
		switch {
		case err != nil:
			if cause := context.Cause(ctx); cause != nil {
				// The run's own end (its timeout, the flow's deletion, a
				// shutdown), not the store's, is why the call failed.
				if c := store.CodeOf(err); c == store.CodeUnavailable || c == store.CodeTimeout {
					err = cause
				}
			}
			br.Status, br.Error = StatusFailed, runError(err, "")
			ar.mu.Lock()
			r.Blocks = append(r.Blocks, br)
			r.Status, r.Error = StatusFailed, runError(err, cb.id)
			ar.mu.Unlock()
			return
		case skipped:
			br.Status = StatusSkipped
		default:
			br.Status, br.Output = StatusSucceeded, out
		}
		ar.mu.Lock()
		if !skipped {
			r.Output = out
		}
		r.Blocks = append(r.Blocks, recordedBlock(br, r))
		ar.mu.Unlock()
		rawSteps[cb.id] = br.Output
		// Decoded only if an expression reads it.
		steps[cb.id] = &lazyJSON{raw: br.Output}
	}
	resp, err := cf.respond(sc, r.Output)
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if err != nil {
		r.Status, r.Error = StatusFailed, runError(err, "")
		return
	}
	r.Status, r.Response = StatusSucceeded, resp
}

// runBlock evaluates a block's condition and fields and runs it.
func (e *Engine) runBlock(ctx context.Context, cb *compiledBlock, sc scope, call *Call) (json.RawMessage, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, store.Errorf(store.CodeTimeout, "the flow ran out of time before this block")
	}
	if cb.cond != nil {
		v, err := cb.cond.eval(sc)
		if err != nil {
			return nil, false, store.Errorf(store.CodeInvalidArgument, "field if: %v", err)
		}
		if !truthy(v) {
			return nil, true, nil
		}
	}
	values := make(Values, len(cb.fields)+4)
	for name, n := range cb.fields {
		v, err := n.eval(sc)
		if err != nil {
			return nil, false, store.Errorf(store.CodeInvalidArgument, "field %s: %v", name, err)
		}
		values[name] = v
	}
	for _, fd := range cb.spec.Fields {
		if v, ok := values[fd.Name]; (!ok || v == nil) && fd.Default != nil {
			values[fd.Name] = defaultValue(fd.Default)
		}
	}
	if ps := checkFields(cb.spec, values, nil, true); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			if n, ok := cb.fields[p.Field]; ok && p.Message == "required" {
				if why := nullReason(n, sc); why != "" {
					p.Message = why
				}
			}
			msgs[i] = p.String()
		}
		return nil, false, store.Errorf(store.CodeInvalidArgument, "%s", strings.Join(msgs, "; "))
	}
	for _, fd := range cb.spec.Fields {
		if shown, _ := fd.shown(cb.spec, values); !shown {
			delete(values, fd.Name)
		}
	}
	call.Fields = values
	out, err := e.safeRun(ctx, cb, call)
	if err != nil {
		return nil, false, err
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if !json.Valid(out) {
		return nil, false, store.Errorf(store.CodeInvalidArgument, "block returned output that is not JSON")
	}
	return out, false, nil
}

// safeRun runs a block, turning a panic into an unavailable error (logged
// with the block's type) instead of crashing the process.
func (e *Engine) safeRun(ctx context.Context, cb *compiledBlock, call *Call) (out json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("blocks: block panicked", "type", cb.typ, "block", cb.id, "flow", call.Flow.ID, "panic", p)
			out, err = nil, store.Errorf(store.CodeUnavailable, "the %s block failed unexpectedly", cb.typ)
		}
	}()
	return cb.impl.Run(ctx, call)
}

// defaultValue converts a spec default (Go value) to JSON types.
func defaultValue(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(fmt.Sprint(x))
	case int64:
		return json.Number(fmt.Sprint(x))
	case float64:
		return json.Number(store.FormatNumber(x))
	}
	return v
}

func runError(err error, block string) *RunError {
	re := &RunError{Code: store.CodeOf(err), Message: store.Text(err), Block: block}
	re.Line, re.Column = jsPosition(re.Message)
	return re
}

// jsPositionRe finds where a JavaScript error happened in a sandbox
// message: "… at block ID:LINE:COL" (a thrown error) or "… at line LINE
// column COL" (a syntax error).
var jsPositionRe = regexp.MustCompile(`^script .*(?: at [^ :]+(?: [^ :]+)?:(\d+):(\d+)\)?| at line (\d+) column (\d+))$`)

// jsPosition is the line and column of a JavaScript error message (0, 0
// for other messages).
func jsPosition(msg string) (int, int) {
	m := jsPositionRe.FindStringSubmatch(msg)
	if m == nil {
		return 0, 0
	}
	l, c := m[1]+m[3], m[2]+m[4]
	line, err1 := strconv.Atoi(l)
	col, err2 := strconv.Atoi(c)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return line, col
}
