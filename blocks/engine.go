package blocks

import (
	"context"
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
	// RunsNamespace holds run records, keyed FLOW-UUID/INVERTED-RUN-ID so
	// a flow's runs list newest first, and a flow deleted and re-created
	// under the same id (a new UUID) starts with no history.
	RunsNamespace = store.ReservedPrefix + "flowruns"
	// LegacyRunsNamespace held run records keyed by flow id before they
	// were keyed by UUID; they are no longer read and expire with their TTL.
	LegacyRunsNamespace = store.ReservedPrefix + "runs"
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

// Run retention per flow: the newest DefaultRunKeep records, at most
// DefaultRunMaxBytes of them in total, by default (Options.RunKeep,
// Options.RunMaxBytes).
const (
	DefaultRunKeep     = 100
	DefaultRunMaxBytes = 10 << 20
)

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
	// RunKeep is how many run records each flow keeps, newest first
	// (0 means DefaultRunKeep; negative: no count limit).
	RunKeep int
	// RunMaxBytes bounds the total size of a flow's run records, newest
	// kept first (0 means DefaultRunMaxBytes; negative: no size limit).
	// The newest record is always kept. Older records are pruned after
	// every RunKeep/4 runs or RunMaxBytes/4 bytes a process records for
	// the flow (and at its first run in the process), so a flow may hold
	// up to a quarter more between prunes.
	RunMaxBytes int64
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

	// runsMu guards active, deleted and since.
	runsMu sync.Mutex
	// active holds the cancel functions of the runs going on, by flow UUID.
	active map[string]map[*activeRun]struct{}
	// deleted remembers the UUIDs of the flows deleted through this engine
	// (the last maxDeleted), so a run that loaded one just before the
	// delete does not start, and its record is not written.
	deleted      map[string]struct{}
	deletedOrder []string
	// since counts what was recorded per flow UUID since its last prune.
	since map[string]*pruneState
}

type activeRun struct{ cancel context.CancelCauseFunc }

type pruneState struct {
	runs  int
	bytes int64
}

const maxDeleted = 4096

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
	if opts.RunKeep == 0 {
		opts.RunKeep = DefaultRunKeep
	}
	if opts.RunMaxBytes == 0 {
		opts.RunMaxBytes = DefaultRunMaxBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{st: st, opts: opts, log: log, cache: map[string]cachedFlow{}, now: time.Now, limits: st.Limits(),
		changed: make(chan struct{}, 1), active: map[string]map[*activeRun]struct{}{},
		deleted: map[string]struct{}{}, since: map[string]*pruneState{}}
}

