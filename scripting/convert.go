package scripting

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/internal/jsonx"
	"github.com/flowkv/flowkv/store"
)

// encodeAbort carries an encoder error up through panics.
type encodeAbort struct{ err error }

// toJSON encodes a JavaScript value as JSON.stringify would (toJSON
// methods, undefined and functions skipped in objects and null in arrays,
// non-finite numbers as null), refusing more than max bytes (too_large),
// more than maxDepth nesting or cycles (invalid_argument), BigInts
// (invalid_argument). Script code it runs (getters, toJSON) may throw; that
// comes back as an error too.
func (s *runState) toJSON(v goja.Value, max, maxDepth int, what string) (out json.RawMessage, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = s.panicError(x)
			out = nil
		}
	}()
	e := &encoder{s: s, max: max, maxDepth: maxDepth, what: what}
	if e.value(v, 0) {
		e.buf = append(e.buf[:0], "null"...)
	}
	if len(e.buf) > max {
		return nil, store.Errorf(store.CodeTooLarge, "%s is more than %d bytes as JSON", what, max)
	}
	return e.buf, nil
}

// panicError converts what a panic carried while running script code from
// Go into a coded error.
func (s *runState) panicError(x any) error {
	switch p := x.(type) {
	case encodeAbort:
		return p.err
	case *goja.Object:
		return s.valueError(p, "")
	case goja.Value:
		return s.valueError(p, "")
	case error:
		var ex *goja.Exception
		if errors.As(p, &ex) {
			return s.valueError(ex.Value(), "")
		}
		if v, ok := interruptValue(p); ok {
			if v == errRunGone {
				return s.ctxError()
			}
			return v
		}
		var so *goja.StackOverflowError
		if errors.As(p, &so) {
			return s.fmtErr(store.CodeTooLarge, "call stack is deeper than %d frames", s.e.opts.MaxCallStack)
		}
		return s.fmtErr(store.CodeUnavailable, "internal error: %v", p)
	}
	return s.fmtErr(store.CodeUnavailable, "internal error: %v", x)
}

type encoder struct {
	s        *runState
	buf      []byte
	max      int
	maxDepth int
	what     string
	n        int
}

func (e *encoder) fail(code store.Code, format string, args ...any) {
	panic(encodeAbort{store.Errorf(code, "%s: "+format, append([]any{e.what}, args...)...)})
}

// value appends v and reports whether it is to be skipped (undefined,
// functions, symbols).
func (e *encoder) value(v goja.Value, depth int) bool {
	if len(e.buf) > e.max {
		e.fail(store.CodeTooLarge, "more than %d bytes as JSON", e.max)
	}
	e.n++
	if e.n&1023 == 0 && e.s.ctx.Err() != nil {
		panic(encodeAbort{e.s.ctxError()})
	}
	if v == nil || goja.IsUndefined(v) {
		return true
	}
	if goja.IsNull(v) {
		e.buf = append(e.buf, "null"...)
		return false
	}
	switch o := v.(type) {
	case *goja.Object:
		return e.object(o, depth)
	case *goja.Symbol:
		return true
	}
	e.primitive(v.Export())
	return false
}

func (e *encoder) primitive(x any) {
	switch x := x.(type) {
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			e.buf = append(e.buf, "null"...)
		} else {
			e.buf = append(e.buf, store.FormatNumber(x)...)
		}
	case string:
		if len(e.buf)+len(x) > e.max {
			e.fail(store.CodeTooLarge, "more than %d bytes as JSON", e.max)
		}
		e.buf = jsonx.AppendString(e.buf, x)
	case *big.Int:
		e.fail(store.CodeInvalidArgument, "a BigInt cannot be stored as JSON")
	default:
		e.buf = append(e.buf, "null"...)
	}
}

func (e *encoder) object(o *goja.Object, depth int) bool {
	if depth >= e.maxDepth {
		e.fail(store.CodeInvalidArgument, "nested deeper than %d levels (or cyclic)", e.maxDepth)
	}
	if tj, ok := goja.AssertFunction(o.Get("toJSON")); ok {
		r, err := tj(o, goja.Undefined())
		if err != nil {
			panic(err)
		}
		return e.value(r, depth+1)
	}
	if _, ok := goja.AssertFunction(o); ok {
		return true
	}
	switch o.ClassName() {
	case "Array":
		n := o.Get("length").ToInteger()
		if n > e.s.maxElems() {
			e.fail(store.CodeTooLarge, "an array of %d elements", n)
		}
		e.buf = append(e.buf, '[')
		for i := int64(0); i < n; i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if e.value(o.Get(strconv.FormatInt(i, 10)), depth+1) {
				e.buf = append(e.buf, "null"...)
			}
		}
		e.buf = append(e.buf, ']')
		return false
	case "String":
		e.buf = jsonx.AppendString(e.buf, o.String())
		return false
	case "Number":
		e.primitive(o.ToFloat())
		return false
	case "Boolean":
		e.buf = strconv.AppendBool(e.buf, o.ToBoolean())
		return false
	}
	e.buf = append(e.buf, '{')
	first := true
	for _, k := range o.Keys() {
		mark := len(e.buf)
		if !first {
			e.buf = append(e.buf, ',')
		}
		e.buf = jsonx.AppendString(e.buf, k)
		e.buf = append(e.buf, ':')
		if e.value(o.Get(k), depth+1) {
			e.buf = e.buf[:mark]
			continue
		}
		first = false
	}
	e.buf = append(e.buf, '}')
	return false
}

