package scripting

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/store"
)

// KV keys are arrays of parts (strings or finite numbers). The first part
// of a key with two or more parts is the namespace; the other parts form
// the entry's key, each encoded and joined with ':':
//
//	a string part is its text with '\' written "\\", ':' written "\:",
//	  and a leading '#' written "\#";
//	a number part is '#' followed by the number (as JSON writes it).
//
// So ['users', '1'] is entry users/1, ['cache', 'product', 'p1'] is
// cache/product:p1, ['a', 'b:c'] is a/b\:c while ['a', 'b', 'c'] is a/b:c,
// and ['a', 1] is a/#1 while ['a', '1'] is a/1: distinct keys never share
// an entry. A key of one part lives in the namespace `default`: ['x'] is
// default/x (the same entry as ['default', 'x']; list returns it as ['x']).

// DefaultNamespace holds kv keys of one part.
const DefaultNamespace = "default"

// KVKey encodes kv key parts (string, int64, int, float64) into the entry
// address (namespace, key) they name.
func KVKey(parts []any) (name, key string, err error) {
	if len(parts) == 0 {
		return "", "", argErr("a kv key needs at least one part")
	}
	if len(parts) == 1 {
		var b strings.Builder
		if err := encodePart(&b, parts[0]); err != nil {
			return "", "", err
		}
		return DefaultNamespace, b.String(), nil
	}
	name, ok := parts[0].(string)
	if !ok {
		return "", "", argErr("the first part of a kv key (the namespace) must be a string")
	}
	key, err = joinParts(parts[1:])
	return name, key, err
}

func joinParts(parts []any) (string, error) {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		if err := encodePart(&b, p); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func encodePart(b *strings.Builder, p any) error {
	switch x := p.(type) {
	case string:
		for i := 0; i < len(x); i++ {
			c := x[i]
			if c == '\\' || c == ':' || (c == '#' && i == 0) {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		return nil
	case int:
		b.WriteByte('#')
		b.WriteString(strconv.Itoa(x))
		return nil
	case int64:
		b.WriteByte('#')
		b.WriteString(strconv.FormatInt(x, 10))
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return argErr("a kv key part must be a finite number")
		}
		b.WriteByte('#')
		b.WriteString(store.FormatNumber(x))
		return nil
	}
	return argErr("kv key parts must be strings or numbers")
}

// KVParts decodes an entry address back into kv key parts (strings and
// float64 numbers). Keys written by other faces decode as best they can:
// a '#' part that is not a number stays a string.
func KVParts(name, key string) []any {
	parts := splitParts(key)
	if name == DefaultNamespace && len(parts) == 1 {
		return parts
	}
	return append([]any{name}, parts...)
}

func splitParts(key string) []any {
	var parts []any
	var b strings.Builder
	num, start := false, true
	flush := func() {
		s := b.String()
		if num {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				parts = append(parts, f)
			} else {
				parts = append(parts, "#"+s)
			}
		} else {
			parts = append(parts, s)
		}
		b.Reset()
		num, start = false, true
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key):
			i++
			b.WriteByte(key[i])
		case c == ':':
			flush()
			continue
		case c == '#' && start:
			num = true
		default:
			b.WriteByte(c)
		}
		start = false
	}
	flush()
	return parts
}

// keyParts reads a JavaScript key array.
func keyParts(v goja.Value, what string) ([]any, error) {
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, argErr("%s must be an array of strings and numbers", what)
	}
	n := o.Get("length").ToInteger()
	if n > 64 {
		return nil, argErr("%s has more than 64 parts", what)
	}
	parts := make([]any, n)
	for i := int64(0); i < n; i++ {
		switch x := o.Get(strconv.FormatInt(i, 10)).Export().(type) {
		case string, int64, float64:
			parts[i] = x
		default:
			return nil, argErr("%s: parts must be strings or numbers", what)
		}
	}
	return parts, nil
}

func (s *runState) kvAddr(v goja.Value) (string, string, error) {
	parts, err := keyParts(v, "key")
	if err != nil {
		return "", "", err
	}
	name, key, err := KVKey(parts)
	if err != nil {
		return "", "", err
	}
	if err := s.limits.ValidateNameKey(name, key); err != nil {
		return "", "", err
	}
	return name, key, nil
}

func (s *runState) keyJS(name, key string) goja.Value {
	return s.vm.NewArray(KVParts(name, key)...)
}

// kvEntry is {key, value, version}; value and version are null when the
// entry is absent.
func (s *runState) kvEntry(keyVal goja.Value, e *store.Entry) goja.Value {
	o := s.vm.NewObject()
	_ = o.Set("key", keyVal)
	if e == nil {
		_ = o.Set("value", goja.Null())
		_ = o.Set("version", goja.Null())
		return o
	}
	_ = o.Set("value", s.jsValue(e.Data))
	_ = o.Set("version", e.Version)
	return o
}