// StoredFlow is a flow as stored.
type StoredFlow struct {
	// Flow is the flow; its trigger renders secretSet, never the secret.
	Flow *Flow `json:"flow"`
	// UUID is generated when the flow is first stored and kept by later puts.
	UUID string `json:"uuid"`
	// Source is the document as it was put (YAML or JSON), without the
	// trigger's secret (a document that had one is re-encoded without it).
	Source    string    `json:"source"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type flowRecord struct {
	Flow   *Flow  `json:"flow"`
	UUID   string `json:"uuid"`
	Source string `json:"source"`
	// SecretHash is the hex SHA-256 of the webhook secret ("" for none).
	SecretHash string `json:"secretHash,omitempty"`
}

// PutFlow parses and validates a flow document and stores it (creating or
// replacing the flow with its id). A refused flow is a *ValidationError
// listing every problem. The flow keeps its UUID across puts.
//
// The trigger's secret is stored as its SHA-256 only, and the stored
// source loses it. A document without trigger.secret keeps the stored
// secret; secret: "" removes it.
func (e *Engine) PutFlow(ctx context.Context, src []byte) (StoredFlow, error) {
	f, err := ParseFlow(src)
	if err != nil {
		return StoredFlow{}, err
	}
	if err := Validate(f); err != nil {
		return StoredFlow{}, err
	}
	given, hash, source := f.Trigger.secretGiven, "", string(src)
	if given {
		if f.Trigger.Secret != "" {
			hash = hashSecret(f.Trigger.Secret)
		}
		source = redactSource(src, f, f.Trigger.Secret)
	}
	f.Trigger.Secret, f.Trigger.secretGiven = "", false
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
			if !given {
				hash = prev.SecretHash
				if hash == "" && prev.Flow != nil && prev.Flow.Trigger.Secret != "" {
					hash = hashSecret(prev.Flow.Trigger.Secret) // stored before secrets were hashed
				}
			}
			f.Trigger.secretHash = hash
			rec = flowRecord{Flow: f, UUID: prev.UUID, Source: source, SecretHash: hash}
			data, merr := json.Marshal(rec)
			if merr != nil {
				return StoredFlow{}, merr
			}
			ent, err = e.st.Upsert(ctx, FlowsNamespace, f.ID, data, store.WriteOptions{IfVersion: old.Version})
		case errors.Is(err, store.ErrNotFound):
			f.Trigger.secretHash = hash
			rec = flowRecord{Flow: f, UUID: uuid.NewString(), Source: source, SecretHash: hash}
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
	sf, _, err := decodeFlowRecord(ent)
	return sf, err
}

// decodeFlowRecord decodes a stored flow. A record stored before secrets
// were hashed (its flow holds the secret in clear) is returned with the
// secret hashed and removed from the source, and legacy set.
func decodeFlowRecord(ent store.Entry) (sf StoredFlow, legacy *flowRecord, err error) {
	var rec flowRecord
	if err := json.Unmarshal(ent.Data, &rec); err != nil || rec.Flow == nil {
		return StoredFlow{}, nil, store.Errorf(store.CodeUnavailable, "stored flow %s is damaged", ent.Key)
	}
	if t := &rec.Flow.Trigger; t.secretGiven {
		if rec.SecretHash == "" && t.Secret != "" {
			rec.SecretHash = hashSecret(t.Secret)
		}
		rec.Source = redactSource([]byte(rec.Source), rec.Flow, t.Secret)
		t.Secret, t.secretGiven = "", false
		legacy = &rec
	}
	rec.Flow.Trigger.secretHash = rec.SecretHash
	return storedFromEntry(ent, rec), legacy, nil
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
			sf, legacy, err := decodeFlowRecord(ent)
			if err != nil {
				e.log.Warn("blocks: skipping damaged flow record", "flow", ent.Key)
				continue
			}
			if legacy != nil {
				e.migrateFlow(ctx, ent, legacy)
			}
			out = append(out, sf)
		}
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// migrateFlow rewrites a flow record stored before secrets were hashed
// (ListFlows does it, so serve's scheduler migrates every flow at start).
// A concurrent put wins.
func (e *Engine) migrateFlow(ctx context.Context, ent store.Entry, rec *flowRecord) {
	data, err := json.Marshal(rec)
	if err == nil {
		_, err = e.st.Update(ctx, FlowsNamespace, ent.Key, data, store.WriteOptions{IfVersion: ent.Version})
	}
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		e.log.Warn("blocks: could not hash a stored webhook secret", "flow", ent.Key, "err", err)
	}
}

// errFlowDeleted ends the runs of a flow that is deleted while they go on.
var errFlowDeleted = store.Errorf(store.CodeNotFound, "the flow was deleted while this run was going")

// DeleteFlow removes a stored flow and reports whether it existed. Its
// runs going on in this process are cancelled at once (and not recorded),
// a Scheduler on this engine drops its schedule at once, and its run
// records are deleted (a flow re-created under the same id gets a new UUID
// and no history either way).
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
	e.cancelRuns(sf.UUID)
	if err := e.deleteRuns(ctx, sf.UUID); err != nil {
		e.log.Warn("blocks: could not delete the runs of a deleted flow (they expire with their TTL)", "flow", id, "err", err)
	}
	return ok, nil
}

// cancelRuns marks flowUUID deleted and cancels its runs going on.
func (e *Engine) cancelRuns(flowUUID string) {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if _, ok := e.deleted[flowUUID]; !ok {
		e.deleted[flowUUID] = struct{}{}
		e.deletedOrder = append(e.deletedOrder, flowUUID)
		if len(e.deletedOrder) > maxDeleted {
			delete(e.deleted, e.deletedOrder[0])
			e.deletedOrder = e.deletedOrder[1:]
		}
	}
	for r := range e.active[flowUUID] {
		r.cancel(errFlowDeleted)
	}
	delete(e.since, flowUUID)
}

// deleteRuns deletes every run record of flowUUID.
func (e *Engine) deleteRuns(ctx context.Context, flowUUID string) error {
	for {
		p, err := e.st.List(ctx, RunsNamespace, flowUUID+"/", "", e.limits.MaxListLimit)
		if err != nil {
			return err
		}
		for len(p.Entries) > 0 {
			chunk := p.Entries[:min(len(p.Entries), store.MaxAtomicActions)]
			p.Entries = p.Entries[len(chunk):]
			muts := make([]store.Mutation, len(chunk))
			for i, ent := range chunk {
				muts[i] = store.Mutation{Op: store.OpDelete, Name: RunsNamespace, Key: ent.Key}
			}
			if _, err := e.st.Atomic(ctx, nil, muts); err != nil {
				return err
			}
		}
		if p.NextCursor == "" {
			return nil
		}
	}
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

// RunRequest is how a run is started.
type RunRequest struct {
	// Input is the flow's input (JSON; empty means null).
	Input json.RawMessage
	// Trigger is recorded in the run: manual (default), webhook, schedule.
	Trigger string
}

// Run is a run record: what happened when a flow ran.
type Run struct {
	ID       string `json:"id"`
	Flow     string `json:"flow"`
	FlowUUID string `json:"flowUuid"`
	// DataStores are the namespaces the flow declared when it ran (as
	// declared: "orders:read"); reading the run needs read on each.
	DataStores []string        `json:"dataStores"`
	Trigger    string          `json:"trigger"`
	Input      json.RawMessage `json:"input"`
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

// Readable reports whether grants g may read run r: read on every
// namespace its flow declared when it ran.
func (r Run) Readable(g store.Grants) error {
	for _, it := range r.DataStores {
		n, _ := ParseDataStore(it)
		if err := g.Allow(n, store.Read); err != nil {
			return store.Errorf(store.CodeAccessDenied, "run %s of flow %s used namespace %q: %s", r.ID, r.Flow, n, strings.TrimPrefix(store.Message(err), "access_denied: "))
		}
	}
	return nil
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

// runKey is a run's key in RunsNamespace: FLOW-UUID/ followed by the
// run's UUIDv7 with every bit inverted, in hex. UUIDv7s grow with time
// (and, within a process, strictly), so a prefix scan of FLOW-UUID/ lists
// the newest run first.
func runKey(flowUUID string, runID uuid.UUID) string {
	var inv [16]byte
	for i, b := range runID {
		inv[i] = ^b
	}
	return flowUUID + "/" + hex.EncodeToString(inv[:])
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
	if _, err := e.st.Upsert(ctx, RunsNamespace, runKey(r.FlowUUID, id), data, store.WriteOptions{TTL: e.opts.RunTTL}); err != nil {
		e.log.Error("blocks: recording run failed", "flow", r.Flow, "run", r.ID, "err", err)
		return fmt.Errorf("blocks: record run %s of %s: %w", r.ID, r.Flow, err)
	}
	if e.duePrune(r.FlowUUID, len(data)) {
		if err := e.prune(ctx, r.FlowUUID); err != nil {
			e.log.Warn("blocks: pruning old runs failed", "flow", r.Flow, "err", err)
		}
	}
	return nil
}

// duePrune counts a recorded run of flowUUID and reports whether its old
// runs should be pruned now: at its first run in this process, then after
// every RunKeep/4 runs or RunMaxBytes/4 bytes (a prune lists about
// 5/4 RunKeep records: some 5 record reads per run, and one transaction).
func (e *Engine) duePrune(flowUUID string, size int) bool {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if _, gone := e.deleted[flowUUID]; gone {
		return false
	}
	ps, seen := e.since[flowUUID]
	if !seen {
		ps = &pruneState{}
		e.since[flowUUID] = ps
	}
	ps.runs++
	ps.bytes += int64(size)
	due := !seen ||
		(e.opts.RunKeep > 0 && ps.runs >= max(1, e.opts.RunKeep/4)) ||
		(e.opts.RunMaxBytes > 0 && ps.bytes >= max(1, e.opts.RunMaxBytes/4))
	if due {
		ps.runs, ps.bytes = 0, 0
	}
	return due
}

// prune deletes the run records of flowUUID beyond the newest RunKeep and
// beyond RunMaxBytes in total (the newest record is always kept).
func (e *Engine) prune(ctx context.Context, flowUUID string) error {
	if e.opts.RunKeep < 0 && e.opts.RunMaxBytes < 0 {
		return nil
	}
	n, total, cursor := 0, int64(0), ""
	var old []store.Mutation
	for {
		p, err := e.st.List(ctx, RunsNamespace, flowUUID+"/", cursor, e.limits.MaxListLimit)
		if err != nil {
			return err
		}
		for _, ent := range p.Entries {
			n++
			total += int64(len(ent.Data))
			over := (e.opts.RunKeep > 0 && n > e.opts.RunKeep) || (e.opts.RunMaxBytes > 0 && total > e.opts.RunMaxBytes)
			if n > 1 && over {
				old = append(old, store.Mutation{Op: store.OpDelete, Name: RunsNamespace, Key: ent.Key})
			}
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	// One transaction per MaxAtomicActions records, not a write each.
	for len(old) > 0 {
		chunk := old[:min(len(old), store.MaxAtomicActions)]
		old = old[len(chunk):]
		if _, err := e.st.Atomic(ctx, nil, chunk); err != nil {
			return err
		}
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

// Runs lists the recorded runs of the stored flow id (of its UUID: runs of
// an earlier flow deleted under the same id are not among them), newest
// first; for an id no stored flow has, the runs of `flow run --file` of
// that id (FileFlowUUID). cursor continues a previous page ("" to start),
// limit 0 means 100. It does not check grants: see Run.Readable.
func (e *Engine) Runs(ctx context.Context, flowID, cursor string, limit int) (RunPage, error) {
	if !ValidFlowID(flowID) {
		return RunPage{Runs: []Run{}}, nil
	}
	flowUUID, err := e.uuidOf(ctx, flowID)
	if err != nil {
		return RunPage{}, err
	}
	return e.RunsOf(ctx, flowUUID, cursor, limit)
}

// uuidOf is the UUID of stored flow id, or FileFlowUUID(id) when none.
func (e *Engine) uuidOf(ctx context.Context, flowID string) (string, error) {
	sf, err := e.GetFlow(ctx, flowID)
	if errors.Is(err, store.ErrNotFound) {
		return FileFlowUUID(flowID), nil
	}
	if err != nil {
		return "", err
	}
	return sf.UUID, nil
}

// RunsOf lists the recorded runs of the flow with UUID flowUUID, newest
// first (see Runs).
func (e *Engine) RunsOf(ctx context.Context, flowUUID, cursor string, limit int) (RunPage, error) {
	if _, err := uuid.Parse(flowUUID); err != nil {
		return RunPage{Runs: []Run{}}, nil
	}
	p, err := e.st.List(ctx, RunsNamespace, flowUUID+"/", cursor, limit)
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

// GetRun returns one run record of the stored flow id (of its UUID, as
// Runs) or not_found. It does not check grants: see Run.Readable.
func (e *Engine) GetRun(ctx context.Context, flowID, runID string) (Run, error) {
	if !ValidFlowID(flowID) {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q of flow %q", runID, flowID)
	}
	flowUUID, err := e.uuidOf(ctx, flowID)
	if err != nil {
		return Run{}, err
	}
	return e.RunOf(ctx, flowUUID, runID)
}

// RunOf returns one run record of the flow with UUID flowUUID or not_found.
func (e *Engine) RunOf(ctx context.Context, flowUUID, runID string) (Run, error) {
	id, err := uuid.Parse(runID)
	if _, uerr := uuid.Parse(flowUUID); err != nil || uerr != nil || id.Version() != 7 {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q", runID)
	}
	ent, err := e.st.FindNameKey(ctx, RunsNamespace, runKey(flowUUID, id))
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q", runID)
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