// data encodes a value to store: encoded within the store's data limit
// and canonicalised (PrepareData), or a coded error.
func (s *runState) data(v goja.Value, what string) (json.RawMessage, error) {
	if v == nil || goja.IsUndefined(v) {
		return nil, store.Errorf(store.CodeInvalidArgument, "%s is required (undefined is not JSON)", what)
	}
	raw, err := s.toJSON(v, s.limits.MaxDataBytes+1024, s.limits.MaxDepth, what)
	if err != nil {
		return nil, err
	}
	return s.limits.PrepareData(raw)
}

// jsValue turns stored JSON into a JavaScript value.
func (s *runState) jsValue(raw json.RawMessage) goja.Value {
	if len(raw) == 0 {
		return goja.Null()
	}
	if v, ok := s.fromJSON(raw); ok {
		return v
	}
	v, err := s.parseFn()(goja.Undefined(), s.vm.ToValue(string(raw)))
	if err != nil {
		return goja.Null()
	}
	return v
}

// isoTime renders a timestamp as Date.prototype.toISOString does.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// entryJS is an entry as scripts see it: {name, key, data, version,
// flowUuid, expiresAt, createdAt, updatedAt}, times as ISO strings. It is
// an ordinary-behaving object (keys, spread, JSON.stringify, assignment,
// delete all work) whose fields are converted when first read: a script
// that only looks at the version never pays for parsing the data.
func (s *runState) entryJS(e store.Entry) goja.Value {
	return s.vm.NewDynamicObject(&entryObject{s: s, e: e})
}

var entryFields = []string{"name", "key", "data", "version", "flowUuid", "expiresAt", "createdAt", "updatedAt"}

type entryObject struct {
	s       *runState
	e       store.Entry
	data    goja.Value            // e.Data converted, once read
	vals    map[string]goja.Value // assigned fields, and converted times
	deleted map[string]bool
	extra   []string // keys assigned beyond the entry's fields
}

func (o *entryObject) field(key string) goja.Value {
	vm, e := o.s.vm, &o.e
	switch key {
	case "name":
		return vm.ToValue(e.Name)
	case "key":
		return vm.ToValue(e.Key)
	case "data":
		return o.s.jsValue(e.Data)
	case "version":
		return vm.ToValue(e.Version)
	case "flowUuid":
		return vm.ToValue(e.FlowUUID)
	case "expiresAt":
		if e.ExpiresAt == nil {
			return goja.Null()
		}
		return vm.ToValue(isoTime(*e.ExpiresAt))
	case "createdAt":
		return vm.ToValue(isoTime(e.CreatedAt))
	case "updatedAt":
		return vm.ToValue(isoTime(e.UpdatedAt))
	}
	return nil
}

func (o *entryObject) Get(key string) goja.Value {
	if o.deleted[key] {
		return nil
	}
	if v, ok := o.vals[key]; ok {
		return v
	}
	if key == "data" {
		// Objects keep their identity: e.data === e.data.
		if o.data == nil {
			o.data = o.s.jsValue(o.e.Data)
		}
		return o.data
	}
	v := o.field(key)
	if v != nil && (key == "expiresAt" || key == "createdAt" || key == "updatedAt") {
		// Objects keep their identity: e.data === e.data.
		if o.vals == nil {
			o.vals = map[string]goja.Value{}
		}
		o.vals[key] = v
	}
	return v
}

func (o *entryObject) Set(key string, val goja.Value) bool {
	if o.vals == nil {
		o.vals = map[string]goja.Value{}
	}
	if !o.Has(key) {
		o.extra = append(o.extra, key)
	}
	delete(o.deleted, key)
	o.vals[key] = val
	return true
}

func (o *entryObject) Has(key string) bool {
	if o.deleted[key] {
		return false
	}
	if _, ok := o.vals[key]; ok {
		return true
	}
	for _, f := range entryFields {
		if f == key {
			return true
		}
	}
	return false
}

func (o *entryObject) Delete(key string) bool {
	if o.deleted == nil {
		o.deleted = map[string]bool{}
	}
	o.deleted[key] = true
	delete(o.vals, key)
	return true
}

func (o *entryObject) Keys() []string {
	out := make([]string, 0, len(entryFields)+len(o.extra))
	for _, f := range slices.Concat(entryFields, o.extra) {
		if !o.deleted[f] {
			out = append(out, f)
		}
	}
	return out
}

func (s *runState) entriesJS(es []store.Entry) goja.Value {
	vals := make([]any, len(es))
	for i, e := range es {
		vals[i] = s.entryJS(e)
	}
	return s.vm.NewArray(vals...)
}
