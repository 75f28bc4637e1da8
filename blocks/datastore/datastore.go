// Package datastore is the no-code Data Store block (type `dataStore`): one
// data store operation configured by fields — fetch, findName, findNameKey,
// insert, upsert, updateOneNameKey, deleteOneNameKey or atomicIncrement.
// Import it for its side effect of registering the block:
//
//	import _ "github.com/flowkv/flowkv/blocks/datastore"
package datastore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

// Type is the block type.
const Type = "dataStore"

// The operations.
const (
	OpFetch            = "fetch"
	OpSearch           = "search"
	OpFindName         = "findName"
	OpFindNameKey      = "findNameKey"
	OpInsert           = "insert"
	OpUpsert           = "upsert"
	OpUpdateOneNameKey = "updateOneNameKey"
	OpDeleteOneNameKey = "deleteOneNameKey"
	OpAtomicIncrement  = "atomicIncrement"
)

var (
	nameOps    = []string{OpSearch, OpFindName, OpFindNameKey, OpInsert, OpUpsert, OpUpdateOneNameKey, OpDeleteOneNameKey, OpAtomicIncrement}
	keyOps     = []string{OpFindNameKey, OpInsert, OpUpsert, OpUpdateOneNameKey, OpDeleteOneNameKey, OpAtomicIncrement}
	writeOps   = []string{OpInsert, OpUpsert, OpUpdateOneNameKey, OpAtomicIncrement}
	dataOps    = []string{OpFetch, OpInsert, OpUpsert, OpUpdateOneNameKey, OpAtomicIncrement}
	pageOps    = []string{OpFetch, OpFindName}
	searchOps  = []string{OpSearch}
	onErrorOps = []string{OpFindNameKey, OpInsert, OpUpdateOneNameKey}
	ttlUnits   = []string{"seconds", "minutes", "hours", "days"}
)

