// Package javascript is the JavaScript block (type `javascript`): it runs
// `code` in flowkv's goja sandbox with `input` (the flow's input) and
// `steps` (earlier blocks' outputs by id) in scope, and the async
// `dataStore` and `kv` APIs limited to the flow's dataStores. The script's
// return value is the block's output. Import it for its side effect of
// registering the block:
//
//	import _ "github.com/flowkv/flowkv/blocks/javascript"
package javascript

import (
	"context"
	"encoding/json"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

// Type is the block type.
const Type = "javascript"

// DefaultTimeout is a script's time limit in seconds when the block sets none.
const DefaultTimeout = 10

// Spec is the JavaScript block's spec.
var Spec = blocks.Spec{
	Type:  Type,
	Label: "JavaScript",
	Description: "Runs JavaScript in a sandbox. The code sees input (the flow's input) and steps (earlier blocks' outputs by id), " +
		"and the async dataStore and kv APIs on the flow's dataStores; use await. Writes are stamped with the flow's UUID.",
	Output: "The script's return value (awaited when it is a promise); undefined is null.",
	Fields: []blocks.Field{
		{Name: "code", Label: "Code", Type: blocks.TypeCode, Required: true,
			Help:        "The body of an async function: return the block's output. Never template-expanded; read input and steps directly.",
			Placeholder: "const e = await dataStore.findNameKey('orders', input.id);\nreturn e.data;"},
		{Name: "timeout", Label: "Time limit (seconds)", Type: blocks.TypeNumber, Default: DefaultTimeout,
			Help: "The script is stopped (timeout) after this many seconds."},
	},
}

func init() { blocks.Register(Spec, New) }

// New is the block's factory.
func New(cfg blocks.Config) (blocks.Block, error) {
	return blocks.BlockFunc(func(ctx context.Context, c *blocks.Call) (json.RawMessage, error) {
		return nil, store.Errorf(store.CodeUnavailable, "the JavaScript sandbox is not available yet")
	}), nil
}
