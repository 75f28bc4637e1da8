// Package blocks is flowkv's flow engine: the block contract and registry,
// the flow document (YAML or JSON), `{{ … }}` expressions, the runner that
// executes a flow's blocks in order and records each run, and the scheduler
// that starts schedule-triggered flows.
//
// A block type registers once, from init(), with a Spec that is data: the
// same Spec validates a flow when it is saved, documents the block
// (`flowkv blocks`) and renders the block's form in the web editor.
package blocks

import (
	"encoding/json"
	"fmt"
	"strings"
)

// FieldType is the kind of value a block field holds; the web editor picks
// its input widget from it.
type FieldType string

// The field types.
const (
	// TypeString is one line of text.
	TypeString FieldType = "string"
	// TypeText is multi-line text.
	TypeText FieldType = "text"
	// TypeNumber is a JSON number (fractions allowed).
	TypeNumber FieldType = "number"
	// TypeInteger is a whole JSON number.
	TypeInteger FieldType = "integer"
	// TypeBoolean is true or false.
	TypeBoolean FieldType = "boolean"
	// TypeJSON is any JSON value (object, array, string, number, …).
	TypeJSON FieldType = "json"
	// TypeCode is JavaScript source. Code is never template-expanded.
	TypeCode FieldType = "code"
	// TypeEnum is one of Field.Options.
	TypeEnum FieldType = "enum"
	// TypeNamespace is a data store namespace; a literal value must be one of
	// the flow's dataStores.
	TypeNamespace FieldType = "namespace"
	// TypeExpression is a condition such as the common `if` field: a value,
	// usually one `{{ … }}` expression, judged truthy or falsy.
	TypeExpression FieldType = "expression"
	// TypeConditions is a list of conditions, rows of {field, op, value}:
	// field is text, op one of Field.Options (the editor's operator list)
	// and value any JSON (text or `{{ … }}` in the editor). The editor shows
	// one row per condition.
	TypeConditions FieldType = "conditions"
)

// Option is one choice of an enum field.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Help  string `json:"help,omitempty"`
}

// Condition holds when the value of the sibling field Field (its default
// when unset) is one of In, compared as text. A field whose value is an
// expression satisfies no condition until the run evaluates it.
type Condition struct {
	Field string   `json:"field"`
	In    []string `json:"in"`
}

// Field describes one configuration field of a block. Every field except
// TypeCode fields may hold `{{ … }}` expressions, also inside JSON values.
type Field struct {
	// Name is the key in the flow document ("key", "timeoutUnit").
	Name string `json:"name"`
	// Label is the form label.
	Label string    `json:"label"`
	Type  FieldType `json:"type"`
	// Required fields must be set whenever the field is shown.
	Required bool `json:"required,omitempty"`
	// RequiredWhen makes a field required when every condition holds (and
	// the field is shown); for fields required by some operations only.
	RequiredWhen []Condition `json:"requiredWhen,omitempty"`
	// Default is used when the field is unset (nil: no default).
	Default any `json:"default,omitempty"`
	// Options are the choices of a TypeEnum field (the operators of a
	// TypeConditions field).
	Options []Option `json:"options,omitempty"`
	// Help is one or two sentences shown under the input.
	Help string `json:"help,omitempty"`
	// Placeholder is an example value for an empty input.
	Placeholder string `json:"placeholder,omitempty"`
	// ShowWhen lists conditions that must all hold for the field to be shown
	// (and validated, and passed to the block); empty means always shown.
	ShowWhen []Condition `json:"showWhen,omitempty"`
}

// Spec describes a block type.
type Spec struct {
	// Type is the block's `type` in a flow document ("dataStore").
	Type string `json:"type"`
	// Label is the block's display name ("Data Store").
	Label string `json:"label"`
	// Description says what the block does, in a sentence or two.
	Description string `json:"description"`
	// Output describes the block's output (what `steps.ID` holds).
	Output string `json:"output,omitempty"`
	// Fields are the block's own fields in form order; the common fields
	// (CommonFields: id, type, if) come on top of them.
	Fields []Field `json:"fields"`
}

// Field returns the field called name.
func (s Spec) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// CommonFields are the fields every block has, whatever its type; the runner
// handles them. They are not repeated in each Spec.Fields.
var CommonFields = []Field{
	{Name: "id", Label: "Block id", Type: TypeString, Required: true,
		Help:        "Unique within the flow; later blocks read this block's output as steps.ID. Letters, digits, _ and -.",
		Placeholder: "save"},
	{Name: "type", Label: "Block type", Type: TypeString, Required: true,
		Help: "The block type (see flowkv blocks)."},
	{Name: "if", Label: "Run if", Type: TypeExpression,
		Help:        "When set, the block runs only if this is truthy (false, null, 0, \"\" and missing skip it); a skipped block's output is null.",
		Placeholder: "{{ steps.lookup == null }}"},
}

// shown reports whether f is shown given the block's field values.
func (f Field) shown(s Spec, values map[string]any) (bool, bool) {
	return conditionsHold(f.ShowWhen, s, values)
}

// required reports whether f must be set given the block's values; known
// is false when a condition depends on an unevaluated expression.
func (f Field) required(s Spec, values map[string]any) (req, known bool) {
	if f.Required {
		return true, true
	}
	if len(f.RequiredWhen) == 0 {
		return false, true
	}
	return conditionsHold(f.RequiredWhen, s, values)
}

// conditionsHold evaluates conditions; known is false when one of them
// looks at a field holding an expression.
func conditionsHold(conds []Condition, s Spec, values map[string]any) (hold, known bool) {
	known = true
	hold = true
	for _, c := range conds {
		v, ok := values[c.Field]
		if !ok || v == nil {
			if f, ok := s.Field(c.Field); ok {
				v = f.Default
			}
		}
		text, isText := conditionText(v)
		if isText && hasTemplate(text) {
			known = false
			continue
		}
		match := false
		for _, want := range c.In {
			if text == want {
				match = true
				break
			}
		}
		if !match {
			hold = false
		}
	}
	return hold, known
}

func conditionText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case json.Number:
		return x.String(), false
	default:
		return strings.TrimSpace(fmt.Sprint(x)), false
	}
}
