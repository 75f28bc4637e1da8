package blocks

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/store"
)

// The reserved namespaces the engine keeps its records in (written through
// the raw store, so every backend holds them).
const (
	// FlowsNamespace holds stored flows, keyed by flow id.
	FlowsNamespace = store.ReservedPrefix + "flows"
	// FlowUUIDsNamespace maps flow UUIDs to flow ids.
	FlowUUIDsNamespace = store.ReservedPrefix + "flowuuids"
	// RunsNamespace holds run records, keyed FLOW/INVERTED-RUN-ID so a
	// flow's runs list newest first.
	RunsNamespace = store.ReservedPrefix + "runs"
	// TicksNamespace holds schedule claims so each scheduled time runs once
	// across processes.
	TicksNamespace = store.ReservedPrefix + "ticks"
)

// Trigger names recorded in runs besides TriggerManual, TriggerWebhook and
// TriggerSchedule.
const (
	// TriggerFile marks a run of a flow file that was not stored.
	TriggerFile = "file"
)

// Run and block statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// DefaultRunTTL is how long run records are kept by default.
const DefaultRunTTL = 30 * 24 * time.Hour

// FileNamespace is the UUID namespace of flow UUIDs derived from an id for
// `flow run --file` (UUIDv5 of the id in this namespace).
var FileNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://flowkv.dev/flows"))

// FileFlowUUID is the UUID of a flow run from a file without storing it:
// the UUIDv5 of its id, so every run of the same file stamps the same UUID.
func FileFlowUUID(id string) string { return uuid.NewSHA1(FileNamespace, []byte(id)).String() }

// Options configure an Engine.
type Options struct {
	// RunTTL is how long run records live; 0 means DefaultRunTTL, a negative
	// value keeps none (runs are not recorded).
	RunTTL time.Duration
	// Logger receives engine events (failed run records, scheduler errors).
	Logger *slog.Logger
	// MaxLogLines bounds the log lines kept per run (default 1000).
	MaxLogLines int
	// FlowCacheTTL is how long a stored flow, once read, is run without
	// reading it again (default 1s; negative: read it for every run). A put
	// or delete through the same Engine takes effect at once; one made by
	// another process takes effect within this time.
	FlowCacheTTL time.Duration
}

// Engine stores, validates and runs flows. It is safe for concurrent use.
type Engine struct {
	st     store.Store
	opts   Options
	log    *slog.Logger
	mu     sync.Mutex
	cache  map[string]cachedFlow // flow id -> compiled flow at a version
	now    func() time.Time
	limits store.Limits
	// changed is signalled (without blocking) when a flow is put or
	// deleted, so a Scheduler on this engine reloads at once.
	changed chan struct{}
}

type cachedFlow struct {
	version int64
	cf      *compiledFlow
	uuid    string
	checked time.Time // when the stored version was last read
}

