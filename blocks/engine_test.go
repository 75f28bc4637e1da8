package blocks_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// newEngine returns an engine over a fresh SQLite store.
func newEngine(t testing.TB) (*blocks.Engine, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return blocks.NewEngine(st, blocks.Options{}), st
}

func mustPut(t testing.TB, e *blocks.Engine, src string) blocks.StoredFlow {
	t.Helper()
	sf, err := e.PutFlow(context.Background(), []byte(src))
	if err != nil {
		t.Fatalf("put flow: %v", err)
	}
	return sf
}

func mustRun(t testing.TB, e *blocks.Engine, id, input string) *blocks.Run {
	t.Helper()
	r, err := e.RunFlow(context.Background(), id, blocks.RunRequest{Input: json.RawMessage(input)})
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return r
}

func succeeded(t testing.TB, r *blocks.Run) {
	t.Helper()
	if r.Status != blocks.StatusSucceeded {
		b, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("run of %s did not succeed:\n%s", r.Flow, b)
	}
}

func output(t testing.TB, r *blocks.Run, block string) map[string]any {
	t.Helper()
	for _, b := range r.Blocks {
		if b.ID == block {
			var m map[string]any
			if err := json.Unmarshal(b.Output, &m); err != nil {
				t.Fatalf("output of %s is not an object: %s", block, b.Output)
			}
			return m
		}
	}
	t.Fatalf("block %s did not run", block)
	return nil
}

const rememberOrder = `
id: remember-order
dataStores: [orders]
trigger: {type: manual}
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: "{{ input }}"
    timeoutUnit: days
    timeoutValue: 7
  - id: read
    type: dataStore
    operation: findNameKey
    name: orders
    key: "order-{{ steps.save.data.id }}"
    onError: continue
  - id: mine
    type: dataStore
    operation: fetch
    flowUuid: "{{ flow.uuid }}"
`