// Spec is the Data Store block's spec.
var Spec = blocks.Spec{
	Type:        Type,
	Label:       "Data Store",
	Description: "Reads or writes the data store without code. Every write is stamped with the flow's UUID; the namespace must be one of the flow's dataStores.",
	Output: "fetch: {items: [entry…], nextCursor}; search: {items: [entry…], nextCursor, count (when asked), index}; findName: [entry…]; findNameKey, insert, upsert, updateOneNameKey: the entry " +
		"{name, key, data, version, flowUuid, expiresAt, createdAt, updatedAt}; deleteOneNameKey: {deleted}; atomicIncrement: {name, key, value, version}. " +
		"With onError: continue, a not_found or already_exists failure gives null.",
	Fields: []blocks.Field{
		{Name: "operation", Label: "Operation", Type: blocks.TypeEnum, Required: true, Default: OpUpsert,
			Help: "What to do with the data store.",
			Options: []blocks.Option{
				{Value: OpFetch, Label: "Fetch", Help: "List entries matching filters (name, key, keyPrefix, flowUuid, data) across namespaces."},
				{Value: OpSearch, Label: "Search", Help: "Search one namespace by fields of data: conditions, order, count."},
				{Value: OpFindName, Label: "Find by name", Help: "List the entries of one namespace in key order."},
				{Value: OpFindNameKey, Label: "Find by name and key", Help: "Read one entry; not_found if absent."},
				{Value: OpInsert, Label: "Insert", Help: "Create an entry; already_exists if present."},
				{Value: OpUpsert, Label: "Upsert", Help: "Create or overwrite an entry."},
				{Value: OpUpdateOneNameKey, Label: "Update", Help: "Overwrite an existing entry; not_found if absent."},
				{Value: OpDeleteOneNameKey, Label: "Delete", Help: "Delete an entry; the output says whether one was deleted."},
				{Value: OpAtomicIncrement, Label: "Atomic increment", Help: "Add data (a number, default 1) to the entry's number; a missing entry counts as 0."},
			}},
		{Name: "name", Label: "Namespace", Type: blocks.TypeNamespace,
			Help:         "The namespace (one of the flow's dataStores). Optional for fetch, where it filters.",
			Placeholder:  "orders",
			RequiredWhen: []blocks.Condition{{Field: "operation", In: nameOps}}},
		{Name: "key", Label: "Key", Type: blocks.TypeString,
			Help:         "The entry's key; for fetch, an exact-key filter. A JSON array of parts ([\"users\", \"{{ input.id }}\"]) is a Deno KV key.",
			Placeholder:  "{{ input.id }}",
			ShowWhen:     []blocks.Condition{{Field: "operation", In: append([]string{OpFetch}, keyOps...)}},
			RequiredWhen: []blocks.Condition{{Field: "operation", In: keyOps}}},
		{Name: "keyPrefix", Label: "Key prefix", Type: blocks.TypeString,
			Help:     "Only keys starting with this.",
			ShowWhen: []blocks.Condition{{Field: "operation", In: []string{OpFetch}}}},
		{Name: "data", Label: "Data", Type: blocks.TypeJSON,
			Help: "The value to write (any JSON; \"{{ input }}\" stores the whole input). For atomicIncrement the number to add (default 1). " +
				"For fetch, an exact-match filter on the whole value.",
			Placeholder:  `{"status": "new"}`,
			ShowWhen:     []blocks.Condition{{Field: "operation", In: dataOps}},
			RequiredWhen: []blocks.Condition{{Field: "operation", In: []string{OpInsert, OpUpsert, OpUpdateOneNameKey}}}},
		{Name: "flowUuid", Label: "Flow UUID", Type: blocks.TypeString,
			Help:     "Only entries last written by this flow (\"{{ flow.uuid }}\" for this flow's own).",
			ShowWhen: []blocks.Condition{{Field: "operation", In: []string{OpFetch}}}},
		{Name: "where", Label: "Conditions", Type: blocks.TypeConditions,
			Help: "Rows of field / operator / value. Field is a path into data (status, customer.email, items.0.sku) or $key, $updatedAt…; " +
				"value is JSON (10, \"paid\", true, [1, 2]) or text, and may use {{ … }}. Types never mix: 10 does not match \"10\".",
			Options:  conditionOps,
			ShowWhen: []blocks.Condition{{Field: "operation", In: searchOps}}},
		{Name: "match", Label: "Match", Type: blocks.TypeEnum, Default: "all",
			Help: "Whether an entry must meet every condition or at least one.",
			Options: []blocks.Option{
				{Value: "all", Label: "All conditions"},
				{Value: "any", Label: "Any condition"},
			},
			ShowWhen: []blocks.Condition{{Field: "operation", In: searchOps}}},
		{Name: "orderBy", Label: "Order by", Type: blocks.TypeString,
			Help:        "Fields to sort by, separated by commas; a leading - sorts largest first. Empty: key order.",
			Placeholder: "-total, customer",
			ShowWhen:    []blocks.Condition{{Field: "operation", In: searchOps}}},
		{Name: "count", Label: "Count matches", Type: blocks.TypeBoolean, Default: false,
			Help:     "Add the number of matching entries to the output (count).",
			ShowWhen: []blocks.Condition{{Field: "operation", In: searchOps}}},
		{Name: "cursor", Label: "Cursor", Type: blocks.TypeString,
			Help:        "nextCursor of a previous search's output, to read the next page.",
			Placeholder: "{{ steps.search.nextCursor }}",
			ShowWhen:    []blocks.Condition{{Field: "operation", In: searchOps}}},
		{Name: "limit", Label: "Limit", Type: blocks.TypeInteger, Default: 100,
			Help:     "Largest number of entries returned (at most the store's page limit, 1000 by default).",
			ShowWhen: []blocks.Condition{{Field: "operation", In: append(slices.Clone(pageOps), OpSearch)}}},
		{Name: "offset", Label: "Offset", Type: blocks.TypeInteger, Default: 0,
			Help:     "Entries to skip first.",
			ShowWhen: []blocks.Condition{{Field: "operation", In: pageOps}}},
		{Name: "timeoutUnit", Label: "Expire after (unit)", Type: blocks.TypeEnum, Default: "never",
			Help: "How long the written entry lives; never keeps it until deleted. Every write sets the expiry anew.",
			Options: []blocks.Option{
				{Value: "never", Label: "Never"},
				{Value: "seconds", Label: "Seconds"},
				{Value: "minutes", Label: "Minutes"},
				{Value: "hours", Label: "Hours"},
				{Value: "days", Label: "Days"},
			},
			ShowWhen: []blocks.Condition{{Field: "operation", In: writeOps}}},
		{Name: "timeoutValue", Label: "Expire after (value)", Type: blocks.TypeNumber,
			Help:         "How many timeoutUnits the entry lives (> 0; fractions allowed).",
			Placeholder:  "7",
			ShowWhen:     []blocks.Condition{{Field: "operation", In: writeOps}, {Field: "timeoutUnit", In: ttlUnits}},
			RequiredWhen: []blocks.Condition{{Field: "timeoutUnit", In: ttlUnits}}},
		{Name: "onError", Label: "When not found / already exists", Type: blocks.TypeEnum, Default: "fail",
			Help: "fail stops the flow; continue gives null as the output and runs the next blocks. Other errors always fail.",
			Options: []blocks.Option{
				{Value: "fail", Label: "Fail the flow"},
				{Value: "continue", Label: "Continue with null"},
			},
			ShowWhen: []blocks.Condition{{Field: "operation", In: onErrorOps}}},
	},
}