// NewEngine returns an engine over the raw store st (not a grants-limited
// view): flows, runs and schedule claims live in reserved namespaces of st,
// and each run sees st limited to its flow's dataStores.
func NewEngine(st store.Store, opts Options) *Engine {
	if opts.RunTTL == 0 {
		opts.RunTTL = DefaultRunTTL
	}
	if opts.MaxLogLines <= 0 {
		opts.MaxLogLines = 1000
	}
	if opts.FlowCacheTTL == 0 {
		opts.FlowCacheTTL = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{st: st, opts: opts, log: log, cache: map[string]cachedFlow{}, now: time.Now, limits: st.Limits(),
		changed: make(chan struct{}, 1)}
}

// StoredFlow is a flow as stored.
type StoredFlow struct {
	Flow *Flow `json:"flow"`
	// UUID is generated when the flow is first stored and kept by later puts.
	UUID string `json:"uuid"`
	// Source is the document as it was put (YAML or JSON).
	Source    string    `json:"source"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type flowRecord struct {
	Flow   *Flow  `json:"flow"`
	UUID   string `json:"uuid"`
	Source string `json:"source"`
}

// PutFlow parses and validates a flow document and stores it (creating or
// replacing the flow with its id). A refused flow is a *ValidationError
// listing every problem. The flow keeps its UUID across puts.
func (e *Engine) PutFlow(ctx context.Context, src []byte) (StoredFlow, error) {
	f, err := ParseFlow(src)
	if err != nil {
		return StoredFlow{}, err
	}
	if err := Validate(f); err != nil {
		return StoredFlow{}, err
	}
	for attempt := 0; ; attempt++ {
		old, err := e.st.FindNameKey(ctx, FlowsNamespace, f.ID)
		var rec flowRecord
		var ent store.Entry
		switch {
		case err == nil:
			var prev flowRecord
			if jerr := json.Unmarshal(old.Data, &prev); jerr != nil || prev.UUID == "" {
				prev.UUID = uuid.NewString()
			}
			rec = flowRecord{Flow: f, UUID: prev.UUID, Source: string(src)}
			data, merr := json.Marshal(rec)
			if merr != nil {
				return StoredFlow{}, merr
			}
			ent, err = e.st.Upsert(ctx, FlowsNamespace, f.ID, data, store.WriteOptions{IfVersion: old.Version})
		case errors.Is(err, store.ErrNotFound):
			rec = flowRecord{Flow: f, UUID: uuid.NewString(), Source: string(src)}
			data, merr := json.Marshal(rec)
			if merr != nil {
				return StoredFlow{}, merr
			}
			ent, err = e.st.Insert(ctx, FlowsNamespace, f.ID, data, store.WriteOptions{})
		default:
			return StoredFlow{}, fmt.Errorf("blocks: read flow %s: %w", f.ID, err)
		}
		if err != nil {
			if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) && attempt < 10 {
				continue // a concurrent put won; read again
			}
			return StoredFlow{}, fmt.Errorf("blocks: store flow %s: %w", f.ID, err)
		}
		e.forget(f.ID)
		idx, _ := json.Marshal(map[string]string{"id": f.ID})
		if _, err := e.st.Upsert(ctx, FlowUUIDsNamespace, rec.UUID, idx, store.WriteOptions{}); err != nil {
			return StoredFlow{}, fmt.Errorf("blocks: store flow uuid %s: %w", f.ID, err)
		}
		return storedFromEntry(ent, rec), nil
	}
}

func storedFromEntry(ent store.Entry, rec flowRecord) StoredFlow {
	return StoredFlow{Flow: rec.Flow, UUID: rec.UUID, Source: rec.Source, Version: ent.Version,
		CreatedAt: ent.CreatedAt, UpdatedAt: ent.UpdatedAt}
}

func decodeFlowEntry(ent store.Entry) (StoredFlow, error) {
	var rec flowRecord
	if err := json.Unmarshal(ent.Data, &rec); err != nil || rec.Flow == nil {
		return StoredFlow{}, store.Errorf(store.CodeUnavailable, "stored flow %s is damaged", ent.Key)
	}
	return storedFromEntry(ent, rec), nil
}

// GetFlow returns a stored flow or not_found.
func (e *Engine) GetFlow(ctx context.Context, id string) (StoredFlow, error) {
	if !ValidFlowID(id) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	ent, err := e.st.FindNameKey(ctx, FlowsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	if err != nil {
		return StoredFlow{}, fmt.Errorf("blocks: read flow %s: %w", id, err)
	}
	return decodeFlowEntry(ent)
}

// FlowByUUID returns the stored flow with the given UUID or not_found.
func (e *Engine) FlowByUUID(ctx context.Context, id string) (StoredFlow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	ent, err := e.st.FindNameKey(ctx, FlowUUIDsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	if err != nil {
		return StoredFlow{}, err
	}
	var idx struct{ ID string }
	_ = json.Unmarshal(ent.Data, &idx)
	sf, err := e.GetFlow(ctx, idx.ID)
	if err == nil && sf.UUID != id {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	return sf, err
}

// ListFlows returns every stored flow in id order.
func (e *Engine) ListFlows(ctx context.Context) ([]StoredFlow, error) {
	var out []StoredFlow
	cursor := ""
	for {
		p, err := e.st.List(ctx, FlowsNamespace, "", cursor, e.limits.MaxListLimit)
		if err != nil {
			return nil, fmt.Errorf("blocks: list flows: %w", err)
		}
		for _, ent := range p.Entries {
			sf, err := decodeFlowEntry(ent)
			if err != nil {
				e.log.Warn("blocks: skipping damaged flow record", "flow", ent.Key)
				continue
			}
			out = append(out, sf)
		}
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// DeleteFlow removes a stored flow (its runs stay until they expire) and
// reports whether it existed.
func (e *Engine) DeleteFlow(ctx context.Context, id string) (bool, error) {
	sf, err := e.GetFlow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok, err := e.st.Delete(ctx, FlowsNamespace, id, store.DeleteOptions{})
	if err != nil {
		return false, err
	}
	_, _ = e.st.Delete(ctx, FlowUUIDsNamespace, sf.UUID, store.DeleteOptions{})
	e.forget(id)
	return ok, nil
}

// RunRequest is how a run is started.
type RunRequest struct {
	// Input is the flow's input (JSON; empty means null).
	Input json.RawMessage
	// Trigger is recorded in the run: manual (default), webhook, schedule.
	Trigger string
}

// Run is a run record: what happened when a flow ran.
type Run struct {
	ID       string          `json:"id"`
	Flow     string          `json:"flow"`
	FlowUUID string          `json:"flowUuid"`
	Trigger  string          `json:"trigger"`
	Input    json.RawMessage `json:"input"`
	// Status is succeeded or failed.
	Status string `json:"status"`
	// Error is why the run failed (the failing block's error).
	Error *RunError `json:"error,omitempty"`
	// Output is the output of the last block that ran.
	Output     json.RawMessage `json:"output"`
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt"`
	DurationMS float64         `json:"durationMs"`
	Blocks     []BlockRun      `json:"blocks"`
	Logs       []LogLine       `json:"logs"`
	// Truncated is set when outputs or logs were cut to fit the record in
	// the store's data limit.
	Truncated bool `json:"truncated,omitempty"`
}

// RunError is an error with its code word.
type RunError struct {
	Code    store.Code `json:"code"`
	Message string     `json:"message"`
	// Block is the id of the block that failed ("" when the flow itself did).
	Block string `json:"block,omitempty"`
}

// BlockRun is one block's part of a run.
type BlockRun struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Status is succeeded, failed or skipped.
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	Error      *RunError       `json:"error,omitempty"`
	DurationMS float64         `json:"durationMs"`
}

