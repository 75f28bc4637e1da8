package blocks

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowkv/flowkv/store"
)

// compiledFlow is a validated flow ready to run.
type compiledFlow struct {
	flow     *Flow
	timeout  time.Duration
	schedule Schedule
	grants   store.Grants
	blocks   []*compiledBlock
	// respondStatus and respondBody are the compiled respond option (nil
	// when the flow has none, or sets only the other).
	respondStatus, respondBody node
}

type compiledBlock struct {
	id   string
	typ  string
	spec Spec
	cond node
	// fields hold every field the block sets, compiled; code fields are
	// literals.
	fields map[string]node
	impl   Block
}

// compile validates f and prepares it to run.
func compile(f *Flow) (*compiledFlow, error) {
	var ps []Problem
	add := func(block, field, format string, args ...any) {
		ps = append(ps, Problem{Block: block, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	cf := &compiledFlow{flow: f}
	if f.ID == "" {
		add("", "id", "required")
	} else if !ValidFlowID(f.ID) {
		add("", "id", "want 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	limits := store.DefaultLimits()
	declared := map[string]bool{}
	for _, it := range f.DataStores {
		n, _ := ParseDataStore(it)
		switch {
		case n == store.Wildcard:
		case store.IsReserved(n):
			add("", "dataStores", "%q is reserved for flowkv's own records", n)
		default:
			if err := limits.ValidateName(n); err != nil {
				add("", "dataStores", "%q: %s", n, store.Message(err))
			}
		}
		declared[n] = true
	}
	cf.grants = f.Grants()
	var err error
	if cf.timeout, err = f.timeout(); err != nil {
		add("", "timeout", "%v", err)
	}
	switch f.Trigger.Type {
	case "", TriggerManual, TriggerWebhook:
		if f.Trigger.Every != "" || f.Trigger.Cron != "" {
			add("", "trigger", "every and cron are for type: schedule")
		}
	case TriggerSchedule:
		switch {
		case f.Trigger.Every != "" && f.Trigger.Cron != "":
			add("", "trigger", "set every or cron, not both")
		case f.Trigger.Every != "":
			if cf.schedule, err = ParseEvery(f.Trigger.Every); err != nil {
				add("", "trigger.every", "%v", err)
			}
		case f.Trigger.Cron != "":
			if cf.schedule, err = ParseCron(f.Trigger.Cron); err != nil {
				add("", "trigger.cron", "%v", err)
			}
		default:
			add("", "trigger", "a schedule needs every (such as 5m) or cron (such as */5 * * * *)")
		}
	default:
		add("", "trigger.type", "unknown trigger %q (want manual, webhook or schedule)", f.Trigger.Type)
	}
	if len(f.Trigger.Input) > 0 {
		if _, err := decodeJSON(f.Trigger.Input); err != nil {
			add("", "trigger.input", "not valid JSON: %v", err)
		}
	}
	if len(f.Blocks) == 0 {
		add("", "blocks", "a flow needs at least one block")
	}
	if len(f.Blocks) > MaxBlocks {
		add("", "blocks", "%d blocks, the limit is %d", len(f.Blocks), MaxBlocks)
	}
	seen := map[string]bool{}
	for i, b := range f.Blocks {
		label := b.ID
		if label == "" {
			label = fmt.Sprintf("#%d", i+1)
		}
		badID := false
		switch {
		case b.ID == "":
			add(label, "id", "required")
			badID = true
		case !blockIDRe.MatchString(b.ID):
			add(label, "id", "want 1–64 letters, digits, '_' or '-', starting with a letter or '_'")
			badID = true
		case seen[b.ID]:
			add(label, "id", "used by an earlier block")
		}
		// Expressions may only refer to earlier blocks.
		earlier := make(map[string]bool, len(seen))
		for id := range seen {
			earlier[id] = true
		}
		if !badID {
			seen[b.ID] = true
		}
		if b.Type == "" {
			msg := "required"
			for k := range b.Fields {
				if suggest(k, []string{"type"}) != "" {
					msg += fmt.Sprintf(" (is %q a typo of type?)", k)
				}
			}
			add(label, "type", "%s", msg)
			continue
		}
		spec, factory, ok := Lookup(b.Type)
		if !ok {
			add(label, "type", "unknown block type %q (known: %s)", b.Type, strings.Join(blockTypes(), ", "))
			continue
		}
		cb := &compiledBlock{id: b.ID, typ: b.Type, spec: spec, fields: map[string]node{}}
		if b.If != nil {
			n, err := compileValue(b.If, false)
			if err != nil {
				add(label, "if", "%v", err)
			} else {
				cb.cond = n
				for _, ref := range stepRefs(n) {
					if !earlier[ref] {
						add(label, "if", "refers to steps.%s, which is not an earlier block", ref)
					}
				}
			}
		}
		names := make([]string, 0, len(b.Fields))
		for k := range b.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fd, ok := spec.Field(k)
			if !ok {
				known := append([]string{"id", "type", "if"}, fieldNames(spec)...)
				hint := ""
				if s := suggest(k, known); s != "" {
					hint = fmt.Sprintf(" — did you mean %q?", s)
				}
				add(label, k, "unknown field for a %s block%s (fields: %s)", b.Type, hint, strings.Join(fieldNames(spec), ", "))
				continue
			}
			n, err := compileValue(b.Fields[k], fd.Type == TypeCode)
			if err != nil {
				add(label, k, "%v", err)
				continue
			}
			cb.fields[k] = n
			for _, ref := range stepRefs(n) {
				if !earlier[ref] {
					add(label, k, "refers to steps.%s, which is not an earlier block", ref)
				}
			}
		}
		for _, p := range checkFields(spec, b.Fields, declared, false) {
			p.Block = label
			ps = append(ps, p)
		}
		impl, err := factory(Config{ID: b.ID, Fields: b.Fields, DataStores: f.Namespaces(), Grants: cf.grants})
		if err != nil {
			if ve, ok := err.(*ValidationError); ok {
				for _, p := range ve.Problems {
					p.Block = label
					ps = append(ps, p)
				}
			} else {
				add(label, "", "%s", strings.TrimPrefix(err.Error(), "invalid_argument: "))
			}
		}
		cb.impl = impl
		cf.blocks = append(cf.blocks, cb)
	}
	ps = append(ps, cf.compileRespond(f.Respond, seen)...)
	if len(ps) > 0 {
		return nil, &ValidationError{Flow: f.ID, Problems: ps}
	}
	return cf, nil
}

// compileRespond compiles the respond option; its expressions may read
// every block's output.
func (cf *compiledFlow) compileRespond(r *Respond, blockIDs map[string]bool) []Problem {
	if r == nil {
		return nil
	}
	var ps []Problem
	one := func(field string, v any) node {
		if v == nil {
			return nil
		}
		n, err := compileValue(v, false)
		if err != nil {
			ps = append(ps, Problem{Field: field, Message: err.Error()})
			return nil
		}
		for _, ref := range stepRefs(n) {
			if !blockIDs[ref] {
				ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("refers to steps.%s, which is not a block of the flow", ref)})
			}
		}
		return n
	}
	cf.respondStatus = one("respond.status", r.Status)
	cf.respondBody = one("respond.body", r.Body)
	if l, ok := cf.respondStatus.(*litNode); ok {
		if _, err := httpStatus(l.v); err != nil {
			ps = append(ps, Problem{Field: "respond.status", Message: err.Error()})
		}
	}
	return ps
}

// compileValue compiles a field value: strings with templates become
// templates, objects and arrays are compiled member by member, the rest are
// literals. raw values (code) are never expanded.
func compileValue(v any, raw bool) (node, error) {
	if raw {
		return &litNode{v: v}, nil
	}
	switch x := v.(type) {
	case string:
		if !hasTemplate(x) {
			return &litNode{v: x}, nil
		}
		return compileTemplate(x)
	case []any:
		items := make([]node, len(x))
		dynamic := false
		for i, e := range x {
			n, err := compileValue(e, false)
			if err != nil {
				return nil, err
			}
			items[i] = n
			if _, lit := n.(*litNode); !lit {
				dynamic = true
			}
		}
		if !dynamic {
			return &litNode{v: x}, nil
		}
		return &listNode{items: items}, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]node, len(keys))
		dynamic := false
		for i, k := range keys {
			n, err := compileValue(x[k], false)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			vals[i] = n
			if _, lit := n.(*litNode); !lit {
				dynamic = true
			}
		}
		if !dynamic {
			return &litNode{v: x}, nil
		}
		return &mapNode{keys: keys, vals: vals}, nil
	}
	return &litNode{v: v}, nil
}

