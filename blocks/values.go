package blocks

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/flowkv/flowkv/store"
)

// Values are a block's evaluated fields. Values hold JSON types: string,
// json.Number, bool, nil, []any and map[string]any. The getters convert
// leniently (a number given as the text "5" is 5) and report a wrong type
// as invalid_argument naming the field.
type Values map[string]any

// Has reports whether name is set to something other than null.
func (v Values) Has(name string) bool { return v[name] != nil }

// String returns a text field; numbers and booleans are rendered as text,
// objects and arrays are invalid_argument. Unset is "".
func (v Values) String(name string) (string, error) {
	switch x := v[name].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", store.Errorf(store.CodeInvalidArgument, "field %s: want text, got %s", name, kindOf(x))
	}
}

// Float returns a number field (unset is 0).
func (v Values) Float(name string) (float64, error) {
	switch x := v[name].(type) {
	case nil:
		return 0, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, store.Errorf(store.CodeInvalidArgument, "field %s: %s is not a usable number", name, x)
		}
		return f, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, store.Errorf(store.CodeInvalidArgument, "field %s: want a number, got %q", name, x)
		}
		return f, nil
	default:
		return 0, store.Errorf(store.CodeInvalidArgument, "field %s: want a number, got %s", name, kindOf(x))
	}
}

// Int returns a whole-number field (unset is 0).
func (v Values) Int(name string) (int, error) {
	f, err := v.Float(name)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, store.Errorf(store.CodeInvalidArgument, "field %s: want a whole number, got %v", name, f)
	}
	return int(f), nil
}

// Bool returns a boolean field (unset is false); "true"/"false" text counts.
func (v Values) Bool(name string) (bool, error) {
	switch x := v[name].(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, store.Errorf(store.CodeInvalidArgument, "field %s: want true or false, got %q", name, x)
		}
		return b, nil
	default:
		return false, store.Errorf(store.CodeInvalidArgument, "field %s: want true or false, got %s", name, kindOf(x))
	}
}

// MaxValueBytes bounds the JSON encoding of one evaluated field. (An
// expression can repeat a large input many times by reference; it is
// refused before it is encoded.)
const MaxValueBytes = 16 << 20

// JSON returns a field encoded as JSON (unset is nil); an encoding beyond
// MaxValueBytes is too_large.
func (v Values) JSON(name string) (json.RawMessage, error) {
	x, ok := v[name]
	if !ok {
		return nil, nil
	}
	if jsonSize(x, MaxValueBytes) > MaxValueBytes {
		return nil, store.Errorf(store.CodeTooLarge, "field %s: the value is larger than %d bytes", name, MaxValueBytes)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "field %s: %v", name, err)
	}
	return b, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case json.Number, float64, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return "a value"
	}
}

// decodeJSON decodes raw JSON into JSON types with json.Number numbers;
// empty input is nil.
func decodeJSON(raw []byte) (any, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, store.Errorf(store.CodeInvalidArgument, "trailing data after the JSON value")
	}
	return v, nil
}

// jsonSize estimates the JSON encoding size of v from below (escapes are
// not counted), stopping as soon as it passes budget.
func jsonSize(v any, budget int) int {
	switch x := v.(type) {
	case nil:
		return 4
	case bool:
		return 5
	case string:
		return len(x) + 2
	case json.Number:
		return len(x)
	case []any:
		n := 2
		for _, e := range x {
			n += jsonSize(e, budget-n) + 1
			if n > budget {
				return n
			}
		}
		return n
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + 4 + jsonSize(e, budget-n)
			if n > budget {
				return n
			}
		}
		return n
	}
	return 8
}