// expireIn reads {expireIn: ms} options.
func expireIn(v goja.Value) (ttlMS float64, err error) {
	if !present(v) {
		return 0, nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return 0, argErr("options must be an object like {expireIn: 60000}")
	}
	if e := o.Get("expireIn"); present(e) {
		return e.ToFloat(), nil
	}
	return 0, nil
}

// kv builds the Deno/OWN3D-style API.
func (s *runState) kv() *goja.Object {
	vm := s.vm
	kv := newLazy(vm)

	kv.def("get", s.fn(func(call goja.FunctionCall) goja.Value {
		keyVal := call.Argument(0)
		name, key, err := s.kvAddr(keyVal)
		if err == nil {
			err = s.guard(name, store.Read)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			e, err := s.st.FindNameKey(ctx, name, key)
			if store.CodeOf(err) == store.CodeNotFound {
				return (*store.Entry)(nil), nil
			}
			return &e, err
		}, func(x any) goja.Value { return s.kvEntry(keyVal, x.(*store.Entry)) })
	}))

	kv.def("getMany", s.fn(func(call goja.FunctionCall) goja.Value {
		o, ok := call.Argument(0).(*goja.Object)
		if !ok || o.ClassName() != "Array" {
			return s.rejected(argErr("getMany takes an array of keys"))
		}
		n := o.Get("length").ToInteger()
		if n > int64(s.limits.MaxListLimit) {
			return s.rejected(argErr("getMany takes at most %d keys", s.limits.MaxListLimit))
		}
		type addr struct{ name, key string }
		keys := make([]goja.Value, n)
		addrs := make([]addr, n)
		for i := range keys {
			keys[i] = o.Get(strconv.Itoa(i))
			name, key, err := s.kvAddr(keys[i])
			if err == nil {
				err = s.guard(name, store.Read)
			}
			if err != nil {
				return s.rejected(err)
			}
			addrs[i] = addr{name, key}
		}
		return s.async(func(ctx context.Context) (any, error) {
			out := make([]*store.Entry, len(addrs))
			for i, a := range addrs {
				e, err := s.st.FindNameKey(ctx, a.name, a.key)
				if store.CodeOf(err) == store.CodeNotFound {
					continue
				}
				if err != nil {
					return nil, err
				}
				out[i] = &e
			}
			return out, nil
		}, func(x any) goja.Value {
			es := x.([]*store.Entry)
			vals := make([]any, len(es))
			for i, e := range es {
				vals[i] = s.kvEntry(keys[i], e)
			}
			return vm.NewArray(vals...)
		})
	}))

	kv.def("set", s.fn(func(call goja.FunctionCall) goja.Value {
		name, key, err := s.kvAddr(call.Argument(0))
		if err != nil {
			return s.rejected(err)
		}
		data, err := s.data(call.Argument(1), "value")
		if err != nil {
			return s.rejected(err)
		}
		ms, err := expireIn(call.Argument(2))
		if err != nil {
			return s.rejected(err)
		}
		ttl, err := store.MillisTTL(ms)
		if err == nil {
			err = s.guard(name, store.Write)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.Upsert(ctx, name, key, data, store.WriteOptions{TTL: ttl})
		}, func(x any) goja.Value {
			o := vm.NewObject()
			_ = o.Set("ok", true)
			_ = o.Set("version", x.(store.Entry).Version)
			return o
		})
	}))

	kv.def("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		name, key, err := s.kvAddr(call.Argument(0))
		if err == nil {
			err = s.guard(name, store.Write)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.Delete(ctx, name, key, store.DeleteOptions{})
		}, s.boolResult)
	}))

	kv.def("list", s.fn(func(call goja.FunctionCall) goja.Value {
		it, err := s.kvList(call.Argument(0), call.Argument(1))
		if err != nil {
			panic(s.newError(err))
		}
		return it
	}))

	kv.def("atomic", s.fn(func(goja.FunctionCall) goja.Value { return s.kvAtomic() }))
	return vm.NewDynamicObject(kv)
}

