package blocks

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/store"
)

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
	// Request is the HTTP request that started a webhook run, without its
	// body (the body is Input); nil for other triggers.
	Request *Request `json:"request,omitempty"`
	// Status is succeeded or failed; running in a record written while
	// the run still went on (a webhook answered 202 before it finished).
	Status string `json:"status"`
	// Error is why the run failed (the failing block's error).
	Error *RunError `json:"error,omitempty"`
	// Output is the output of the last block that ran.
	Output json.RawMessage `json:"output"`
	// Response is what the webhook answers, from the flow's respond option
	// (evaluated when the run succeeded; nil without one).
	Response   *Response  `json:"response,omitempty"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt time.Time  `json:"finishedAt"`
	DurationMS float64    `json:"durationMs"`
	Blocks     []BlockRun `json:"blocks"`
	Logs       []LogLine  `json:"logs"`
	// Truncated is set when outputs, logs or the request were cut to fit
	// the record's size caps (MaxRecordedOutputBytes, MaxLogLineBytes,
	// MaxLogBytes, the store's data limit); what was cut says
	// {"truncated": true} or ends in "…".
	Truncated bool `json:"truncated,omitempty"`
}

// Request is the part of a webhook call a run sees besides its body:
// expressions read it as `request`, JavaScript blocks as the global
// `request`.
type Request struct {
	// Method is the HTTP method (POST).
	Method string `json:"method"`
	// Path is the request's path (/hooks/ID).
	Path string `json:"path"`
	// Query holds the query string's parameters: a text for a parameter
	// given once, an array of texts for one given more than once. The
	// webhook secret (?secret=) is removed.
	Query map[string]any `json:"query"`
	// Headers holds the request's headers by lower-case name, the values
	// of a repeated header joined with ", ". The webhook secret header and
	// Authorization (and Cookie) are removed.
	Headers map[string]string `json:"headers"`
}

// RunError is an error with its code word.
type RunError struct {
	Code    store.Code `json:"code"`
	Message string     `json:"message"`
	// Block is the id of the block that failed ("" when the flow itself did).
	Block string `json:"block,omitempty"`
	// Line and Column locate a JavaScript error in the block's code (1-based;
	// 0 when unknown or not a JavaScript error).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
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

// deleteRuns deletes every run record of flowUUID.
func (e *Engine) deleteRuns(ctx context.Context, flowUUID string) error {
	for {
		p, err := e.st.List(ctx, RunsNamespace, flowUUID+"/", "", e.limits.MaxListLimit)
		if err != nil {
			return err
		}
		keys := make([]string, len(p.Entries))
		for i, ent := range p.Entries {
			keys[i] = ent.Key
		}
		if err := e.deleteRecords(ctx, keys); err != nil {
			return err
		}
		if p.NextCursor == "" {
			return nil
		}
	}
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
	rec := *r
	if len(rec.Output) > MaxRecordedOutputBytes {
		rec.Output, rec.Truncated = truncatedMarker(len(rec.Output)), true
	}
	if rec.Response != nil && len(rec.Response.Body) > MaxRecordedOutputBytes {
		rec.Response = &Response{Status: rec.Response.Status, Body: truncatedMarker(len(rec.Response.Body))}
		rec.Truncated = true
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	if len(data) > e.limits.MaxDataBytes-1024 {
		data = shrinkRun(&rec, e.limits.MaxDataBytes-1024)
	}
	// The record is written even when the run's context was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.st.Upsert(ctx, RunsNamespace, runKey(r.FlowUUID, id), data, store.WriteOptions{TTL: e.opts.RunTTL}); err != nil {
		e.log.Error("blocks: recording run failed", "flow", r.Flow, "run", r.ID, "err", err)
		return fmt.Errorf("blocks: record run %s of %s: %w", r.ID, r.Flow, err)
	}
	e.queuePointer(id.String(), r.FlowUUID)
	if e.duePrune(r.FlowUUID, len(data)) {
		if err := e.prune(ctx, r.FlowUUID); err != nil {
			e.log.Warn("blocks: pruning old runs failed", "flow", r.Flow, "err", err)
		}
	}
	return nil
}

// recordMutations write run record data and its RunIDsNamespace pointer.
func (e *Engine) recordMutations(flowUUID string, id uuid.UUID, data []byte) []store.Mutation {
	ptr, _ := json.Marshal(map[string]string{"flowUuid": flowUUID})
	return []store.Mutation{
		{Op: store.OpSet, Name: RunsNamespace, Key: runKey(flowUUID, id), Data: data, TTL: e.opts.RunTTL},
		{Op: store.OpSet, Name: RunIDsNamespace, Key: id.String(), Data: ptr, TTL: e.opts.RunTTL},
	}
}

// deleteRecords deletes run records (by their RunsNamespace keys) and
// their RunIDsNamespace pointers, in transactions of at most
// store.MaxAtomicActions.
func (e *Engine) deleteRecords(ctx context.Context, keys []string) error {
	muts := make([]store.Mutation, 0, 2*len(keys))
	for _, k := range keys {
		muts = append(muts, store.Mutation{Op: store.OpDelete, Name: RunsNamespace, Key: k})
		if id, ok := runIDOfKey(k); ok {
			muts = append(muts, store.Mutation{Op: store.OpDelete, Name: RunIDsNamespace, Key: id})
		}
	}
	for len(muts) > 0 {
		chunk := muts[:min(len(muts), store.MaxAtomicActions&^1)]
		muts = muts[len(chunk):]
		if _, err := e.st.Atomic(ctx, nil, chunk); err != nil {
			return err
		}
	}
	return nil
}

// runIDOfKey is the run id of a RunsNamespace key (runKey's inverse).
func runIDOfKey(key string) (string, bool) {
	_, inv, ok := strings.Cut(key, "/")
	b, err := hex.DecodeString(inv)
	if !ok || err != nil || len(b) != 16 {
		return "", false
	}
	var id uuid.UUID
	for i := range b {
		id[i] = ^b[i]
	}
	return id.String(), true
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
	var old []string
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
				old = append(old, ent.Key)
			}
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	// A few transactions, not a write each.
	return e.deleteRecords(ctx, old)
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

// RunByID returns the run record with id runID, of any flow, or
// not_found. It does not check grants: see Run.Readable. Runs recorded
// before run ids were indexed are found only through their flow (RunOf).
func (e *Engine) RunByID(ctx context.Context, runID string) (Run, error) {
	id, err := uuid.Parse(runID)
	if err != nil || id.Version() != 7 {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q", runID)
	}
	if r, ok := e.liveRun(id.String()); ok {
		return r, nil
	}
	if flowUUID, ok := e.pendingPointer(id.String()); ok {
		return e.RunOf(ctx, flowUUID, id.String())
	}
	ent, err := e.st.FindNameKey(ctx, RunIDsNamespace, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, store.Errorf(store.CodeNotFound, "no run %q", runID)
	}
	if err != nil {
		return Run{}, err
	}
	var ptr struct {
		FlowUUID string `json:"flowUuid"`
	}
	if err := json.Unmarshal(ent.Data, &ptr); err != nil {
		return Run{}, store.Errorf(store.CodeUnavailable, "run index entry %s is damaged", runID)
	}
	return e.RunOf(ctx, ptr.FlowUUID, id.String())
}

// Run id pointers (RunIDsNamespace) are written in the background, many in
// one transaction: a run's record is written before its answer, its
// pointer soon after (RunByID reads the pointers not yet written from
// memory). A crash may lose the last pointers: those runs are then read
// through their flow only (GET /v1/flows/{id}/runs/{run}).

// queuePointer queues the pointer of run id to flowUUID and starts the
// writer if none is running.
func (e *Engine) queuePointer(id, flowUUID string) {
	e.ptrMu.Lock()
	defer e.ptrMu.Unlock()
	e.ptrPending[id] = flowUUID
	e.ptrQueue = append(e.ptrQueue, id)
	if !e.ptrWriting {
		e.ptrWriting = true
		e.ptrDone = make(chan struct{})
		go e.writePointers(e.ptrDone)
	}
}

func (e *Engine) pendingPointer(id string) (string, bool) {
	e.ptrMu.Lock()
	defer e.ptrMu.Unlock()
	flowUUID, ok := e.ptrPending[id]
	return flowUUID, ok
}

// writePointers writes the queued pointers, up to store.MaxAtomicActions
// per transaction, until none is left.
func (e *Engine) writePointers(done chan struct{}) {
	defer close(done)
	for {
		e.ptrMu.Lock()
		n := min(len(e.ptrQueue), store.MaxAtomicActions)
		if n == 0 {
			e.ptrWriting = false
			e.ptrMu.Unlock()
			return
		}
		ids := append([]string(nil), e.ptrQueue[:n]...)
		e.ptrQueue = e.ptrQueue[n:]
		muts := make([]store.Mutation, n)
		for i, id := range ids {
			ptr, _ := json.Marshal(map[string]string{"flowUuid": e.ptrPending[id]})
			muts[i] = store.Mutation{Op: store.OpSet, Name: RunIDsNamespace, Key: id, Data: ptr, TTL: e.opts.RunTTL}
		}
		e.ptrMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := e.st.Atomic(ctx, nil, muts)
		cancel()
		if err != nil {
			e.log.Warn("blocks: indexing run ids failed (those runs are read through their flow)", "runs", n, "err", err)
		}
		e.ptrMu.Lock()
		for _, id := range ids {
			delete(e.ptrPending, id)
		}
		e.ptrMu.Unlock()
	}
}

// flushPointers waits for the queued pointers to be written.
func (e *Engine) flushPointers() {
	e.ptrMu.Lock()
	done := e.ptrDone
	e.ptrMu.Unlock()
	if done != nil {
		<-done
	}
}
