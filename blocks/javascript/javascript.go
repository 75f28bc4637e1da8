// Package javascript is the JavaScript block (type `javascript`): it runs
// `code` in flowkv's goja sandbox (package scripting) with `input` (the
// flow's input), `steps` (earlier blocks' outputs by id) and `flow` (id,
// uuid, runId, startedAt) in scope, and the async `dataStore` and `kv` APIs
// limited to the flow's dataStores, every write stamped with the flow's
// UUID. The script's return value is the block's output; its console lines
// go to the run's logs. Import it for its side effect of registering the
// block:
//
//	import _ "github.com/flowkv/flowkv/blocks/javascript"
package javascript

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/scripting"
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
	Description: "Runs JavaScript in a sandbox. The code sees input (the flow's input), steps (earlier blocks' outputs by id), flow and request (a webhook run's method, path, query and headers; null otherwise), " +
		"and the async dataStore and kv APIs on the flow's dataStores; use await. Writes are stamped with the flow's UUID.",
	Output: "The script's return value (awaited when it is a promise); undefined is null.",
	Fields: []blocks.Field{
		{Name: "code", Label: "Code", Type: blocks.TypeCode, Required: true,
			Help:        "The body of an async function: return the block's output. Never template-expanded; read input and steps directly.",
			Placeholder: "const e = await dataStore.findNameKey('orders', input.id);\nreturn e.data;"},
		{Name: "timeout", Label: "Time limit (seconds)", Type: blocks.TypeNumber, Default: DefaultTimeout,
			Help: "The script is stopped (timeout) after this many seconds, or when the flow's own time runs out."},
	},
}

func init() { blocks.Register(Spec, New) }

var (
	mu      sync.Mutex
	sandbox *scripting.Engine
)

// SetEngine makes JavaScript blocks run on e (for instance the engine that
// also serves stored scripts, with the same limits). Without it, blocks use
// an engine with scripting's default options, made on first use.
func SetEngine(e *scripting.Engine) {
	mu.Lock()
	sandbox = e
	mu.Unlock()
}

func engine() *scripting.Engine {
	mu.Lock()
	defer mu.Unlock()
	if sandbox == nil {
		sandbox = scripting.New(scripting.Options{})
	}
	return sandbox
}

// compiled remembers sources a worker has compiled without error, so a
// stored flow loaded again (another server, a cache refresh, many first
// runs at once) does not send each of its blocks to a worker again. A
// failure is not remembered: it is checked again, in case it was a worker
// that could not start or a check cut short by load.
var compiled = struct {
	sync.Mutex
	ok map[[sha256.Size]byte]bool
}{ok: map[[sha256.Size]byte]bool{}}

// maxCompiled bounds compiled; past it the set starts again empty.
const maxCompiled = 4096

// checkOnce checks code compiles in a sandbox worker, once per source.
func checkOnce(id, code string) error {
	h := sha256.Sum256([]byte(code))
	compiled.Lock()
	ok := compiled.ok[h]
	compiled.Unlock()
	if ok {
		return nil
	}
	if err := engine().Check(context.Background(), "block "+id, code); err != nil {
		return err
	}
	compiled.Lock()
	if len(compiled.ok) >= maxCompiled {
		clear(compiled.ok)
	}
	compiled.ok[h] = true
	compiled.Unlock()
	return nil
}

// literalNamespace finds dataStore calls whose namespace is a literal.
var literalNamespace = regexp.MustCompile(`dataStore\s*\.\s*(findName|findNameKey|insert|upsert|updateOneNameKey|deleteOneNameKey|open|query)\s*\(\s*(?:'([^'\\]*)'|"([^"\\]*)")`)

// writeMethods are the dataStore methods that write.
var writeMethods = map[string]bool{"insert": true, "upsert": true, "updateOneNameKey": true, "deleteOneNameKey": true}

// New is the block's factory: it checks the code compiles, so a syntax
// error refuses the flow when it is saved, and that dataStore calls with a
// literal namespace (dataStore.upsert('orders', …)) name one of the flow's
// dataStores, and do not write one it declares read-only. Namespaces
// computed at run time are checked by the grants.
func New(cfg blocks.Config) (blocks.Block, error) {
	code, _ := cfg.Fields["code"].(string)
	if code == "" {
		return block{}, nil
	}
	// Compiled in a sandbox worker, under a run's limits: a source that
	// would take the parser too long or too deep fails there, not here.
	if err := checkOnce(cfg.ID, code); err != nil {
		return nil, &blocks.ValidationError{Problems: []blocks.Problem{{Field: "code", Message: store.Message(err)}}}
	}
	declared := map[string]bool{}
	for _, n := range cfg.DataStores {
		declared[n] = true
	}
	var ps []blocks.Problem
	seen := map[string]bool{}
	for _, m := range literalNamespace.FindAllStringSubmatch(code, -1) {
		ns := m[2] + m[3]
		if seen[ns] {
			continue
		}
		if declared[ns] || declared[store.Wildcard] {
			if writeMethods[m[1]] && cfg.Grants != nil && cfg.Grants.Level(ns) == store.Read {
				seen[ns] = true
				ps = append(ps, blocks.Problem{Field: "code", Message: fmt.Sprintf("dataStore.%s writes namespace %q, which the flow declares read-only (%s:read)", m[1], ns, ns)})
			}
			continue
		}
		seen[ns] = true
		ps = append(ps, blocks.Problem{Field: "code", Message: fmt.Sprintf("dataStore.%s uses namespace %q, which is not in the flow's dataStores", m[1], ns)})
	}
	if len(ps) > 0 {
		return nil, &blocks.ValidationError{Problems: ps}
	}
	return block{}, nil
}

type block struct{}

// request is the run's webhook request for the script (null for none).
func request(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

func (block) Run(ctx context.Context, c *blocks.Call) (json.RawMessage, error) {
	code, err := c.Fields.String("code")
	if err != nil {
		return nil, err
	}
	secs, err := c.Fields.Float("timeout")
	if err != nil {
		return nil, err
	}
	if secs <= 0 {
		secs = DefaultTimeout
	}
	timeout := time.Duration(secs * float64(time.Second))
	if !c.Deadline.IsZero() {
		if left := time.Until(c.Deadline); left < timeout {
			timeout = max(left, time.Millisecond)
		}
	}
	steps, err := json.Marshal(c.Steps)
	if err != nil {
		return nil, err
	}
	flow, err := json.Marshal(c.Flow)
	if err != nil {
		return nil, err
	}
	res, err := engine().Run(ctx, scripting.Run{
		Source:   code,
		Name:     "block " + c.BlockID,
		Input:    c.Input,
		Globals:  map[string]json.RawMessage{"steps": steps, "flow": flow, "request": request(c.Request)},
		Store:    c.Store,
		Grants:   c.Grants,
		FlowUUID: c.Flow.UUID,
		Timeout:  timeout,
	})
	for _, l := range res.Logs {
		c.Logf(l.Level, "%s", l.Message)
	}
	if res.LogsTruncated {
		c.Logf("warn", "console output beyond the sandbox's limit was dropped")
	}
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}
