package javascript_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

func newEngine(t *testing.T) (*blocks.Engine, store.Store) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return blocks.NewEngine(st, blocks.Options{}), st
}

const flow = `
id: js
dataStores: [orders]
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: {total: "{{ input.total }}"}
  - id: script
    type: javascript
    code: |
      console.log('saving', input.id, 'version', steps.save.version);
      await dataStore.upsert('orders', input.id + '-copy', { from: steps.save.key, flow: flow.id });
      const e = await dataStore.findNameKey('orders', input.id);
      if (input.deny) await dataStore.findNameKey(input.deny, 'x');
      if (input.fail) throw new Error('no good');
      return { total: e.data.total * 2, runId: flow.runId };
  - id: after
    type: dataStore
    operation: findNameKey
    name: orders
    key: "{{ input.id }}-copy"
`

func TestJavaScriptBlock(t *testing.T) {
	t.Parallel()
	e, st := newEngine(t)
	ctx := context.Background()
	sf, err := e.PutFlow(ctx, []byte(flow))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.RunFlow(ctx, "js", blocks.RunRequest{Input: json.RawMessage(`{"id":"o-1","total":21}`)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != blocks.StatusSucceeded {
		t.Fatalf("run failed: %+v", r.Error)
	}
	var out struct {
		Total int
		RunID string
	}
	if err := json.Unmarshal(r.Blocks[1].Output, &out); err != nil || out.Total != 42 || out.RunID != r.ID {
		t.Errorf("script output %s", r.Blocks[1].Output)
	}
	if len(r.Logs) != 1 || r.Logs[0].Block != "script" || !strings.Contains(r.Logs[0].Message, "saving o-1 version") {
		t.Errorf("logs %+v", r.Logs)
	}
	// The script's write is stamped with the flow's UUID and visible to the next block.
	copyEnt, err := st.FindNameKey(ctx, "orders", "o-1-copy")
	if err != nil || copyEnt.FlowUUID != sf.UUID || string(copyEnt.Data) != `{"flow":"js","from":"o-1"}` {
		t.Errorf("copy %+v %v", copyEnt, err)
	}

	for in, code := range map[string]store.Code{
		`{"id":"o-2","total":1,"deny":"secrets"}`: store.CodeAccessDenied,
		`{"id":"o-3","total":1,"fail":true}`:      store.CodeInvalidArgument,
	} {
		r, err := e.RunFlow(ctx, "js", blocks.RunRequest{Input: json.RawMessage(in)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != blocks.StatusFailed || r.Error.Code != code || r.Error.Block != "script" || len(r.Blocks) != 2 {
			t.Errorf("%s: status %s error %+v", in, r.Status, r.Error)
		}
	}
}

func TestJavaScriptBlockValidationAndLimits(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	ctx := context.Background()
	_, err := e.PutFlow(ctx, []byte("id: bad\nblocks:\n  - {id: s, type: javascript, code: 'return {'}\n  - {id: t, type: javascript}\n"))
	var ve *blocks.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Block != "s" || ve.Problems[0].Field != "code" || ve.Problems[1].Field != "code" {
		t.Fatalf("syntax error and missing code: %v", err)
	}
	// A literal namespace outside dataStores is refused on save.
	_, err = e.PutFlow(ctx, []byte("id: ns\ndataStores: [orders]\nblocks:\n  - id: s\n    type: javascript\n    code: |\n      await dataStore.findNameKey('orders', 'a');\n      await dataStore.upsert(\"customers\", 'b', 1);\n"))
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Message, `"customers"`) {
		t.Errorf("literal namespace outside dataStores: %v", err)
	}
	// Code is never template-expanded.
	if _, err := e.PutFlow(ctx, []byte("id: raw\nblocks:\n  - id: s\n    type: javascript\n    code: \"return '{{ input.x }}'\"\n")); err != nil {
		t.Fatal(err)
	}
	r, _ := e.RunFlow(ctx, "raw", blocks.RunRequest{Input: json.RawMessage(`{"x":1}`)})
	if string(r.Output) != `"{{ input.x }}"` {
		t.Errorf("code was expanded: %s", r.Output)
	}
	// A script that never ends is stopped by its time limit.
	if _, err := e.PutFlow(ctx, []byte("id: spin\nblocks:\n  - {id: s, type: javascript, timeout: 0.2, code: 'while (true) {}'}\n")); err != nil {
		t.Fatal(err)
	}
	r, _ = e.RunFlow(ctx, "spin", blocks.RunRequest{})
	if r.Status != blocks.StatusFailed || r.Error.Code != store.CodeTimeout {
		t.Errorf("endless script: %s %+v", r.Status, r.Error)
	}
}