type listNode struct{ items []node }

func (n *listNode) eval(sc scope) (any, error) {
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(sc)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type mapNode struct {
	keys []string
	vals []node
}

func (n *mapNode) eval(sc scope) (any, error) {
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		v, err := n.vals[i].eval(sc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// stepRefs lists the block ids n reads as steps.ID or steps['ID'].
func stepRefs(n node) []string {
	var out []string
	var walk func(n node)
	walk = func(n node) {
		switch x := n.(type) {
		case *memberNode:
			if r, ok := x.x.(*rootNode); ok && r.name == "steps" {
				if l, ok := x.key.(*litNode); ok {
					if s, ok := l.v.(string); ok {
						out = append(out, s)
					}
				}
			}
			walk(x.x)
			walk(x.key)
		case *unNode:
			walk(x.x)
		case *binNode:
			walk(x.l)
			walk(x.r)
		case *condNode:
			walk(x.cond)
			walk(x.a)
			walk(x.b)
		case *template:
			for _, p := range x.parts {
				if p.expr != nil {
					walk(p.expr)
				}
			}
		case *listNode:
			for _, it := range x.items {
				walk(it)
			}
		case *mapNode:
			for _, v := range x.vals {
				walk(v)
			}
		}
	}
	walk(n)
	return out
}