// conditionOps are the operators of the Search conditions (store.Operators).
var conditionOps = []blocks.Option{
	{Value: string(store.OpEq), Label: "=", Help: "equals (same type: 10 is not \"10\")"},
	{Value: string(store.OpNe), Label: "≠", Help: "differs, among values of the same type (a missing field does not match)"},
	{Value: string(store.OpLt), Label: "<", Help: "less than (numbers, or strings by code point)"},
	{Value: string(store.OpLte), Label: "≤", Help: "at most"},
	{Value: string(store.OpGt), Label: ">", Help: "greater than"},
	{Value: string(store.OpGte), Label: "≥", Help: "at least"},
	{Value: string(store.OpIn), Label: "in", Help: "one of the values of an array: [\"paid\", \"open\"]"},
	{Value: string(store.OpContains), Label: "contains", Help: "a substring of a string, or an element of an array"},
	{Value: string(store.OpStartsWith), Label: "starts with", Help: "a string starting with the value"},
	{Value: string(store.OpExists), Label: "exists", Help: "true: the field is there; false: it is missing"},
}

func init() { blocks.Register(Spec, New) }

// New is the block's factory. The generic spec checks (required fields,
// enum values, namespaces within dataStores) already ran; it adds one: a
// write operation on a literal namespace the flow declares read-only
// (orders:read) is refused when the flow is saved. Namespaces computed at
// run time are checked by the grants.
func New(cfg blocks.Config) (blocks.Block, error) {
	op, _ := cfg.Fields["operation"].(string)
	name, _ := cfg.Fields["name"].(string)
	if (slices.Contains(writeOps, op) || op == OpDeleteOneNameKey) && name != "" && !strings.Contains(name, "{{") &&
		cfg.Grants != nil && cfg.Grants.Level(name) == store.Read {
		return nil, &blocks.ValidationError{Problems: []blocks.Problem{{Field: "name",
			Message: fmt.Sprintf("%s writes namespace %q, which the flow declares read-only (%s:read)", op, name, name)}}}
	}
	return block{}, nil
}

type block struct{}

func (block) Run(ctx context.Context, c *blocks.Call) (json.RawMessage, error) {
	op, err := c.Fields.String("operation")
	if err != nil {
		return nil, err
	}
	out, err := run(ctx, c, op)
	if err != nil {
		code := store.CodeOf(err)
		if code == store.CodeNotFound || code == store.CodeAlreadyExists {
			if onErr, _ := c.Fields.String("onError"); onErr == "continue" {
				c.Logf("warn", "%s: %s (onError: continue)", op, store.Message(err))
				return json.RawMessage("null"), nil
			}
		}
		return nil, err
	}
	return json.Marshal(out)
}

