package blocks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
}

// RunFlow runs the stored flow id. The returned error is for a run that
// could not start (no such flow, bad input) or whose record could not be
// written; a run that started and failed returns its record with status
// failed and a nil error.
func (e *Engine) RunFlow(ctx context.Context, id string, req RunRequest) (*Run, error) {
	cf, flowUUID, err := e.loadFlow(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.run(ctx, cf, flowUUID, req)
}

// RunHook runs a webhook-triggered stored flow with input: not_found —
// the same error whether the flow does not exist or is not
// webhook-triggered — and unauthenticated when its trigger has a secret
// and secret differs.
func (e *Engine) RunHook(ctx context.Context, id string, input json.RawMessage, secret string) (*Run, error) {
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
	if want := cf.flow.Trigger.secretHash; want != "" && !secretMatches(want, secret) {
		return nil, store.Errorf(store.CodeUnauthenticated, "webhook secret missing or wrong")
	}
	return e.run(ctx, cf, flowUUID, RunRequest{Input: input, Trigger: TriggerWebhook})
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
	return e.run(ctx, cf, FileFlowUUID(f.ID), req)
}

// track registers a run of flowUUID; it fails when the flow was deleted.
func (e *Engine) track(flowUUID string, cancel context.CancelCauseFunc) (*activeRun, error) {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if _, gone := e.deleted[flowUUID]; gone {
		return nil, errFlowDeleted
	}
	r := &activeRun{cancel: cancel}
	m := e.active[flowUUID]
	if m == nil {
		m = map[*activeRun]struct{}{}
		e.active[flowUUID] = m
	}
	m[r] = struct{}{}
	return r, nil
}

func (e *Engine) isDeleted(flowUUID string) bool {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	_, gone := e.deleted[flowUUID]
	return gone
}

func (e *Engine) untrack(flowUUID string, r *activeRun) {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	delete(e.active[flowUUID], r)
	if len(e.active[flowUUID]) == 0 {
		delete(e.active, flowUUID)
	}
}

// run executes a compiled flow and records the run.
func (e *Engine) run(ctx context.Context, cf *compiledFlow, flowUUID string, req RunRequest) (*Run, error) {
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
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	active, err := e.track(flowUUID, cancel)
	if err != nil {
		return nil, err
	}
	defer e.untrack(flowUUID, active)
	started := e.now().UTC()
	ds := append([]string{}, cf.flow.DataStores...)
	r := &Run{
		ID: id.String(), Flow: cf.flow.ID, FlowUUID: flowUUID, DataStores: ds, Trigger: trigger, Input: in,
		StartedAt: started, Blocks: []BlockRun{}, Logs: []LogLine{}, Output: json.RawMessage("null"),
	}
	e.execute(ctx, cf, r)
	r.FinishedAt = e.now().UTC()
	r.DurationMS = ms(r.FinishedAt.Sub(started))
	if errors.Is(context.Cause(ctx), errFlowDeleted) {
		r.Status, r.Error = StatusFailed, runError(errFlowDeleted, r.Error.blockOrEmpty())
		return r, nil // the flow is gone: nothing to record it under
	}
	if e.isDeleted(flowUUID) {
		return r, nil // deleted as it finished: its records are being deleted
	}
	if err := e.record(r, id); err != nil {
		return r, err
	}
	return r, nil
}

func (re *RunError) blockOrEmpty() string {
	if re == nil {
		return ""
	}
	return re.Block
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (e *Engine) execute(ctx context.Context, cf *compiledFlow, r *Run) {
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	info := FlowInfo{ID: cf.flow.ID, UUID: r.FlowUUID, RunID: r.ID, StartedAt: r.StartedAt.Format(time.RFC3339Nano)}
	sc, err := newScope(r.Input, nil, info)
	if err != nil {
		r.Status, r.Error = StatusFailed, runError(err, "")
		return
	}
	steps := sc["steps"].(map[string]any)
	rawSteps := map[string]json.RawMessage{}
	view := store.WithFlow(store.WithGrants(e.st, cf.grants), r.FlowUUID)
	var logMu sync.Mutex
	for _, cb := range cf.blocks {
		br := BlockRun{ID: cb.id, Type: cb.typ, Output: json.RawMessage("null")}
		t0 := time.Now()
		logf := func(level, format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			if len(r.Logs) >= e.opts.MaxLogLines {
				r.Truncated = true
				return
			}
			r.Logs = append(r.Logs, LogLine{Time: e.now().UTC(), Block: cb.id, Level: level, Message: fmt.Sprintf(format, args...)})
		}
		out, skipped, err := e.runBlock(ctx, cb, sc, &Call{
			BlockID: cb.id, Input: r.Input, Steps: rawSteps, Flow: info,
			Store: view, Grants: cf.grants, Logf: logf, Deadline: deadline,
		})
		br.DurationMS = ms(time.Since(t0))
		switch {
		case err != nil:
			if ctx.Err() != nil && store.CodeOf(err) == store.CodeUnavailable {
				err = store.Errorf(store.CodeTimeout, "the flow ran longer than its timeout of %s", cf.timeout)
			}
			br.Status, br.Error = StatusFailed, runError(err, "")
			r.Blocks = append(r.Blocks, br)
			r.Status, r.Error = StatusFailed, runError(err, cb.id)
			return
		case skipped:
			br.Status = StatusSkipped
		default:
			br.Status, br.Output = StatusSucceeded, out
			r.Output = out
		}
		r.Blocks = append(r.Blocks, br)
		rawSteps[cb.id] = br.Output
		// Decoded only if an expression reads it.
		steps[cb.id] = &lazyJSON{raw: br.Output}
	}
	r.Status = StatusSucceeded
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
	return &RunError{Code: store.CodeOf(err), Message: store.Text(err), Block: block}
}