// kvList is kv.list({prefix}, {limit, cursor, batchSize}): an async
// iterator of {key, value, version} in key order. Use it with
// `for await (const e of kv.list({prefix: ['users']}))` or by calling
// next(). Its `cursor` property continues after the last page read.
func (s *runState) kvList(sel, opts goja.Value) (goja.Value, error) {
	so, ok := sel.(*goja.Object)
	if !ok {
		return nil, argErr("list takes a selector like {prefix: ['users']}")
	}
	pv := so.Get("prefix")
	if !present(pv) {
		return nil, argErr("list needs a prefix with at least one part (the namespace); start/end selectors are not supported")
	}
	parts, err := keyParts(pv, "prefix")
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, argErr("list needs a prefix with at least one part (the namespace)")
	}
	name, ok := parts[0].(string)
	if !ok {
		return nil, argErr("the first part of a prefix (the namespace) must be a string")
	}
	prefix := ""
	if len(parts) > 1 {
		if prefix, err = joinParts(parts[1:]); err != nil {
			return nil, err
		}
		prefix += ":"
	}
	if err := s.limits.ValidateName(name); err != nil {
		return nil, err
	}
	if err := s.limits.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	var oo *goja.Object
	if present(opts) {
		oo = opts.ToObject(s.vm)
	}
	limit, err := intArg(get(oo, "limit"), "limit")
	if err != nil {
		return nil, err
	}
	batch, err := intArg(get(oo, "batchSize"), "batchSize")
	if err != nil {
		return nil, err
	}
	if batch == 0 {
		batch = store.DefaultLimit
	}
	batch = min(batch, s.limits.MaxListLimit)
	cursor := ""
	if c := get(oo, "cursor"); present(c) {
		cursor = c.String()
	}
	if r := get(oo, "reverse"); present(r) && r.ToBoolean() {
		return nil, argErr("reverse listing is not supported")
	}
	if err := s.guard(name, store.Read); err != nil {
		return nil, err
	}

	vm := s.vm
	it := vm.NewObject()
	var buf []store.Entry
	exhausted := false
	yielded := 0
	_ = it.Set("cursor", cursor)
	finished := func() goja.Value {
		r := vm.NewObject()
		_ = r.Set("value", goja.Undefined())
		_ = r.Set("done", true)
		return r
	}
	item := func() goja.Value {
		if len(buf) == 0 || (limit > 0 && yielded >= limit) {
			return finished()
		}
		e := buf[0]
		buf = buf[1:]
		yielded++
		r := vm.NewObject()
		_ = r.Set("value", s.kvEntry(s.keyJS(e.Name, e.Key), &e))
		_ = r.Set("done", false)
		return r
	}
	_ = it.Set("next", s.fn(func(goja.FunctionCall) goja.Value {
		if len(buf) > 0 || exhausted || (limit > 0 && yielded >= limit) {
			return s.resolved(item())
		}
		n := batch
		if limit > 0 {
			n = min(n, limit-yielded)
		}
		cur := cursor
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.List(ctx, name, prefix, cur, n)
		}, func(x any) goja.Value {
			p := x.(store.Page)
			buf = p.Entries
			cursor = p.NextCursor
			exhausted = cursor == ""
			_ = it.Set("cursor", cursor)
			return item()
		})
	}))
	_ = it.Set("return", s.fn(func(goja.FunctionCall) goja.Value {
		exhausted, buf = true, nil
		return s.resolved(finished())
	}))
	if s.asyncIter == nil {
		v, err := s.vm.RunProgram(asyncIterPrg)
		if err != nil {
			panic(err)
		}
		s.asyncIter, _ = v.(*goja.Symbol)
	}
	if s.asyncIter != nil {
		_ = it.SetSymbol(s.asyncIter, s.fn(func(goja.FunctionCall) goja.Value { return it }))
	}
	return it, nil
}

// kvAtomic is kv.atomic(): check({key, version}…), set(key, value,
// {expireIn}), delete(key), sum(key, n), commit() → {ok, versions}.
func (s *runState) kvAtomic() goja.Value {
	b := &atomicBuilder{}
	o := s.vm.NewObject()
	must := func(err error) {
		if err != nil {
			panic(s.newError(err))
		}
	}
	_ = o.Set("check", s.fn(func(call goja.FunctionCall) goja.Value {
		for _, a := range call.Arguments {
			must(b.add(s))
			co, ok := a.(*goja.Object)
			if !ok {
				must(argErr("check takes {key, version} objects"))
			}
			name, key, err := s.kvAddr(co.Get("key"))
			must(err)
			v, err := versionArg(co.Get("version"))
			must(err)
			b.checks = append(b.checks, store.Check{Name: name, Key: key, Version: v})
		}
		return o
	}))
	_ = o.Set("set", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.kvAddr(call.Argument(0))
		must(err)
		data, err := s.data(call.Argument(1), "value")
		must(err)
		ms, err := expireIn(call.Argument(2))
		must(err)
		ttl, err := store.MillisTTL(ms)
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpSet, Name: name, Key: key, Data: data, TTL: ttl})
		return o
	}))
	_ = o.Set("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.kvAddr(call.Argument(0))
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpDelete, Name: name, Key: key})
		return o
	}))
	_ = o.Set("sum", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.kvAddr(call.Argument(0))
		must(err)
		n, err := numberArg(call.Argument(1), "n")
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpSum, Name: name, Key: key, Data: n})
		return o
	}))
	_ = o.Set("commit", s.fn(func(goja.FunctionCall) goja.Value { return s.commitAtomic(b) }))
	return o
}
