package blocks_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// A namespace declared read-only (orders:read) can be read by both blocks
// and written by neither.
func TestReadOnlyDataStores(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	if _, err := st.Upsert(ctx, "orders", "o-1", []byte(`{"total":5}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, e, `
id: reader
dataStores: [orders:read, out]
blocks:
  - {id: get, type: dataStore, operation: findNameKey, name: orders, key: o-1}
  - {id: js, type: javascript, code: "return (await dataStore.findNameKey('orders', 'o-1')).data.total"}
  - {id: copy, type: dataStore, operation: upsert, name: out, key: o-1, data: "{{ steps.get.data }}"}
`)
	succeeded(t, mustRun(t, e, "reader", "null"))
	// Writes to a literal read-only namespace are refused when saved…
	for _, w := range []string{
		"{id: w, type: dataStore, operation: upsert, name: orders, key: o-2, data: 1}",
		"{id: w, type: dataStore, operation: deleteOneNameKey, name: orders, key: o-1}",
		"{id: w, type: dataStore, operation: atomicIncrement, name: orders, key: n}",
		`{id: w, type: javascript, code: "await dataStore.upsert('orders', 'o-2', 1)"}`,
	} {
		_, err := e.PutFlow(ctx, []byte("id: writer\ndataStores: [orders:read]\nblocks:\n  - "+w+"\n"))
		if store.CodeOf(err) != store.CodeInvalidArgument || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("%s saved on a read-only namespace: %v", w, err)
		}
	}
	// …and computed ones fail the run with access_denied.
	for _, w := range []string{
		`{id: w, type: dataStore, operation: upsert, name: "{{ input.ns }}", key: o-2, data: 1}`,
		`{id: w, type: dataStore, operation: deleteOneNameKey, name: "{{ input.ns }}", key: o-1}`,
		`{id: w, type: javascript, code: "await dataStore.upsert(input.ns, 'o-2', 1)"}`,
		`{id: w, type: javascript, code: "await (await openKv(input.ns)).set(['o-2'], 1)"}`,
	} {
		mustPut(t, e, "id: writer\ndataStores: [orders:read]\nblocks:\n  - "+w+"\n")
		r := mustRun(t, e, "writer", `{"ns":"orders"}`)
		if r.Status != blocks.StatusFailed || r.Error == nil || r.Error.Code != store.CodeAccessDenied {
			b, _ := json.Marshal(r)
			t.Fatalf("%s on a read-only namespace: %s", w, b)
		}
		if r.DataStores[0] != "orders:read" {
			t.Fatalf("run records dataStores %v", r.DataStores)
		}
	}
	if p, _ := st.List(ctx, "orders", "", "", 10); len(p.Entries) != 1 {
		t.Fatalf("a read-only flow changed orders: %d entries", len(p.Entries))
	}
	// Declarations: suffixes parse, reserved names stay refused.
	f := &blocks.Flow{DataStores: []string{"a", "b:read", "c:write", "d:e", "b"}}
	g := f.Grants()
	if g["a"] != store.Write || g["b"] != store.Write || g["c"] != store.Write || g["d:e"] != store.Write || len(g) != 4 {
		t.Fatalf("grants %v", g)
	}
	if _, err := e.PutFlow(ctx, []byte("id: x\ndataStores: [_flowkv.tokens:read]\nblocks:\n  - {id: a, type: dataStore, operation: findName, name: _flowkv.tokens}\n")); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("reserved read-only namespace: %v", err)
	}
}

// Webhook secrets: stored hashed, never rendered, dropped from the stored
// source (YAML keeps its comments; JSON is re-encoded; a source that still
// quotes the secret becomes the flow as JSON); absent keeps, "" clears.
func TestWebhookSecretIsWriteOnly(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	check := func(id, secret string) blocks.StoredFlow {
		t.Helper()
		sf, err := e.GetFlow(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(sf)
		ent, _ := st.FindNameKey(ctx, blocks.FlowsNamespace, id)
		if strings.Contains(string(b), secret) || strings.Contains(string(ent.Data), secret) {
			t.Fatalf("secret %q rendered or stored:\n%s\n%s", secret, b, ent.Data)
		}
		if !sf.Flow.Trigger.HasSecret() || !strings.Contains(string(b), `"secretSet":true`) {
			t.Fatalf("secretSet missing: %s", b)
		}
		if _, err := blocks.ParseFlow([]byte(sf.Source)); err != nil {
			t.Fatalf("stored source does not parse: %v\n%s", err, sf.Source)
		}
		return sf
	}
	hook := func(id, secret string) error {
		_, err := e.RunHook(ctx, id, nil, secret)
		return err
	}
	block := "blocks:\n  - {id: a, type: javascript, code: 'return 1'}\n"
	mustPut(t, e, "# my hook\nid: y\ndataStores: []\ntrigger: {type: webhook, secret: s3cr3t-yaml}  # shh\n"+block)
	if sf := check("y", "s3cr3t-yaml"); !strings.Contains(sf.Source, "# my hook") {
		t.Errorf("YAML comment lost:\n%s", sf.Source)
	}
	mustPut(t, e, `{"id":"j","dataStores":[],"trigger":{"type":"webhook","secret":"s3cr3t-json"},"blocks":[{"id":"a","type":"javascript","code":"return 1"}]}`)
	check("j", "s3cr3t-json")
	mustPut(t, e, "id: c\n# the secret is s3cr3t-comment\ndataStores: []\ntrigger: {type: webhook, secret: s3cr3t-comment}\n"+block)
	if sf := check("c", "s3cr3t-comment"); !strings.HasPrefix(sf.Source, "{") {
		t.Errorf("a source quoting the secret should fall back to JSON:\n%s", sf.Source)
	}
	if err := hook("y", "s3cr3t-yaml"); err != nil {
		t.Fatal(err)
	}
	if err := hook("y", "wrong"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("wrong secret: %v", err)
	}
	// Put again without the secret: kept.
	mustPut(t, e, "id: y\ndataStores: []\ntrigger: {type: webhook}\n"+block)
	check("y", "s3cr3t-yaml")
	if err := hook("y", "s3cr3t-yaml"); err != nil {
		t.Fatalf("secret not kept: %v", err)
	}
	// FlowDocument carries a secret set with SetSecret (the editor's way).
	sf, _ := e.GetFlow(ctx, "y")
	sf.Flow.Trigger.SetSecret("n3w")
	doc, err := blocks.FlowDocument(sf.Flow)
	if err != nil || !strings.Contains(string(doc), `"secret":"n3w"`) {
		t.Fatalf("FlowDocument: %s %v", doc, err)
	}
	if _, err := e.PutFlow(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if hook("y", "s3cr3t-yaml") == nil || hook("y", "n3w") != nil {
		t.Fatal("rotation through FlowDocument did not take")
	}
	// secret: "" clears.
	mustPut(t, e, "id: y\ndataStores: []\ntrigger: {type: webhook, secret: ''}\n"+block)
	if sf, _ := e.GetFlow(ctx, "y"); sf.Flow.Trigger.HasSecret() {
		t.Fatal("secret not cleared")
	}
	if err := hook("y", ""); err != nil {
		t.Fatal(err)
	}
}

// A flow stored before secrets were hashed (its record holds the secret in
// clear) still works and is rewritten without it when flows are listed.
func TestLegacyFlowSecretMigrates(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	rec := `{"flow":{"id":"old","dataStores":[],"trigger":{"type":"webhook","secret":"legacy-pw"},"blocks":[{"id":"a","type":"javascript","code":"return 1"}]},` +
		`"uuid":"0d9b0a4e-7f44-4a8e-9d7a-3f1b7f8e2a11","source":"id: old\ndataStores: []\ntrigger: {type: webhook, secret: legacy-pw}\nblocks:\n  - {id: a, type: javascript, code: 'return 1'}\n"}`
	if _, err := st.Insert(ctx, blocks.FlowsNamespace, "old", []byte(rec), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	sf, err := e.GetFlow(ctx, "old")
	if err != nil || strings.Contains(sf.Source, "legacy-pw") || !sf.Flow.Trigger.HasSecret() {
		t.Fatalf("legacy flow read: %+v %v", sf, err)
	}
	if _, err := e.RunHook(ctx, "old", nil, "nope"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("legacy secret not enforced: %v", err)
	}
	if _, err := e.RunHook(ctx, "old", nil, "legacy-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ListFlows(ctx); err != nil {
		t.Fatal(err)
	}
	ent, _ := st.FindNameKey(ctx, blocks.FlowsNamespace, "old")
	if strings.Contains(string(ent.Data), "legacy-pw") || !strings.Contains(string(ent.Data), "secretHash") {
		t.Fatalf("legacy record not migrated: %s", ent.Data)
	}
	if _, err := e.RunHook(ctx, "old", nil, "legacy-pw"); err != nil {
		t.Fatalf("after migration: %v", err)
	}
}

// Retention: a flow keeps its newest RunKeep runs and at most RunMaxBytes
// of them; pruning runs every quarter of either limit.
func TestRunRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	count := func(e *blocks.Engine, id string) int {
		p, err := e.Runs(ctx, id, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Runs)
	}
	e := blocks.NewEngine(st, blocks.Options{RunKeep: 20, RunMaxBytes: -1})
	mustPut(t, e, "id: many\ndataStores: []\nblocks:\n  - {id: a, type: javascript, code: 'return input'}\n")
	var last *blocks.Run
	for i := range 60 {
		last = mustRun(t, e, "many", "{\"i\":"+string(rune('0'+i%10))+"}")
		if n := count(e, "many"); n > 20+20/4 {
			t.Fatalf("after %d runs %d records, want at most 25", i+1, n)
		}
	}
	if n := count(e, "many"); n < 20 {
		t.Fatalf("%d records kept, want at least 20", n)
	}
	if p, _ := e.Runs(ctx, "many", "", 1); p.Runs[0].ID != last.ID {
		t.Fatal("the newest run was pruned")
	}

	// By size: runs of ~10 KB under a 100 KB budget.
	e2 := blocks.NewEngine(st, blocks.Options{RunKeep: -1, RunMaxBytes: 100 << 10})
	mustPut(t, e2, "id: big\ndataStores: []\nblocks:\n  - {id: a, type: javascript, code: \"return 'x'.repeat(10000)\"}\n")
	for range 40 {
		mustRun(t, e2, "big", "null")
	}
	p, _ := st.List(ctx, blocks.RunsNamespace, "", "", 1000)
	total := 0
	for _, ent := range p.Entries {
		if strings.Contains(string(ent.Data), `"flow":"big"`) {
			total += len(ent.Data)
		}
	}
	if total > 125<<10 || total < 50<<10 {
		t.Fatalf("big's records hold %d bytes, want about 100 KiB (at most 125)", total)
	}
	// Defaults are documented: 100 runs, 10 MiB.
	if blocks.DefaultRunKeep != 100 || blocks.DefaultRunMaxBytes != 10<<20 {
		t.Fatal("docs/flows.md states the retention defaults: update both")
	}
}

// Deleting a flow cancels its run going on (the JavaScript block stops),
// refuses it new runs even from a stale cache, and stops its schedule at
// once.
func TestDeleteFlowCancelsRunsAndSchedule(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	mustPut(t, e, "id: spin\ndataStores: []\ntimeout: 50s\nblocks:\n  - {id: loop, type: javascript, timeout: 45, code: 'for (;;) {}'}\n")
	done := make(chan *blocks.Run, 1)
	go func() {
		r, _ := e.RunFlow(ctx, "spin", blocks.RunRequest{})
		done <- r
	}()
	time.Sleep(200 * time.Millisecond)
	if ok, err := e.DeleteFlow(ctx, "spin"); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	select {
	case r := <-done:
		if r == nil || r.Status != blocks.StatusFailed || r.Error.Code != store.CodeNotFound {
			t.Fatalf("cancelled run: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the run of the deleted flow goes on")
	}

	// A schedule every second: deleted, it runs no more.
	mustPut(t, e, "id: tick\ndataStores: [ticks]\ntrigger: {type: schedule, every: 1s}\nblocks:\n  - {id: n, type: dataStore, operation: atomicIncrement, name: ticks, key: n}\n")
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	s := blocks.NewScheduler(e, blocks.SchedulerOptions{Poll: 20 * time.Millisecond, Reload: time.Hour})
	go func() { defer wg.Done(); _ = s.Run(sctx) }()
	defer func() { cancel(); wg.Wait() }()
	read := func() int {
		ent, err := st.FindNameKey(ctx, "ticks", "n")
		if err != nil {
			return 0
		}
		var n int
		_ = json.Unmarshal(ent.Data, &n)
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for read() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the schedule never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.DeleteFlow(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	after := read()
	time.Sleep(2500 * time.Millisecond) // two more scheduled times pass
	if n := read(); n > after+1 {       // one run may have been claimed before the delete
		t.Fatalf("deleted schedule ran %d more times", n-after)
	}
}
