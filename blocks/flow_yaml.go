package blocks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowkv/flowkv/store"
)

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
	known := map[string]bool{"id": true, "description": true, "dataStores": true, "trigger": true, "timeout": true, "blocks": true, "respond": true}
	for k := range m {
		if !known[k] {
			problems = append(problems, Problem{Field: k, Message: "unknown flow field (want id, description, dataStores, trigger, timeout, blocks, respond)"})
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
