package blocks_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// openBackend opens one backend by name for a test.
func openBackend(t *testing.T, name string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var st store.Store
	var err error
	switch name {
	case "sqlite":
		st, err = sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	case "postgres":
		st, err = sqlstore.Open(ctx, testenv.PostgresDSN(t), sqlstore.Options{})
	case "dynamodb":
		var ds *dynamostore.Store
		ds, err = dynamostore.Open(ctx, dynamostore.Config{Endpoint: testenv.DynamoEndpoint(t), Table: testenv.UniqueName("flowkv_t_")})
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = ds.DeleteTable(ctx)
			})
		}
		st = ds
	}
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestEveryBackend stores flows, runs them and reads their runs on every
// backend: the engine keeps its records through the Store interface only.
func TestEveryBackend(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres", "dynamodb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := openBackend(t, name)
			e := blocks.NewEngine(st, blocks.Options{})
			ctx := context.Background()
			sf := mustPut(t, e, `
id: visits
dataStores: [visits]
trigger: {type: webhook}
blocks:
  - {id: count, type: dataStore, operation: atomicIncrement, name: visits, key: "{{ input.page }}"}
  - id: mine
    type: javascript
    code: |
      const page = await dataStore.fetch({ name: 'visits', flowUuid: flow.uuid, limit: 10 });
      return page.length;
`)
			var last *blocks.Run
			for _, page := range []string{"a", "b", "a"} {
				r, err := e.RunHook(ctx, "visits", json.RawMessage(`{"page":"`+page+`"}`), "")
				if err != nil {
					t.Fatal(err)
				}
				succeeded(t, r)
				last = r
			}
			if v := output(t, last, "count")["value"]; v != 2.0 {
				t.Errorf("visits of a = %v, want 2", v)
			}
			if string(last.Output) != "2" {
				t.Errorf("entries stamped with the flow's uuid = %s, want 2", last.Output)
			}
			ent, err := st.FindNameKey(ctx, "visits", "a")
			if err != nil || ent.FlowUUID != sf.UUID {
				t.Errorf("entry %+v %v", ent, err)
			}
			page, err := e.Runs(ctx, "visits", "", 2)
			if err != nil || len(page.Runs) != 2 || page.Runs[0].ID != last.ID || page.NextCursor == "" {
				t.Fatalf("runs: %+v %v", page, err)
			}
			rest, err := e.Runs(ctx, "visits", page.NextCursor, 10)
			if err != nil || len(rest.Runs) != 1 || rest.Runs[0].Input == nil {
				t.Errorf("second page: %+v %v", rest, err)
			}
			flows, err := e.ListFlows(ctx)
			if err != nil || len(flows) != 1 {
				t.Errorf("flows: %v %v", flows, err)
			}
			if got, err := e.FlowByUUID(ctx, sf.UUID); err != nil || got.Flow.ID != "visits" {
				t.Errorf("by uuid: %v", err)
			}
			if names, _ := st.Names(ctx); len(names) != 1 || names[0].Name != "visits" {
				t.Errorf("namespaces %v: flowkv's records must stay hidden", names)
			}
		})
	}
}