// LogLine is one line of a run's logs.
type LogLine struct {
	Time    time.Time `json:"time"`
	Block   string    `json:"block,omitempty"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
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

// RunHook runs a webhook-triggered stored flow with input: not_found when
// the flow does not exist or is not webhook-triggered, unauthenticated when
// its trigger has a secret and secret differs.
func (e *Engine) RunHook(ctx context.Context, id string, input json.RawMessage, secret string) (*Run, error) {
	cf, flowUUID, err := e.loadFlow(ctx, id)
	if err != nil {
		return nil, err
	}
	if cf.flow.Trigger.Type != TriggerWebhook {
		return nil, store.Errorf(store.CodeNotFound, "flow %q has no webhook trigger", id)
	}
	if want := cf.flow.Trigger.Secret; want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
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

// loadFlow returns the compiled stored flow, cached per stored version.
func (e *Engine) loadFlow(ctx context.Context, id string) (*compiledFlow, string, error) {
	if !ValidFlowID(id) {
		return nil, "", store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	e.mu.Lock()
	c, ok := e.cache[id]
	e.mu.Unlock()
	if ok && e.opts.FlowCacheTTL > 0 && time.Since(c.checked) < e.opts.FlowCacheTTL {
		return c.cf, c.uuid, nil
	}
	checked := time.Now()
	ent, err := e.st.FindNameKey(ctx, FlowsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		if ok { // deleted by another process
			e.mu.Lock()
			delete(e.cache, id)
			e.mu.Unlock()
		}
		return nil, "", store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("blocks: read flow %s: %w", id, err)
	}
	if ok && c.version == ent.Version {
		c.checked = checked
		e.mu.Lock()
		e.cache[id] = c
		e.mu.Unlock()
		return c.cf, c.uuid, nil
	}
	sf, err := decodeFlowEntry(ent)
	if err != nil {
		return nil, "", err
	}
	cf, err := compile(sf.Flow)
	if err != nil {
		// A flow stored by an older binary may not validate any more.
		return nil, "", fmt.Errorf("stored flow %s no longer validates: %w", id, err)
	}
	e.mu.Lock()
	e.cache[id] = cachedFlow{version: ent.Version, cf: cf, uuid: sf.UUID, checked: checked}
	e.mu.Unlock()
	return cf, sf.UUID, nil
}

// forget drops a flow from the cache and tells the scheduler.
func (e *Engine) forget(id string) {
	e.mu.Lock()
	delete(e.cache, id)
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
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
		return nil, store.Errorf(store.CodeOf(err), "input: %s", strings.TrimPrefix(store.Message(err), string(store.CodeOf(err))+": "))
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerManual
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	started := e.now().UTC()
	r := &Run{
		ID: id.String(), Flow: cf.flow.ID, FlowUUID: flowUUID, Trigger: trigger, Input: in,
		StartedAt: started, Blocks: []BlockRun{}, Logs: []LogLine{}, Output: json.RawMessage("null"),
	}
	e.execute(ctx, cf, r)
	r.FinishedAt = e.now().UTC()
	r.DurationMS = ms(r.FinishedAt.Sub(started))
	if err := e.record(r, id); err != nil {
		return r, err
	}
	return r, nil
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
	code := store.CodeOf(err)
	msg := err.Error()
	var se *store.Error
	if errors.As(err, &se) {
		msg = se.Msg
		if msg == "" {
			msg = string(se.Code)
		}
	} else if code == store.CodeUnavailable {
		msg = store.Message(err)
	}
	msg = strings.TrimPrefix(msg, string(code)+": ")
	return &RunError{Code: code, Message: msg, Block: block}
}

// runKey is a run's key in RunsNamespace: FLOW/ followed by the run's
// UUIDv7 with every bit inverted, in hex. UUIDv7s grow with time (and,
// within a process, strictly), so a prefix scan of FLOW/ lists the newest
// run first.
func runKey(flowID string, runID uuid.UUID) string {
	var inv [16]byte
	for i, b := range runID {
		inv[i] = ^b
	}
	return flowID + "/" + hex.EncodeToString(inv[:])
}

// record writes the run, shrinking outputs and logs if it is too large.
func (e *Engine) record(r *Run, id uuid.UUID) error {
	if e.opts.RunTTL < 0 {
		return nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(data) > e.limits.MaxDataBytes-1024 {
		data = shrinkRun(r, e.limits.MaxDataBytes-1024)
	}
	// The record is written even when the run's context was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.st.Upsert(ctx, RunsNamespace, runKey(r.Flow, id), data, store.WriteOptions{TTL: e.opts.RunTTL}); err != nil {
		e.log.Error("blocks: recording run failed", "flow", r.Flow, "run", r.ID, "err", err)
		return fmt.Errorf("blocks: record run %s of %s: %w", r.ID, r.Flow, err)
	}
	return nil
}

// shrinkRun replaces large outputs and the logs by markers until the
// record fits in max bytes.
func shrinkRun(r *Run, max int) []byte {
	c := *r
	c.Truncated = true
	c.Blocks = append([]BlockRun(nil), r.Blocks...)
	marker := json.RawMessage(`{"truncated":true}`)
	if len(c.Input) > max/4 {
		c.Input = marker
	}
	if len(c.Output) > max/4 {
		c.Output = marker
	}
	for i := range c.Blocks {
		if len(c.Blocks[i].Output) > max/(2*len(c.Blocks)) {
			c.Blocks[i].Output = marker
		}
	}
	data, _ := json.Marshal(c)
	if len(data) > max {
		c.Logs = c.Logs[:min(len(c.Logs), 20)]
		for i := range c.Logs {
			if len(c.Logs[i].Message) > 200 {
				c.Logs[i].Message = c.Logs[i].Message[:200] + "…"
			}
		}
		data, _ = json.Marshal(c)
	}
	return data
}

// RunPage is a page of run records, newest first.
type RunPage struct {
	Runs       []Run  `json:"runs"`
	NextCursor string `json:"nextCursor"`
}

// Runs lists the recorded runs of flow id, newest first; cursor continues
// a previous page ("" to start), limit 0 means 100.
func (e *Engine) Runs(ctx context.Context, flowID, cursor string, limit int) (RunPage, error) {
	if !ValidFlowID(flowID) {
		return RunPage{Runs: []Run{}}, nil
	}
	p, err := e.st.List(ctx, RunsNamespace, flowID+"/", cursor, limit)
	if err != nil {
		return RunPage{}, err
	}
	out := RunPage{Runs: make([]Run, 0, len(p.Entries)), NextCursor: p.NextCursor}
	for _, ent := range p.Entries {
		var r Run
		if err := json.Unmarshal(ent.Data, &r); err != nil {
			continue
		}
		out.Runs = append(out.Runs, r)
	}
	return out, nil
}

// GetRun returns one run record of a flow or not_found.
func (e *Engine) GetRun(ctx context.Context, flowID, runID string) (Run, error) {
	id, err := uuid.Parse(runID)
	if err != nil || !ValidFlowID(flowID) || id.Version() != 7 {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q of flow %q", runID, flowID)
	}
	ent, err := e.st.FindNameKey(ctx, RunsNamespace, runKey(flowID, id))
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q of flow %q", runID, flowID)
	}
	if err != nil {
		return Run{}, err
	}
	var r Run
	if err := json.Unmarshal(ent.Data, &r); err != nil {
		return Run{}, store.Errorf(store.CodeUnavailable, "run record %s is damaged", runID)
	}
	return r, nil
}