func TestFlowRunStampsWritesAndRecordsRuns(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	sf := mustPut(t, e, rememberOrder)
	if _, err := uuid.Parse(sf.UUID); err != nil {
		t.Fatalf("stored flow uuid %q: %v", sf.UUID, err)
	}
	r := mustRun(t, e, "remember-order", `{"id":"o-1","total":12.5,"items":[1,2]}`)
	succeeded(t, r)

	// The whole-field expression kept the input's JSON type.
	ent, err := st.FindNameKey(ctx, "orders", "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(ent.Data) != `{"id":"o-1","items":[1,2],"total":12.5}` {
		t.Errorf("stored data = %s", ent.Data)
	}
	if ent.FlowUUID != sf.UUID {
		t.Errorf("entry flowUuid = %q, want the flow's %q", ent.FlowUUID, sf.UUID)
	}
	if ent.ExpiresAt == nil || ent.ExpiresAt.Sub(ent.UpdatedAt) < 7*24*time.Hour-time.Minute || ent.ExpiresAt.Sub(ent.UpdatedAt) > 7*24*time.Hour+time.Minute {
		t.Errorf("expiresAt = %v, want 7 days after %v", ent.ExpiresAt, ent.UpdatedAt)
	}
	// onError: continue turned not_found into null, the flow went on.
	if string(r.Blocks[1].Output) != "null" || r.Blocks[1].Status != blocks.StatusSucceeded {
		t.Errorf("read block = %+v", r.Blocks[1])
	}
	if len(r.Logs) == 0 || !strings.Contains(r.Logs[0].Message, "not_found") {
		t.Errorf("logs = %+v, want the continued not_found", r.Logs)
	}
	// fetch({flowUuid}) finds what the flow stored.
	items := output(t, r, "mine")["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["key"] != "o-1" {
		t.Errorf("fetch by flowUuid = %v", items)
	}

	// Re-putting keeps the UUID; FlowByUUID finds the flow.
	again := mustPut(t, e, rememberOrder)
	if again.UUID != sf.UUID || again.Version <= sf.Version {
		t.Errorf("re-put: uuid %s (was %s), version %d (was %d)", again.UUID, sf.UUID, again.Version, sf.Version)
	}
	if got, err := e.FlowByUUID(ctx, sf.UUID); err != nil || got.Flow.ID != "remember-order" {
		t.Errorf("FlowByUUID = %v, %v", got.Flow, err)
	}
	flows, err := e.ListFlows(ctx)
	if err != nil || len(flows) != 1 || flows[0].Source != rememberOrder {
		t.Fatalf("ListFlows = %v, %v", flows, err)
	}

	// Runs are recorded, newest first, and readable one by one.
	r2 := mustRun(t, e, "remember-order", `{"id":"o-2"}`)
	page, err := e.Runs(ctx, "remember-order", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 2 || page.Runs[0].ID != r2.ID || page.Runs[1].ID != r.ID {
		t.Fatalf("runs = %d, want newest (%s) first", len(page.Runs), r2.ID)
	}
	got, err := e.GetRun(ctx, "remember-order", r.ID)
	if err != nil || got.Status != blocks.StatusSucceeded || len(got.Blocks) != 3 || string(got.Input) != `{"id":"o-1","items":[1,2],"total":12.5}` {
		t.Errorf("GetRun = %+v, %v", got, err)
	}
	if _, err := e.GetRun(ctx, "remember-order", uuid.NewString()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun unknown = %v, want not_found", err)
	}
	// Flows and runs are not visible through namespaces listings.
	names, _ := st.Names(ctx)
	for _, n := range names {
		if store.IsReserved(n.Name) {
			t.Errorf("Names lists reserved %s", n.Name)
		}
	}
}

func TestValidationListsEveryProblem(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	src := `
id: bad flow
dataStores: [orders, _flowkv.flows]
trigger: {type: schedule}
blocks:
  - id: a
    type: nosuch
  - id: b
    type: dataStore
    operation: upsertt
  - id: c
    type: dataStore
    operation: insert
    name: customers
  - id: d
    type: dataStore
    operation: findNameKey
    name: orders
    key: "{{ steps.e.key }}"
    limitt: 5
  - id: e
    type: dataStore
    operation: upsert
    name: orders
    key: k
    data: 1
    timeoutUnit: hours
  - id: a
    type: dataStore
    operation: fetch
    limit: "{{ input. }}"
`
	_, err := e.PutFlow(context.Background(), []byte(src))
	var ve *blocks.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("PutFlow = %v, want a ValidationError", err)
	}
	if store.CodeOf(err) != store.CodeInvalidArgument || !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("code = %s, want invalid_argument", store.CodeOf(err))
	}
	want := []struct{ block, field, msg string }{
		{"", "id", "letters"},
		{"", "dataStores", "reserved"},
		{"", "trigger", "every"},
		{"a", "type", "unknown block type"},
		{"b", "operation", "unknown value"},
		{"c", "key", "required"},
		{"c", "data", "required"},
		{"c", "name", "not in the flow's dataStores"},
		{"d", "key", "steps.e"},
		{"d", "limitt", "unknown field"},
		{"e", "timeoutValue", "required"},
		{"a", "id", "earlier block"},
		{"a", "limit", "expression"},
	}
	for _, w := range want {
		found := false
		for _, p := range ve.Problems {
			if p.Block == w.block && p.Field == w.field && strings.Contains(p.Message, w.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem %s/%s containing %q in:\n%s", w.block, w.field, w.msg, err)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Problems), len(want), err)
	}
	// Nothing was stored.
	if p, _ := st.FindName(context.Background(), blocks.FlowsNamespace, 10, 0); len(p) != 0 {
		t.Errorf("a refused flow was stored")
	}
}

func TestBlockBehaviour(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	mustPut(t, e, `
id: counters
dataStores: [counters, secrets-not]
blocks:
  - id: inc
    type: dataStore
    operation: atomicIncrement
    name: counters
    key: "{{ input.key }}"
    data: "{{ input.by }}"
  - id: again
    type: dataStore
    operation: atomicIncrement
    name: counters
    key: "{{ input.key }}"
  - id: skipped
    if: "{{ steps.again.value > 100 }}"
    type: dataStore
    operation: deleteOneNameKey
    name: counters
    key: "{{ input.key }}"
  - id: ins
    type: dataStore
    operation: insert
    name: counters
    key: "{{ input.key }}"
    data: 0
    onError: "{{ input.onError }}"
`)
	r := mustRun(t, e, "counters", `{"key":"c1","by":5,"onError":"continue"}`)
	succeeded(t, r)
	if v := output(t, r, "inc")["value"]; v != 5.0 {
		t.Errorf("first increment of a missing entry = %v, want 5", v)
	}
	if v := output(t, r, "again")["value"]; v != 6.0 {
		t.Errorf("default increment = %v, want 6", v)
	}
	if r.Blocks[2].Status != blocks.StatusSkipped || string(r.Blocks[2].Output) != "null" {
		t.Errorf("if false: %+v", r.Blocks[2])
	}
	if string(r.Blocks[3].Output) != "null" {
		t.Errorf("insert of a present key with onError continue = %s", r.Blocks[3].Output)
	}
	ent, _ := st.FindNameKey(ctx, "counters", "c1")
	if string(ent.Data) != "6" {
		t.Errorf("counter = %s, want 6", ent.Data)
	}

	// onError fail: the run fails at that block with already_exists.
	r = mustRun(t, e, "counters", `{"key":"c1","by":1,"onError":"fail"}`)
	if r.Status != blocks.StatusFailed || r.Error == nil || r.Error.Code != store.CodeAlreadyExists || r.Error.Block != "ins" {
		t.Errorf("onError fail: status %s, error %+v", r.Status, r.Error)
	}
	// A bad evaluated value fails the run with invalid_argument.
	r = mustRun(t, e, "counters", `{"key":"c1","by":"lots"}`)
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument || r.Error.Block != "inc" {
		t.Errorf("non-numeric increment: %s %+v", r.Status, r.Error)
	}
	r = mustRun(t, e, "counters", `{"key":"c1","by":1,"onError":"sometimes"}`)
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument || !strings.Contains(r.Error.Message, "onError") {
		t.Errorf("bad evaluated enum: %s %+v", r.Status, r.Error)
	}
	// An empty key from a missing input field is invalid_argument, not a write.
	r = mustRun(t, e, "counters", `{}`)
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeInvalidArgument {
		t.Errorf("missing key: %s %+v", r.Status, r.Error)
	}
}

func TestGrantsConfineFlows(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	if _, err := st.Upsert(ctx, "secrets", "s", json.RawMessage(`"hidden"`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, e, `
id: sneaky
dataStores: [public]
blocks:
  - id: read
    type: dataStore
    operation: findNameKey
    name: "{{ input.ns }}"
    key: "{{ input.key }}"
`)
	for _, in := range []string{`{"ns":"secrets","key":"s"}`, `{"ns":"_flowkv.flows","key":"sneaky"}`} {
		r := mustRun(t, e, "sneaky", in)
		if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeAccessDenied {
			t.Errorf("%s: status %s error %+v, want access_denied", in, r.Status, r.Error)
		}
	}
	// fetch without a name sees only granted namespaces.
	mustPut(t, e, `
id: lister
dataStores: [public]
blocks:
  - {id: all, type: dataStore, operation: fetch}
`)
	r := mustRun(t, e, "lister", "")
	succeeded(t, r)
	if items := output(t, r, "all")["items"].([]any); len(items) != 0 {
		t.Errorf("fetch saw %d entries outside the grants", len(items))
	}
}

func TestWebhookAndFileRuns(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	mustPut(t, e, `
id: hook
dataStores: [hooks]
trigger: {type: webhook, secret: s3cret}
blocks:
  - {id: save, type: dataStore, operation: upsert, name: hooks, key: last, data: "{{ input }}"}
`)
	if _, err := e.RunHook(ctx, "hook", json.RawMessage(`{"a":1}`), "wrong"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Errorf("wrong secret: %v", err)
	}
	r, err := e.RunHook(ctx, "hook", json.RawMessage(`{"a":1}`), "s3cret")
	if err != nil || r.Status != blocks.StatusSucceeded || r.Trigger != blocks.TriggerWebhook {
		t.Fatalf("hook run: %v %+v", err, r)
	}
	mustPut(t, e, `{"id":"manual-only","dataStores":["hooks"],"blocks":[{"id":"x","type":"dataStore","operation":"findName","name":"hooks"}]}`)
	if _, err := e.RunHook(ctx, "manual-only", nil, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("hook on a manual flow: %v, want not_found", err)
	}
	if _, err := e.RunFlow(ctx, "nope", blocks.RunRequest{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown flow: %v", err)
	}
	if _, err := e.RunFlow(ctx, "hook", blocks.RunRequest{Input: json.RawMessage(`{bad`)}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("bad input: %v", err)
	}

	// A file run is not stored, stamps the UUIDv5 of its id, and is recorded.
	doc := `
id: from-file
dataStores: [hooks]
blocks:
  - {id: save, type: dataStore, operation: upsert, name: hooks, key: file, data: "{{ flow.id }}"}
`
	r, err = e.RunDocument(ctx, []byte(doc), blocks.RunRequest{})
	if err != nil || r.Status != blocks.StatusSucceeded {
		t.Fatalf("file run: %v %+v", err, r)
	}
	want := uuid.NewSHA1(blocks.FileNamespace, []byte("from-file"))
	if r.FlowUUID != want.String() || want.Version() != 5 {
		t.Errorf("file flow uuid = %s, want v5 %s", r.FlowUUID, want)
	}
	ent, _ := st.FindNameKey(ctx, "hooks", "file")
	if ent.FlowUUID != want.String() || string(ent.Data) != `"from-file"` {
		t.Errorf("file run entry = %+v", ent)
	}
	if _, err := e.GetFlow(ctx, "from-file"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("file run stored the flow: %v", err)
	}
	if p, _ := e.Runs(ctx, "from-file", "", 0); len(p.Runs) != 1 || p.Runs[0].Trigger != blocks.TriggerFile {
		t.Errorf("file runs = %+v", p.Runs)
	}
	if ok, err := e.DeleteFlow(ctx, "hook"); !ok || err != nil {
		t.Errorf("DeleteFlow = %v, %v", ok, err)
	}
	if _, err := e.GetFlow(ctx, "hook"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted flow still there: %v", err)
	}
}

func TestFlowTimeout(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	blocks.Register(blocks.Spec{Type: "testSleep", Label: "Sleep", Fields: []blocks.Field{}},
		func(blocks.Config) (blocks.Block, error) {
			return blocks.BlockFunc(func(ctx context.Context, c *blocks.Call) (json.RawMessage, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}), nil
		})
	mustPut(t, e, `
id: slow
timeout: 50ms
blocks:
  - {id: nap, type: testSleep}
  - {id: never, type: testSleep}
`)
	r := mustRun(t, e, "slow", "")
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeTimeout || r.Error.Block != "nap" || len(r.Blocks) != 1 {
		t.Errorf("slow flow: %s %+v, %d blocks", r.Status, r.Error, len(r.Blocks))
	}
}

func TestPanickingBlockFailsTheRun(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	blocks.Register(blocks.Spec{Type: "testPanic", Label: "Panic", Fields: []blocks.Field{}},
		func(blocks.Config) (blocks.Block, error) {
			return blocks.BlockFunc(func(context.Context, *blocks.Call) (json.RawMessage, error) { panic("boom") }), nil
		})
	mustPut(t, e, "id: panics\nblocks:\n  - {id: p, type: testPanic}\n")
	r := mustRun(t, e, "panics", "")
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeUnavailable || strings.Contains(r.Error.Message, "boom") {
		t.Errorf("panicking block: %s %+v", r.Status, r.Error)
	}
}

func TestRegisterPanicsOnDuplicate(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("registering dataStore twice did not panic")
		}
	}()
	spec, f, _ := blocks.Lookup("dataStore")
	blocks.Register(spec, f)
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	specs := blocks.Specs()
	for i := 1; i < len(specs); i++ {
		if specs[i-1].Type >= specs[i].Type {
			t.Errorf("Specs not sorted: %s before %s", specs[i-1].Type, specs[i].Type)
		}
	}
	ds, _, ok := blocks.Lookup("dataStore")
	if !ok {
		t.Fatal("dataStore not registered")
	}
	op, _ := ds.Field("operation")
	if len(op.Options) != 9 {
		t.Errorf("dataStore has %d operations, want 9 (search included)", len(op.Options))
	}
	b, err := json.Marshal(ds)
	if err != nil || !strings.Contains(string(b), `"showWhen":[{"field":"operation","in":["fetch","findNameKey"`) {
		t.Errorf("spec JSON: %s %v", b, err)
	}
}

func TestScheduler(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	mustPut(t, e, `
id: tick
dataStores: [ticks]
trigger: {type: schedule, every: 1s, input: {"n": 1}}
blocks:
  - {id: count, type: dataStore, operation: atomicIncrement, name: ticks, key: n, data: "{{ input.n }}"}
`)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Two schedulers over one store: every scheduled time runs once.
	for range 2 {
		s := blocks.NewScheduler(e, blocks.SchedulerOptions{Poll: 20 * time.Millisecond, Reload: time.Hour})
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := e.Runs(context.Background(), "tick", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Runs) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d scheduled runs in 20s", len(p.Runs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A schedule put while the schedulers run starts without waiting for
	// their (hour-long) reload interval.
	mustPut(t, e, `
id: tock
dataStores: [ticks]
trigger: {type: schedule, every: 1s}
blocks:
  - {id: count, type: dataStore, operation: atomicIncrement, name: ticks, key: tock}
`)
	for {
		p, err := e.Runs(context.Background(), "tock", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Runs) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a schedule put while running was not picked up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	p, _ := e.Runs(context.Background(), "tick", "", 1000)
	claims, _ := st.List(context.Background(), blocks.TicksNamespace, "tick@", "", 1000)
	// Each claimed time runs at most once (a run cancelled by the shutdown
	// before it started leaves a claim without a run).
	if len(p.Runs) > len(claims.Entries) || len(p.Runs) < len(claims.Entries)-2 {
		t.Errorf("%d runs for %d claimed times: a time ran twice", len(p.Runs), len(claims.Entries))
	}
	ent, _ := st.FindNameKey(context.Background(), "ticks", "n")
	var n int
	_ = json.Unmarshal(ent.Data, &n)
	ok := 0
	for _, r := range p.Runs {
		if r.Trigger != blocks.TriggerSchedule {
			t.Errorf("trigger = %s", r.Trigger)
		}
		if r.Status == blocks.StatusSucceeded {
			ok++
		}
	}
	if n != ok {
		t.Errorf("counter = %d after %d successful scheduled runs (input from the trigger)", n, ok)
	}
}
