package blocks

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Block is one configured step of a flow. A Block is built once per flow
// version by its Factory and may run many times, concurrently: Run must be
// safe to call from several goroutines.
type Block interface {
	// Run executes the block with its evaluated fields and returns its
	// output (any JSON value; nil means null). An error with a store code
	// (store.Errorf) keeps that code in the run record.
	Run(ctx context.Context, call *Call) (json.RawMessage, error)
}

// BlockFunc adapts a function to Block.
type BlockFunc func(ctx context.Context, call *Call) (json.RawMessage, error)

// Run calls f.
func (f BlockFunc) Run(ctx context.Context, call *Call) (json.RawMessage, error) { return f(ctx, call) }

// Config is what a Factory gets: the block's id and its fields as written
// in the flow document (expressions not yet evaluated), with the flow's
// declared data stores.
type Config struct {
	ID     string
	Fields map[string]any
	// DataStores are the namespaces the flow may use (names only: the
	// access suffixes of read-only declarations are in Grants).
	DataStores []string
	// Grants are the flow's grants: each declared namespace at its
	// declared access (read for "orders:read", write otherwise).
	Grants store.Grants
}

// Factory builds a Block from its configuration. It is called when a flow
// is validated or loaded, after the generic Spec checks passed; an error
// (a *Problems or any error) refuses the flow.
type Factory func(cfg Config) (Block, error)

// Call is what one execution of a block gets.
type Call struct {
	// BlockID is the block's id in the flow.
	BlockID string
	// Fields are the block's fields after expression evaluation, defaults
	// applied, hidden fields (ShowWhen false) removed. Values are JSON
	// types: string, json.Number, bool, nil, []any, map[string]any.
	Fields Values
	// Input is the flow's input (JSON; null when none).
	Input json.RawMessage
	// Request is the webhook request of the run (a Request as JSON; null
	// for other triggers).
	Request json.RawMessage
	// Steps are the outputs of the blocks that ran before, by block id.
	Steps map[string]json.RawMessage
	// Flow identifies the flow and the run.
	Flow FlowInfo
	// Store is the data store seen by the flow: limited to its dataStores
	// and stamping every write with the flow's UUID.
	Store store.Store
	// Grants are the flow's grants (its dataStores, each at its declared
	// access: read-only for "orders:read").
	Grants store.Grants
	// Logf appends a line to the run's logs (level: debug, info, warn, error).
	Logf func(level, format string, args ...any)
	// Deadline is when the run's time runs out (zero: none); blocks with
	// their own time limit should not exceed it.
	Deadline time.Time
}

// FlowInfo identifies a flow and a run; expressions see it as `flow`.
type FlowInfo struct {
	ID    string `json:"id"`
	UUID  string `json:"uuid"`
	RunID string `json:"runId"`
	// StartedAt is when the run started (RFC 3339, UTC).
	StartedAt string `json:"startedAt"`
}

type registration struct {
	spec    Spec
	factory Factory
}

var (
	registryMu sync.RWMutex
	registry   = map[string]registration{}
)

var blockTypeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Register adds a block type. It is meant to be called from init(); it
// panics on a duplicate or malformed type, a field without a name or type,
// a duplicate field, or an enum without options. Safe for concurrent use.
func Register(spec Spec, factory Factory) {
	if !blockTypeRe.MatchString(spec.Type) {
		panic(fmt.Sprintf("blocks: Register: bad block type %q", spec.Type))
	}
	if factory == nil {
		panic("blocks: Register " + spec.Type + ": nil factory")
	}
	seen := map[string]bool{}
	for _, f := range CommonFields {
		seen[f.Name] = true
	}
	for _, f := range spec.Fields {
		if f.Name == "" || f.Type == "" {
			panic(fmt.Sprintf("blocks: Register %s: field %q needs a name and a type", spec.Type, f.Name))
		}
		if seen[f.Name] {
			panic(fmt.Sprintf("blocks: Register %s: field %q is declared twice (or is a common field)", spec.Type, f.Name))
		}
		seen[f.Name] = true
		if (f.Type == TypeEnum || f.Type == TypeConditions) && len(f.Options) == 0 {
			panic(fmt.Sprintf("blocks: Register %s: %s field %q has no options", spec.Type, f.Type, f.Name))
		}
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[spec.Type]; dup {
		panic("blocks: Register called twice for block type " + spec.Type)
	}
	registry[spec.Type] = registration{spec: spec, factory: factory}
}

// Lookup returns the spec and factory of a block type.
func Lookup(blockType string) (Spec, Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[blockType]
	return r.spec, r.factory, ok
}

// Specs returns every registered block spec, sorted by type.
func Specs() []Spec {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Spec, 0, len(registry))
	for _, r := range registry {
		out = append(out, r.spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
