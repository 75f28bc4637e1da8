package blocks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowkv/flowkv/store"
)

// Trigger types.
const (
	TriggerManual   = "manual"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
)

// Flow limits.
const (
	// MaxBlocks bounds the blocks of one flow.
	MaxBlocks = 100
	// MaxFlowBytes bounds a flow document.
	MaxFlowBytes = 256 << 10
	// DefaultFlowTimeout is a run's time limit when the flow sets none.
	DefaultFlowTimeout = time.Minute
	// MaxFlowTimeout bounds a flow's timeout.
	MaxFlowTimeout = time.Hour
)

// Flow is a flow document: blocks run in order with the flow's grants.
type Flow struct {
	// ID names the flow: 1–100 letters, digits, '.', '_' or '-'.
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// DataStores are the namespaces the flow may use ("*" for all
	// non-reserved ones): "orders" or "orders:write" for read and write,
	// "orders:read" for read only. See ParseDataStore.
	DataStores []string `json:"dataStores"`
	Trigger    Trigger  `json:"trigger"`
	// Timeout bounds one run (a Go duration such as "30s"; default 1m).
	Timeout string        `json:"timeout,omitempty"`
	Blocks  []BlockConfig `json:"blocks"`
}

// ParseDataStore splits a dataStores item into its namespace and the
// access the flow declares: "orders:read" is read-only, "orders:write" and
// a bare "orders" are read and write. Only the suffixes ":read" and
// ":write" are access levels, so a namespace holding ':' is written as is
// ("a:b") or with a suffix ("a:b:read").
func ParseDataStore(item string) (string, store.Access) {
	if name, ok := strings.CutSuffix(item, ":read"); ok && name != "" {
		return name, store.Read
	}
	if name, ok := strings.CutSuffix(item, ":write"); ok && name != "" {
		return name, store.Write
	}
	return item, store.Write
}

// Grants are the grants the flow's runs get: each declared namespace at
// its declared access (the higher one when a namespace is listed twice).
func (f *Flow) Grants() store.Grants {
	g := store.Grants{}
	for _, it := range f.DataStores {
		n, a := ParseDataStore(it)
		if a > g[n] {
			g[n] = a
		}
	}
	return g
}