// keyField reads a key (or key prefix) field. A key given as an array, or
// as text holding a JSON array of Deno KV parts (["users", "{{ input.id }}"]),
// is a Deno KV key: the entry a Deno client sees under that key
// (store.ResolveKey; docs/deno-kv.md).
func keyField(f blocks.Values, field string) (string, error) {
	var text string
	if parts, ok := f[field].([]any); ok {
		b, err := json.Marshal(parts)
		if err != nil {
			return "", store.Errorf(store.CodeInvalidArgument, "field %s: %v", field, err)
		}
		text = string(b)
	} else {
		s, err := f.String(field)
		if err != nil {
			return "", err
		}
		if !store.LooksLikeJSONKey(s) {
			return s, nil
		}
		text = s
	}
	parts, err := store.ParseJSONKey(text)
	if err != nil {
		if _, isArray := f[field].([]any); isArray {
			return "", store.Errorf(store.CodeInvalidArgument, "field %s: %s", field, store.Text(err))
		}
		return text, nil // a flat key that merely looks like an array
	}
	b, err := store.PackTuple(parts)
	if err != nil {
		return "", store.Errorf(store.CodeInvalidArgument, "field %s: %s", field, store.Text(err))
	}
	return store.TupleKey(b), nil
}

func run(ctx context.Context, c *blocks.Call, op string) (any, error) {
	f := c.Fields
	name, err := f.String("name")
	if err != nil {
		return nil, err
	}
	key, err := keyField(f, "key")
	if err != nil {
		return nil, err
	}
	switch op {
	case OpFetch:
		q := store.FetchQuery{Name: name, Key: key}
		if q.KeyPrefix, err = keyField(f, "keyPrefix"); err != nil {
			return nil, err
		}
		if q.FlowUUID, err = f.String("flowUuid"); err != nil {
			return nil, err
		}
		if f.Has("data") {
			if q.Data, err = f.JSON("data"); err != nil {
				return nil, err
			}
		}
		if q.Limit, q.Offset, err = page(f); err != nil {
			return nil, err
		}
		p, err := c.Store.Fetch(ctx, q)
		if err != nil {
			return nil, err
		}
		if p.Entries == nil {
			p.Entries = []store.Entry{}
		}
		return p, nil
	case OpSearch:
		q, err := searchQuery(f, name)
		if err != nil {
			return nil, err
		}
		p, err := c.Store.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		if p.Entries == nil {
			p.Entries = []store.Entry{}
		}
		return p, nil
	case OpFindName:
		limit, offset, err := page(f)
		if err != nil {
			return nil, err
		}
		es, err := c.Store.FindName(ctx, name, limit, offset)
		if es == nil {
			es = []store.Entry{}
		}
		return es, err
	case OpFindNameKey:
		return c.Store.FindNameKey(ctx, name, key)
	case OpDeleteOneNameKey:
		deleted, err := c.Store.Delete(ctx, name, key, store.DeleteOptions{})
		if err != nil {
			return nil, err
		}
		return map[string]bool{"deleted": deleted}, nil
	}

	ttl, err := timeout(f)
	if err != nil {
		return nil, err
	}
	switch op {
	case OpInsert, OpUpsert, OpUpdateOneNameKey:
		data, err := f.JSON("data")
		if err != nil {
			return nil, err
		}
		if data == nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "field data is required for %s", op)
		}
		opts := store.WriteOptions{TTL: ttl}
		switch op {
		case OpInsert:
			return c.Store.Insert(ctx, name, key, data, opts)
		case OpUpsert:
			return c.Store.Upsert(ctx, name, key, data, opts)
		default:
			return c.Store.Update(ctx, name, key, data, opts)
		}
	case OpAtomicIncrement:
		delta := json.RawMessage("1")
		if f.Has("data") {
			if delta, err = f.JSON("data"); err != nil {
				return nil, err
			}
		}
		return increment(ctx, c.Store, name, key, delta, ttl)
	}
	return nil, store.Errorf(store.CodeInvalidArgument, "unknown operation %q", op)
}

