package blocks_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// A flow deleted by another process (the CLI holds the database itself;
// another server shares it): this process's scheduler stops it at its next
// time without warning about a missing flow, and its run going on here is
// cancelled within seconds, not at its timeout.
func TestDeleteFromAnotherProcess(t *testing.T) {
	t.Parallel()
	cli, st := newEngine(t)
	logs := &testenv.SyncBuffer{}
	server := blocks.NewEngine(st, blocks.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	mustPut(t, cli, "id: cleanup\ndataStores: [ticks]\ntrigger: {type: schedule, every: 1s}\nblocks:\n  - {id: n, type: dataStore, operation: atomicIncrement, name: ticks, key: n}\n")
	mustPut(t, cli, "id: long\ndataStores: [ticks]\ntimeout: 2m\nblocks:\n  - {id: spin, type: javascript, timeout: 100, code: 'await dataStore.upsert(\"ticks\", \"started\", 1); for (;;) {}'}\n")

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = blocks.NewScheduler(server, blocks.SchedulerOptions{Poll: 20 * time.Millisecond, Reload: time.Hour}).Run(sctx)
	}()
	defer func() { stop(); wg.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := st.FindNameKey(ctx, "ticks", "n"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the schedule never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := make(chan *blocks.Run, 1)
	go func() {
		r, err := server.RunFlow(ctx, "long", blocks.RunRequest{})
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- r
	}()
	for {
		if _, err := st.FindNameKey(ctx, "ticks", "started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long run never started")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, id := range []string{"cleanup", "long"} {
		if ok, err := cli.DeleteFlow(ctx, id); !ok || err != nil {
			t.Fatalf("delete %s: %v %v", id, ok, err)
		}
	}
	select {
	case r := <-done:
		if r == nil || r.Status != blocks.StatusFailed || r.Error.Code != store.CodeNotFound {
			t.Fatalf("run of the deleted flow: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run of a flow deleted by another process goes on")
	}
	// Three more scheduled times pass (the run above took at least one).
	before := ticks(t, st)
	time.Sleep(1500 * time.Millisecond)
	if n := ticks(t, st); n > before+1 {
		t.Errorf("the deleted schedule ran %d more times", n-before)
	}
	if strings.Contains(logs.String(), "no flow") {
		t.Errorf("the scheduler complained about the deleted flow:\n%s", logs.String())
	}
}

func ticks(t *testing.T, st store.Store) int {
	t.Helper()
	ent, err := st.FindNameKey(context.Background(), "ticks", "n")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	_ = json.Unmarshal(ent.Data, &n)
	return n
}

// A run is found by its id alone, by the engine that ran it at once and by
// another process once its id is indexed; the webhook request is part of
// the record and of what expressions see.
func TestRunByID(t *testing.T) {
	t.Parallel()
	a, st := newEngine(t)
	b := blocks.NewEngine(st, blocks.Options{})
	ctx := context.Background()
	mustPut(t, a, "id: byid\ndataStores: [orders]\ntrigger: webhook\nblocks:\n  - {id: save, type: dataStore, operation: upsert, name: orders, key: \"{{ request.query.k }}\", data: \"{{ request.method }}\"}\n")
	r, err := a.StartHook(ctx, "byid", blocks.HookCall{Input: json.RawMessage(`{}`), Request: &blocks.Request{Method: "PUT", Query: map[string]any{"k": "q1"}}})
	if err != nil || r.Status != blocks.StatusSucceeded {
		t.Fatalf("hook run: %+v %v", r, err)
	}
	if got, err := a.RunByID(ctx, r.ID); err != nil || got.Request == nil || got.Request.Method != "PUT" {
		t.Fatalf("RunByID on the running engine: %+v %v", got, err)
	}
	if ent, err := st.FindNameKey(ctx, "orders", "q1"); err != nil || string(ent.Data) != `"PUT"` {
		t.Errorf("entry %+v %v", ent, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := b.RunByID(ctx, r.ID)
		if err == nil && got.ID == r.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another engine never found run %s: %v", r.ID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.RunByID(ctx, "01900000-0000-7000-8000-000000000000"); store.CodeOf(err) != store.CodeNotFound {
		t.Errorf("unknown run: %v", err)
	}
	// Deleting the flow deletes its runs' records and index entries.
	if _, err := a.DeleteFlow(ctx, "byid"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RunByID(ctx, r.ID); store.CodeOf(err) != store.CodeNotFound {
		t.Errorf("run of a deleted flow: %v", err)
	}
}