// Namespaces are the names of the flow's declared namespaces, in order,
// without their access suffixes or duplicates.
func (f *Flow) Namespaces() []string {
	out := make([]string, 0, len(f.DataStores))
	seen := map[string]bool{}
	for _, it := range f.DataStores {
		n, _ := ParseDataStore(it)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Trigger says what starts a flow besides a manual run (a manual run is
// always possible).
type Trigger struct {
	// Type is manual (default), webhook or schedule.
	Type string `json:"type"`
	// Every runs a schedule flow at each multiple of this duration since the
	// Unix epoch ("5m", "1h"; at least 1s).
	Every string `json:"every,omitempty"`
	// Cron runs a schedule flow by a 5-field cron expression in UTC
	// ("*/5 * * * *", "0 3 * * mon-fri", "@hourly").
	Cron string `json:"cron,omitempty"`
	// Input is the input of scheduled runs.
	Input json.RawMessage `json:"input,omitempty"`
	// Secret, when set on a webhook flow, must be sent as the
	// X-Flowkv-Secret header (or ?secret=) to run it. It is write-only: a
	// document gives it, the engine stores only its SHA-256, and no JSON
	// rendering of a Trigger holds it (secretSet says whether one is set).
	// A document without the field keeps the stored secret; secret: ""
	// removes it.
	Secret string `json:"-"`

	// secretGiven is set when the document had the secret field.
	secretGiven bool
	// secretHash is the hex SHA-256 of the stored secret.
	secretHash string
}

// HasSecret reports whether the trigger has a webhook secret: the one
// given (SetSecret, a parsed document), else the stored one.
func (t Trigger) HasSecret() bool {
	if t.secretGiven {
		return t.Secret != ""
	}
	return t.Secret != "" || t.secretHash != ""
}

// SetSecret makes the trigger carry secret when put; "" removes the
// stored one (while a Trigger whose SetSecret was not called keeps it).
func (t *Trigger) SetSecret(secret string) { t.Secret, t.secretGiven = secret, true }

// triggerDoc is a Trigger's JSON form.
type triggerDoc struct {
	Type  string          `json:"type"`
	Every string          `json:"every,omitempty"`
	Cron  string          `json:"cron,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// Secret is read from documents; written only by FlowDocument.
	Secret *string `json:"secret,omitempty"`
	// SecretSet is written to say a secret is set; ignored when read.
	SecretSet bool `json:"secretSet,omitempty"`
}

// MarshalJSON writes the trigger without its secret, with secretSet: true
// when it has one.
func (t Trigger) MarshalJSON() ([]byte, error) {
	return json.Marshal(triggerDoc{Type: t.Type, Every: t.Every, Cron: t.Cron, Input: t.Input, SecretSet: t.HasSecret()})
}

// UnmarshalJSON reads a trigger object strictly (unknown fields are
// errors); secret is taken, secretSet ignored.
func (t *Trigger) UnmarshalJSON(data []byte) error {
	var d triggerDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var ute *json.UnmarshalTypeError
		if asTypeErr(err, &ute) {
			c := *ute
			c.Field = "trigger." + c.Field
			return &c
		}
		return err
	}
	*t = Trigger{Type: d.Type, Every: d.Every, Cron: d.Cron, Input: d.Input}
	if d.Secret != nil {
		t.Secret, t.secretGiven = *d.Secret, true
	}
	return nil
}

// FlowDocument renders f as a JSON flow document for PutFlow, with the
// trigger's secret when one was given (SetSecret or a parsed document) —
// the one rendering that carries it.
func FlowDocument(f *Flow) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil || !f.Trigger.secretGiven {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	t := f.Trigger
	secret := t.Secret
	tb, err := json.Marshal(triggerDoc{Type: t.Type, Every: t.Every, Cron: t.Cron, Input: t.Input, Secret: &secret})
	if err != nil {
		return nil, err
	}
	m["trigger"] = tb
	return json.Marshal(m)
}

// BlockConfig is one block of a flow document: id, type, if, and the block
// type's own fields, all at the same level.
type BlockConfig struct {
	ID   string
	Type string
	// If, when set, is the condition the block runs under.
	If any
	// Fields are the block's own fields as written (JSON types, numbers as
	// json.Number), expressions not evaluated.
	Fields map[string]any
}

// MarshalJSON writes the block flat: {"id", "type", "if", fields…}.
func (b BlockConfig) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(b.Fields)+3)
	for k, v := range b.Fields {
		m[k] = v
	}
	m["id"] = b.ID
	m["type"] = b.Type
	if b.If != nil {
		m["if"] = b.If
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a flat block object.
func (b *BlockConfig) UnmarshalJSON(data []byte) error {
	v, err := decodeJSON(data)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("a block must be an object, got %s", kindOf(v))
	}
	*b = BlockConfig{Fields: map[string]any{}}
	for k, x := range m {
		switch k {
		case "id":
			b.ID, _ = x.(string)
			if _, isText := x.(string); !isText && x != nil {
				b.ID = fmt.Sprint(x)
			}
		case "type":
			b.Type, _ = x.(string)
		case "if":
			b.If = x
		default:
			b.Fields[k] = x
		}
	}
	return nil
}

// ParseFlow reads a flow document in YAML or JSON (JSON is taken as YAML's
// subset). It checks the document's shape only; Validate checks the rest.
func ParseFlow(src []byte) (*Flow, error) {
	if len(src) > MaxFlowBytes {
		return nil, store.Errorf(store.CodeTooLarge, "flow document is %d bytes, the limit is %d", len(src), MaxFlowBytes)
	}
	var raw any
	if t := bytes.TrimSpace(src); len(t) > 0 && t[0] == '{' {
		v, err := decodeJSON(t)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "flow is not valid JSON: %v", err)
		}
		raw = v
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(src))
		if err := dec.Decode(&raw); err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "flow is not valid YAML: %v", err)
		}
		var extra any
		if err := dec.Decode(&extra); err == nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "flow file holds more than one YAML document")
		}
	}
	norm, err := normalizeYAML(raw, 0)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "flow: %v", err)
	}
	m, ok := norm.(map[string]any)
	if !ok {
		return nil, store.Errorf(store.CodeInvalidArgument, "flow must be an object with id, dataStores, trigger and blocks")
	}
	var problems []Problem
	known := map[string]bool{"id": true, "description": true, "dataStores": true, "trigger": true, "timeout": true, "blocks": true}
	for k := range m {
		if !known[k] {
			problems = append(problems, Problem{Field: k, Message: "unknown flow field (want id, description, dataStores, trigger, timeout, blocks)"})
		}
	}
	if t, ok := m["trigger"].(string); ok { // trigger: manual
		m["trigger"] = map[string]any{"type": t}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "flow: %v", err)
	}
	var f Flow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		msg := err.Error()
		var ute *json.UnmarshalTypeError
		if asTypeErr(err, &ute) {
			msg = fmt.Sprintf("field %s: want %s, got %s", ute.Field, ute.Type, ute.Value)
		}
		return nil, store.Errorf(store.CodeInvalidArgument, "flow: %s", msg)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Flow: f.ID, Problems: problems}
	}
	return &f, nil
}

func asTypeErr(err error, target **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = e
	}
	return ok
}

// normalizeYAML turns a YAML-decoded value into JSON types.
func normalizeYAML(v any, depth int) (any, error) {
	if depth > store.DefaultMaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", store.DefaultMaxDepth)
	}
	switch x := v.(type) {
	case nil, string, bool, json.Number:
		return x, nil
	case int:
		return json.Number(fmt.Sprint(x)), nil
	case int64:
		return json.Number(fmt.Sprint(x)), nil
	case uint64:
		return json.Number(fmt.Sprint(x)), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%v is not a JSON number", x)
		}
		return json.Number(store.FormatNumber(x)), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported YAML value of type %T", v)
}

// Problem is one reason a flow is refused.
type Problem struct {
	// Block is the block's id ("" for the flow itself; "#3" when the block
	// has no id).
	Block string `json:"block,omitempty"`
	// Field is the field at fault ("" for the block as a whole).
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var where []string
	if p.Block != "" {
		where = append(where, "block "+p.Block)
	}
	if p.Field != "" {
		where = append(where, "field "+p.Field)
	}
	if len(where) == 0 {
		return p.Message
	}
	return strings.Join(where, ", ") + ": " + p.Message
}

// ValidationError lists every problem of a refused flow. Its code is
// invalid_argument (store.CodeOf, errors.Is(err, store.ErrInvalidArgument)).
type ValidationError struct {
	Flow     string    `json:"flow"`
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string { return e.Unwrap().Error() }

// Unwrap gives the error its invalid_argument code.
func (e *ValidationError) Unwrap() error {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	name := e.Flow
	if name == "" {
		name = "(no id)"
	}
	return store.Errorf(store.CodeInvalidArgument, "flow %s has %d problem(s): %s", name, len(e.Problems), strings.Join(parts, "; "))
}

var (
	flowIDRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	blockIDRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
)

// ValidFlowID reports whether id can name a flow.
func ValidFlowID(id string) bool { return flowIDRe.MatchString(id) }

// Validate checks a flow against the registered block specs and returns
// a *ValidationError listing every problem, or nil.
func Validate(f *Flow) error {
	_, err := compile(f)
	return err
}

// timeout returns the flow's run time limit.
func (f *Flow) timeout() (time.Duration, error) {
	if f.Timeout == "" {
		return DefaultFlowTimeout, nil
	}
	d, err := time.ParseDuration(f.Timeout)
	if err != nil || d <= 0 || d > MaxFlowTimeout {
		return 0, fmt.Errorf("want a duration between 1ms and %s, such as 30s", MaxFlowTimeout)
	}
	return d, nil
}

// compiledFlow is a validated flow ready to run.
type compiledFlow struct {
	flow     *Flow
	timeout  time.Duration
	schedule Schedule
	grants   store.Grants
	blocks   []*compiledBlock
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
			add(label, "type", "required")
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
				add(label, k, "unknown field for a %s block (fields: %s)", b.Type, strings.Join(fieldNames(spec), ", "))
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
	if len(ps) > 0 {
		return nil, &ValidationError{Flow: f.ID, Problems: ps}
	}
	return cf, nil
}

func blockTypes() []string {
	var out []string
	for _, s := range Specs() {
		out = append(out, s.Type)
	}
	return out
}

func fieldNames(s Spec) []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// checkFields applies a spec to field values: required fields, enum
// options, number types and, when declared is non-nil, namespaces within
// the flow's dataStores. At save time (evaluated false) values holding
// expressions are not judged; at run time (evaluated true) they are.
func checkFields(spec Spec, values map[string]any, declared map[string]bool, evaluated bool) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for _, fd := range spec.Fields {
		shown, known := fd.shown(spec, values)
		if known && !shown {
			continue
		}
		v, set := values[fd.Name]
		if !set || v == nil || v == "" {
			if req, rknown := fd.required(spec, values); req && rknown && known && fd.Default == nil {
				add(fd.Name, "required")
			}
			continue
		}
		if s, ok := v.(string); ok && !evaluated && hasTemplate(s) && fd.Type != TypeCode {
			continue // judged when the run evaluates it
		}
		switch fd.Type {
		case TypeEnum:
			text, _ := v.(string)
			ok := false
			for _, o := range fd.Options {
				if o.Value == text {
					ok = true
				}
			}
			if !ok {
				opts := make([]string, len(fd.Options))
				for i, o := range fd.Options {
					opts[i] = o.Value
				}
				add(fd.Name, "unknown value %s (want one of %s)", quoteValue(v), strings.Join(opts, ", "))
			}
		case TypeNumber, TypeInteger:
			var f float64
			var ok bool
			switch x := v.(type) {
			case json.Number:
				var err error
				f, err = x.Float64()
				ok = err == nil
			case string:
				if evaluated {
					_, err := fmt.Sscan(x, &f)
					ok = err == nil
				}
			}
			if !ok {
				add(fd.Name, "want a number, got %s", quoteValue(v))
			} else if fd.Type == TypeInteger && f != math.Trunc(f) {
				add(fd.Name, "want a whole number, got %v", f)
			}
		case TypeBoolean:
			if _, ok := v.(bool); !ok {
				add(fd.Name, "want true or false, got %s", quoteValue(v))
			}
		case TypeConditions:
			for _, m := range checkConditions(fd, v, evaluated) {
				add(fd.Name, "%s", m)
			}
		case TypeString, TypeText, TypeNamespace, TypeCode:
			if _, ok := v.(string); !ok {
				if fd.Type != TypeString || !evaluated {
					add(fd.Name, "want text, got %s", kindOf(v))
				}
			}
		}
		if fd.Type == TypeNamespace && declared != nil {
			if s, ok := v.(string); ok && !declared[s] && !declared[store.Wildcard] {
				add(fd.Name, "namespace %q is not in the flow's dataStores", s)
			}
		}
	}
	return ps
}

// checkConditions checks a TypeConditions value: a list of rows
// {field, op, value} with a field, an op among fd.Options and a value.
// Templates are judged when the run evaluates them.
func checkConditions(fd Field, v any, evaluated bool) []string {
	rows, ok := v.([]any)
	if !ok {
		return []string{fmt.Sprintf("want a list of conditions {field, op, value}, got %s", kindOf(v))}
	}
	var out []string
	for i, r := range rows {
		row, ok := r.(map[string]any)
		if !ok {
			out = append(out, fmt.Sprintf("condition %d: want {field, op, value}, got %s", i+1, kindOf(r)))
			continue
		}
		for k := range row {
			if k != "field" && k != "op" && k != "value" {
				out = append(out, fmt.Sprintf("condition %d: unknown key %q (a condition has field, op and value)", i+1, k))
			}
		}
		if f, ok := row["field"].(string); !ok || strings.TrimSpace(f) == "" {
			out = append(out, fmt.Sprintf("condition %d: field is required (a path into data such as status or customer.email)", i+1))
		}
		op, _ := row["op"].(string)
		if !evaluated && hasTemplate(op) {
			op = ""
		} else {
			known := false
			for _, o := range fd.Options {
				known = known || o.Value == op
			}
			if !known {
				opts := make([]string, len(fd.Options))
				for j, o := range fd.Options {
					opts[j] = o.Value
				}
				out = append(out, fmt.Sprintf("condition %d: unknown operator %s (want one of %s)", i+1, quoteValue(row["op"]), strings.Join(opts, ", ")))
			}
		}
		if _, ok := row["value"]; !ok {
			out = append(out, fmt.Sprintf("condition %d: value is required", i+1))
		}
	}
	return out
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	b, _ := json.Marshal(v)
	return string(b)
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