// searchQuery builds the search's store.Query from the block's fields.
func searchQuery(f blocks.Values, name string) (store.Query, error) {
	q := store.Query{Name: name}
	var err error
	if q.Limit, err = f.Int("limit"); err != nil {
		return q, err
	}
	if q.Limit < 0 {
		return q, store.Errorf(store.CodeInvalidArgument, "field limit must not be negative")
	}
	match, err := f.String("match")
	if err != nil {
		return q, err
	}
	q.Match = store.Match(match)
	if q.Cursor, err = f.String("cursor"); err != nil {
		return q, err
	}
	if q.Count, err = f.Bool("count"); err != nil {
		return q, err
	}
	order, err := f.String("orderBy")
	if err != nil {
		return q, err
	}
	for _, part := range strings.Split(order, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		o := store.Order{Field: part}
		if d, ok := strings.CutPrefix(part, "-"); ok {
			o = store.Order{Field: strings.TrimSpace(d), Desc: true}
		}
		q.OrderBy = append(q.OrderBy, o)
	}
	if f.Has("where") {
		raw, err := f.JSON("where")
		if err != nil {
			return q, err
		}
		var rows []struct {
			Field string          `json:"field"`
			Op    string          `json:"op"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &rows); err != nil {
			return q, store.Errorf(store.CodeInvalidArgument, "field where: want a list of conditions {field, op, value}")
		}
		for _, r := range rows {
			q.Where = append(q.Where, store.Condition{Field: r.Field, Op: store.Operator(r.Op), Value: r.Value})
		}
	}
	return q, nil
}

func page(f blocks.Values) (limit, offset int, err error) {
	if limit, err = f.Int("limit"); err != nil {
		return 0, 0, err
	}
	if offset, err = f.Int("offset"); err != nil {
		return 0, 0, err
	}
	if limit < 0 {
		return 0, 0, store.Errorf(store.CodeInvalidArgument, "field limit must not be negative")
	}
	return limit, offset, store.ValidateOffset(offset)
}

func timeout(f blocks.Values) (time.Duration, error) {
	unit, err := f.String("timeoutUnit")
	if err != nil {
		return 0, err
	}
	if unit == "" || unit == "never" {
		return 0, nil
	}
	v, err := f.Float("timeoutValue")
	if err != nil {
		return 0, err
	}
	return store.TimeoutTTL(unit, v)
}

// Increment is atomicIncrement's output.
type Increment struct {
	Name    string          `json:"name"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Version int64           `json:"version"`
}

// maxIncrementAttempts bounds the compare-and-set retries of one increment.
const maxIncrementAttempts = 200

// increment adds delta to (name, key) with store.Atomic and OpSum, guarded
// by a check on the version it read, so the value it reports is exactly the
// one its own addition produced even under concurrent increments. On a
// conflict it reads again and retries.
func increment(ctx context.Context, st store.Store, name, key string, delta json.RawMessage, ttl time.Duration) (Increment, error) {
	if _, err := store.SumData(nil, delta); err != nil {
		return Increment{}, store.Errorf(store.CodeInvalidArgument, "atomicIncrement needs a number as data, got %.40s", string(delta))
	}
	for attempt := 0; ; attempt++ {
		var current json.RawMessage
		var version int64
		e, err := st.FindNameKey(ctx, name, key)
		switch {
		case err == nil:
			current, version = e.Data, e.Version
		case errors.Is(err, store.ErrNotFound):
		default:
			return Increment{}, err
		}
		next, err := store.SumData(current, delta)
		if err != nil {
			return Increment{}, err
		}
		res, err := st.Atomic(ctx,
			[]store.Check{{Name: name, Key: key, Version: version}},
			[]store.Mutation{{Op: store.OpSum, Name: name, Key: key, Data: delta, TTL: ttl}})
		if err == nil {
			var v int64
			if len(res.Versions) > 0 {
				v = res.Versions[0]
			}
			return Increment{Name: name, Key: key, Value: next, Version: v}, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= maxIncrementAttempts {
			return Increment{}, err
		}
		// Back off a little, with jitter, so contending runs spread out.
		backoff := time.Duration(1+rand.IntN(1+min(attempt, 20))) * time.Millisecond
		select {
		case <-ctx.Done():
			return Increment{}, ctx.Err()
		case <-time.After(backoff):
		}
	}
}
