package blocks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Problem is one reason a flow is refused.
type Problem struct {
	// Block is the block's id ("" for the flow itself; "#3" when the block
	// has no id).
	Block string `json:"block,omitempty"`
	// Field is the field at fault ("" for the block as a whole).
	Field string `json:"field,omitempty"`
	// Line and Column place the problem in the document (1-based; 0 when
	// it has no place, such as a missing field of a flow).
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var where []string
	if p.Line > 0 {
		at := "line " + strconv.Itoa(p.Line)
		if p.Column > 0 {
			at += ":" + strconv.Itoa(p.Column)
		}
		where = append(where, at)
	}
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
	name := "flow " + e.Flow
	if e.Flow == "" {
		name = "the flow document"
	}
	return store.Errorf(store.CodeInvalidArgument, "%s has %d problem(s): %s", name, len(e.Problems), strings.Join(parts, "; "))
}

// ErrorProblems gives HTTP answers the list of problems (web puts it
// beside the error's code and message).
func (e *ValidationError) ErrorProblems() any { return e.Problems }

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
	var ve *ValidationError
	if errors.As(err, &ve) && f.pos != nil {
		return &ValidationError{Flow: ve.Flow, Problems: sortProblems(f.placeProblems(ve.Problems))}
	}
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
