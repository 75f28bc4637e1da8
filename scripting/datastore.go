package scripting

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/store"
)

// Argument helpers. They return coded errors; host functions turn them
// into rejected promises (async methods) or exceptions (sync ones).

func argErr(format string, args ...any) error {
	return store.Errorf(store.CodeInvalidArgument, format, args...)
}

// textArg reads a name or key: a string, or a finite number written in
// decimal (123 -> "123").
func textArg(v goja.Value, what string) (string, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", argErr("%s is required", what)
	}
	switch x := v.Export().(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return store.FormatNumber(x), nil
		}
	}
	return "", argErr("%s must be a string", what)
}

func (s *runState) nameKey(name, key goja.Value) (string, string, error) {
	n, err := textArg(name, "name")
	if err != nil {
		return "", "", err
	}
	var k string
	if o, ok := key.(*goja.Object); ok && o.ClassName() == "Array" {
		// An array of parts is a Deno KV key (docs/deno-kv.md).
		b, err := json.Marshal(o.Export())
		if err != nil {
			return "", "", argErr("key: %v", err)
		}
		if k, err = store.KeyFromJSON(string(b)); err != nil {
			return "", "", err
		}
	} else {
		if k, err = textArg(key, "key"); err != nil {
			return "", "", err
		}
		k = store.ResolveKey(k) // '["users","1"]' is a Deno KV key too
	}
	if err := s.limits.ValidateNameKey(n, k); err != nil {
		return "", "", err
	}
	return n, k, nil
}

// intArg reads a non-negative integer; undefined and null are 0.
func intArg(v goja.Value, what string) (int, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return 0, nil
	}
	f := v.ToFloat()
	if math.IsNaN(f) || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, argErr("%s must be a non-negative integer", what)
	}
	return int(f), nil
}

func get(o *goja.Object, name string) goja.Value {
	if o == nil {
		return nil
	}
	return o.Get(name)
}

func present(v goja.Value) bool { return v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) }

// ttlArg reads a data store TTL: undefined/null (none), a number of
// seconds, {timeoutUnit, timeoutValue} or {ttl: seconds}.
func ttlArg(v goja.Value) (time.Duration, error) {
	if !present(v) {
		return 0, nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		f := v.ToFloat()
		return store.SecondsTTL(f)
	}
	if t := o.Get("ttl"); present(t) {
		return store.SecondsTTL(t.ToFloat())
	}
	unit := ""
	if u := o.Get("timeoutUnit"); present(u) {
		unit = u.String()
	}
	value := 0.0
	if tv := o.Get("timeoutValue"); present(tv) {
		value = tv.ToFloat()
	}
	return store.TimeoutTTL(unit, value)
}

func numberArg(v goja.Value, what string) ([]byte, error) {
	if !present(v) {
		return nil, argErr("%s must be a number", what)
	}
	switch x := v.Export().(type) {
	case int64:
		return []byte(strconv.FormatInt(x, 10)), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return []byte(store.FormatNumber(x)), nil
		}
	}
	return nil, argErr("%s must be a finite number", what)
}

// guard checks the run's grants before any store call, so a denied call
// never reaches the store.
func (s *runState) guard(name string, want store.Access) error {
	if s.st == nil {
		return store.Errorf(store.CodeUnavailable, "no data store is attached to this run")
	}
	return s.r.Grants.Allow(name, want)
}

// fn marks a host function (goja wraps it natively, without reflection).
func (s *runState) fn(f func(goja.FunctionCall) goja.Value) func(goja.FunctionCall) goja.Value {
	return f
}

func (s *runState) entryResult(x any) goja.Value { return s.entryJS(x.(store.Entry)) }

func (s *runState) boolResult(x any) goja.Value { return s.vm.ToValue(x.(bool)) }

// dataStore builds the Ziggy-style API: every method returns a promise.
func (s *runState) dataStore() *goja.Object {
	vm := s.vm
	ds := newLazy(vm)

	ds.def("fetch", s.fn(func(call goja.FunctionCall) goja.Value {
		var props *goja.Object
		if a := call.Argument(0); present(a) {
			props = a.ToObject(vm)
		}
		q := store.FetchQuery{}
		var err error
		if q.Limit, err = intArg(get(props, "limit"), "limit"); err != nil {
			return s.rejected(err)
		}
		if _, err = s.limits.PageLimit(q.Limit); err != nil {
			return s.rejected(err)
		}
		if q.Offset, err = intArg(get(props, "offset"), "offset"); err != nil {
			return s.rejected(err)
		}
		for field, dst := range map[string]*string{"name": &q.Name, "key": &q.Key, "flowUuid": &q.FlowUUID, "cursor": &q.Cursor, "keyPrefix": &q.KeyPrefix} {
			if v := get(props, field); present(v) {
				if *dst, err = textArg(v, field); err != nil {
					return s.rejected(err)
				}
			}
		}
		if v := get(props, "data"); v != nil && !goja.IsUndefined(v) {
			if q.Data, err = s.data(v, "data"); err != nil {
				return s.rejected(err)
			}
		}
		if present(get(props, "where")) || present(get(props, "orderBy")) || present(get(props, "match")) {
			// Search by field: the entries of dataStore.query's first page.
			if q.Key != "" || q.KeyPrefix != "" || q.FlowUUID != "" || q.Data != nil || q.Offset != 0 {
				return s.rejected(argErr("fetch with where or orderBy takes name, where, match, orderBy, limit, cursor and count (use a $key or $flowUuid condition for the others)"))
			}
			qq, err := s.queryArg(get(props, "name"), props)
			if err != nil {
				return s.rejected(err)
			}
			if err := s.guard(qq.Name, store.Read); err != nil {
				return s.rejected(err)
			}
			return s.async(func(ctx context.Context) (any, error) {
				p, err := s.st.Query(ctx, qq)
				return p.Entries, err
			}, func(x any) goja.Value { return s.entriesJS(x.([]store.Entry)) })
		}
		if s.st == nil {
			return s.rejected(s.guard("", store.Read))
		}
		if q.Name != "" {
			if err := s.guard(q.Name, store.Read); err != nil {
				return s.rejected(err)
			}
		}
		return s.async(func(ctx context.Context) (any, error) {
			p, err := s.st.Fetch(ctx, q)
			return p.Entries, err
		}, func(x any) goja.Value { return s.entriesJS(x.([]store.Entry)) })
	}))

	ds.def("query", s.fn(func(call goja.FunctionCall) goja.Value {
		var opts *goja.Object
		if a := call.Argument(1); present(a) {
			opts = a.ToObject(vm)
		}
		q, err := s.queryArg(call.Argument(0), opts)
		if err != nil {
			return s.rejected(err)
		}
		if err := s.guard(q.Name, store.Read); err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.Query(ctx, q)
		}, func(x any) goja.Value { return s.queryPageJS(x.(store.QueryPage)) })
	}))

	ds.def("findName", s.fn(func(call goja.FunctionCall) goja.Value {
		name, err := textArg(call.Argument(0), "name")
		if err == nil {
			err = s.limits.ValidateName(name)
		}
		if err != nil {
			return s.rejected(err)
		}
		limit, err := intArg(call.Argument(1), "limit")
		if err == nil {
			_, err = s.limits.PageLimit(limit)
		}
		if err != nil {
			return s.rejected(err)
		}
		offset, err := intArg(call.Argument(2), "offset")
		if err != nil {
			return s.rejected(err)
		}
		if err := s.guard(name, store.Read); err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.FindName(ctx, name, limit, offset)
		}, func(x any) goja.Value { return s.entriesJS(x.([]store.Entry)) })
	}))

	ds.def("findNameKey", s.fn(func(call goja.FunctionCall) goja.Value {
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
		if err == nil {
			err = s.guard(name, store.Read)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			e, err := s.st.FindNameKey(ctx, name, key)
			if store.CodeOf(err) == store.CodeNotFound {
				return nil, nil
			}
			return e, err
		}, func(x any) goja.Value {
			if x == nil {
				return goja.Null()
			}
			return s.entryJS(x.(store.Entry))
		})
	}))

	write := func(op func(ctx context.Context, name, key string, data []byte, o store.WriteOptions) (store.Entry, error)) func(goja.FunctionCall) goja.Value {
		return s.fn(func(call goja.FunctionCall) goja.Value {
			name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
			if err != nil {
				return s.rejected(err)
			}
			data, err := s.data(call.Argument(2), "data")
			if err != nil {
				return s.rejected(err)
			}
			ttl, err := ttlArg(call.Argument(3))
			if err != nil {
				return s.rejected(err)
			}
			if err := s.guard(name, store.Write); err != nil {
				return s.rejected(err)
			}
			return s.async(func(ctx context.Context) (any, error) {
				return op(ctx, name, key, data, store.WriteOptions{TTL: ttl})
			}, s.entryResult)
		})
	}
	ds.def("insert", write(func(ctx context.Context, n, k string, d []byte, o store.WriteOptions) (store.Entry, error) {
		return s.st.Insert(ctx, n, k, d, o)
	}))
	ds.def("upsert", write(func(ctx context.Context, n, k string, d []byte, o store.WriteOptions) (store.Entry, error) {
		return s.st.Upsert(ctx, n, k, d, o)
	}))
	ds.def("updateOneNameKey", write(func(ctx context.Context, n, k string, d []byte, o store.WriteOptions) (store.Entry, error) {
		return s.st.Update(ctx, n, k, d, o)
	}))

	ds.def("deleteOneNameKey", s.fn(func(call goja.FunctionCall) goja.Value {
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
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

	ds.def("atomic", s.fn(func(goja.FunctionCall) goja.Value { return s.dsAtomic() }))
	ds.def("open", s.fn(func(call goja.FunctionCall) goja.Value {
		name, err := textArg(call.Argument(0), "name")
		if err == nil {
			err = s.limits.ValidateName(name)
		}
		if err == nil {
			err = s.guard(name, store.Read)
		}
		if err != nil {
			panic(s.newError(err))
		}
		return s.openHandle(name)
	}))
	return vm.NewDynamicObject(ds)
}

// atomicBuilder collects an atomic call's checks and mutations.
type atomicBuilder struct {
	checks []store.Check
	muts   []store.Mutation
}

func (b *atomicBuilder) add(s *runState) error {
	if len(b.checks)+len(b.muts) >= store.MaxAtomicActions {
		return argErr("atomic has more than %d checks and mutations", store.MaxAtomicActions)
	}
	return nil
}

// commit runs the atomic call: {ok: true, versions} when applied, {ok:
// false, versions: []} when a check failed (nothing written).
func (s *runState) commitAtomic(b *atomicBuilder) goja.Value {
	checks := append([]store.Check(nil), b.checks...)
	muts := append([]store.Mutation(nil), b.muts...)
	for _, c := range checks {
		if err := s.guard(c.Name, store.Read); err != nil {
			return s.rejected(err)
		}
	}
	for _, m := range muts {
		if err := s.guard(m.Name, store.Write); err != nil {
			return s.rejected(err)
		}
	}
	if _, err := s.limits.ValidateAtomic(checks, muts); err != nil {
		return s.rejected(err)
	}
	return s.async(func(ctx context.Context) (any, error) {
		res, err := s.st.Atomic(ctx, checks, muts)
		if store.CodeOf(err) == store.CodeConflict {
			return store.AtomicResult{OK: false, Versions: []int64{}}, nil
		}
		return res, err
	}, func(x any) goja.Value {
		res := x.(store.AtomicResult)
		o := s.vm.NewObject()
		_ = o.Set("ok", res.OK)
		vs := make([]any, len(res.Versions))
		for i, v := range res.Versions {
			vs[i] = v
		}
		_ = o.Set("versions", s.vm.NewArray(vs...))
		return o
	})
}

func versionArg(v goja.Value) (int64, error) {
	if !present(v) {
		return 0, nil
	}
	f := v.ToFloat()
	if math.IsNaN(f) || f < 0 || f != math.Trunc(f) {
		return 0, argErr("version must be a positive integer or null")
	}
	return int64(f), nil
}

// dsAtomic is dataStore.atomic(): check(name, key, version|null),
// set(name, key, data, ttl?), delete(name, key), sum(name, key, n),
// commit(). Builder methods throw on bad arguments; commit is async.
func (s *runState) dsAtomic() goja.Value {
	b := &atomicBuilder{}
	o := s.vm.NewObject()
	must := func(err error) {
		if err != nil {
			panic(s.newError(err))
		}
	}
	_ = o.Set("check", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
		must(err)
		v, err := versionArg(call.Argument(2))
		must(err)
		b.checks = append(b.checks, store.Check{Name: name, Key: key, Version: v})
		return o
	}))
	_ = o.Set("set", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
		must(err)
		data, err := s.data(call.Argument(2), "data")
		must(err)
		ttl, err := ttlArg(call.Argument(3))
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpSet, Name: name, Key: key, Data: data, TTL: ttl})
		return o
	}))
	_ = o.Set("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpDelete, Name: name, Key: key})
		return o
	}))
	_ = o.Set("sum", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.add(s))
		name, key, err := s.nameKey(call.Argument(0), call.Argument(1))
		must(err)
		n, err := numberArg(call.Argument(2), "n")
		must(err)
		b.muts = append(b.muts, store.Mutation{Op: store.OpSum, Name: name, Key: key, Data: n})
		return o
	}))
	_ = o.Set("commit", s.fn(func(goja.FunctionCall) goja.Value { return s.commitAtomic(b) }))
	return o
}

// openHandle is dataStore.open(name), a Spin-style handle on one
// namespace: get, set, delete, exists, getKeys, close.
func (s *runState) openHandle(name string) goja.Value {
	vm := s.vm
	h := vm.NewObject()
	closed := false
	key := func(v goja.Value) (string, error) {
		if closed {
			return "", argErr("the store handle for %q is closed", name)
		}
		k, err := textArg(v, "key")
		if err == nil {
			err = s.limits.ValidateKey(k)
		}
		return k, err
	}
	_ = h.Set("name", name)
	_ = h.Set("get", s.fn(func(call goja.FunctionCall) goja.Value {
		k, err := key(call.Argument(0))
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			e, err := s.st.FindNameKey(ctx, name, k)
			if store.CodeOf(err) == store.CodeNotFound {
				return nil, nil
			}
			return e, err
		}, func(x any) goja.Value {
			if x == nil {
				return goja.Null()
			}
			return s.jsValue(x.(store.Entry).Data)
		})
	}))
	_ = h.Set("exists", s.fn(func(call goja.FunctionCall) goja.Value {
		k, err := key(call.Argument(0))
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			_, err := s.st.FindNameKey(ctx, name, k)
			if store.CodeOf(err) == store.CodeNotFound {
				return false, nil
			}
			return err == nil, err
		}, s.boolResult)
	}))
	_ = h.Set("set", s.fn(func(call goja.FunctionCall) goja.Value {
		k, err := key(call.Argument(0))
		if err != nil {
			return s.rejected(err)
		}
		data, err := s.data(call.Argument(1), "value")
		if err == nil {
			err = s.guard(name, store.Write)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			_, err := s.st.Upsert(ctx, name, k, data, store.WriteOptions{})
			return nil, err
		}, func(any) goja.Value { return goja.Undefined() })
	}))
	_ = h.Set("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		k, err := key(call.Argument(0))
		if err == nil {
			err = s.guard(name, store.Write)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			_, err := s.st.Delete(ctx, name, k, store.DeleteOptions{})
			return nil, err
		}, func(any) goja.Value { return goja.Undefined() })
	}))
	_ = h.Set("getKeys", s.fn(func(call goja.FunctionCall) goja.Value {
		if closed {
			return s.rejected(argErr("the store handle for %q is closed", name))
		}
		var opts *goja.Object
		if a := call.Argument(0); present(a) {
			opts = a.ToObject(vm)
		}
		prefix, cursor := "", ""
		var err error
		if v := get(opts, "prefix"); present(v) {
			if prefix, err = textArg(v, "prefix"); err == nil {
				err = s.limits.ValidatePrefix(prefix)
			}
		}
		if v := get(opts, "cursor"); err == nil && present(v) {
			cursor, err = textArg(v, "cursor")
		}
		limit := 0
		if err == nil {
			limit, err = intArg(get(opts, "limit"), "limit")
		}
		if err == nil && limit == 0 {
			limit = s.limits.MaxListLimit
		}
		if err == nil {
			_, err = s.limits.PageLimit(limit)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			return s.st.List(ctx, name, prefix, cursor, limit)
		}, func(x any) goja.Value {
			p := x.(store.Page)
			keys := make([]any, len(p.Entries))
			for i, e := range p.Entries {
				keys[i] = e.Key
			}
			arr := vm.NewArray(keys...)
			if p.NextCursor != "" {
				_ = arr.Set("cursor", p.NextCursor)
			} else {
				_ = arr.Set("cursor", goja.Null())
			}
			return arr
		})
	}))
	_ = h.Set("close", s.fn(func(goja.FunctionCall) goja.Value {
		closed = true
		return goja.Undefined()
	}))
	return h
}

// queryArg reads dataStore.query's arguments: the namespace and {where,
// match, orderBy, limit, cursor, count}. where is an array of {field, op,
// value}, or an object shorthand ({status: "paid", total: {gte: 10}}: a
// value that is an object of one operator is that comparison, any other
// value is eq). orderBy is "-total", ["-total", "customer"] or
// [{field, desc}]. The store validates the rest.
func (s *runState) queryArg(name goja.Value, opts *goja.Object) (store.Query, error) {
	n, err := textArg(name, "name")
	if err != nil {
		return store.Query{}, err
	}
	if err := s.limits.ValidateName(n); err != nil {
		return store.Query{}, err
	}
	q := store.Query{Name: n}
	if q.Limit, err = intArg(get(opts, "limit"), "limit"); err != nil {
		return store.Query{}, err
	}
	if v := get(opts, "cursor"); present(v) {
		if q.Cursor, err = textArg(v, "cursor"); err != nil {
			return store.Query{}, err
		}
	}
	if v := get(opts, "count"); present(v) {
		q.Count = v.ToBoolean()
	}
	if v := get(opts, "match"); present(v) {
		q.Match = store.Match(v.String())
	}
	if q.Where, err = s.whereArg(get(opts, "where")); err != nil {
		return store.Query{}, err
	}
	if q.OrderBy, err = s.orderArg(get(opts, "orderBy")); err != nil {
		return store.Query{}, err
	}
	return q, nil
}

// elements returns the items of a JS array (nil, false for anything else).
func (s *runState) elements(v goja.Value, max int, what string) ([]goja.Value, bool, error) {
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, false, nil
	}
	n := o.Get("length").ToInteger()
	if n > int64(max) {
		return nil, true, store.Errorf(store.CodeTooLarge, "%s has %d items, the limit is %d", what, n, max)
	}
	out := make([]goja.Value, n)
	for i := range out {
		out[i] = o.Get(strconv.Itoa(i))
	}
	return out, true, nil
}

func (s *runState) condValue(v goja.Value, what string) ([]byte, error) {
	if v == nil || goja.IsUndefined(v) {
		return nil, argErr("%s is required", what)
	}
	return s.toJSON(v, s.limits.MaxConditionValueBytes+1024, s.limits.MaxDepth, what)
}

func (s *runState) whereArg(v goja.Value) ([]store.Condition, error) {
	if !present(v) {
		return nil, nil
	}
	items, isArr, err := s.elements(v, s.limits.MaxQueryConditions, "where")
	if err != nil {
		return nil, err
	}
	if isArr {
		out := make([]store.Condition, len(items))
		for i, it := range items {
			o, ok := it.(*goja.Object)
			if !ok {
				return nil, argErr("where[%d] must be {field, op, value}", i)
			}
			w := fmt.Sprintf("where[%d]", i)
			if out[i].Field, err = textArg(o.Get("field"), w+".field"); err != nil {
				return nil, err
			}
			op := o.Get("op")
			if !present(op) {
				return nil, argErr("%s.op is required (eq, ne, lt, lte, gt, gte, in, contains, startsWith, exists)", w)
			}
			out[i].Op = store.Operator(op.String())
			if out[i].Value, err = s.condValue(o.Get("value"), w+".value"); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, argErr("where must be an array of {field, op, value} or an object {field: value}")
	}
	keys := o.Keys()
	if len(keys) > s.limits.MaxQueryConditions {
		return nil, store.Errorf(store.CodeTooLarge, "where has %d conditions, the limit is %d", len(keys), s.limits.MaxQueryConditions)
	}
	var out []store.Condition
	for _, k := range keys {
		c := store.Condition{Field: k, Op: store.OpEq}
		val := o.Get(k)
		if vo, ok := val.(*goja.Object); ok && vo.ClassName() == "Object" {
			if vk := vo.Keys(); len(vk) == 1 && slices.Contains(store.Operators, store.Operator(vk[0])) {
				c.Op, val = store.Operator(vk[0]), vo.Get(vk[0])
			}
		}
		if c.Value, err = s.condValue(val, "where."+k); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *runState) orderArg(v goja.Value) ([]store.Order, error) {
	if !present(v) {
		return nil, nil
	}
	items, isArr, err := s.elements(v, store.MaxOrderBy, "orderBy")
	if err != nil {
		return nil, err
	}
	if !isArr {
		items = []goja.Value{v}
	}
	out := make([]store.Order, len(items))
	for i, it := range items {
		if o, ok := it.(*goja.Object); ok {
			if out[i].Field, err = textArg(o.Get("field"), fmt.Sprintf("orderBy[%d].field", i)); err != nil {
				return nil, err
			}
			out[i].Desc = o.Get("desc").ToBoolean()
			continue
		}
		f, err := textArg(it, "orderBy")
		if err != nil {
			return nil, err
		}
		if d, ok := strings.CutPrefix(f, "-"); ok {
			out[i] = store.Order{Field: d, Desc: true}
		} else {
			out[i] = store.Order{Field: f}
		}
	}
	return out, nil
}

// queryPageJS is a query's answer: {items, nextCursor, count, index}.
func (s *runState) queryPageJS(p store.QueryPage) goja.Value {
	o := s.vm.NewObject()
	_ = o.Set("items", s.entriesJS(p.Entries))
	_ = o.Set("nextCursor", p.NextCursor)
	if p.Count != nil {
		_ = o.Set("count", *p.Count)
	}
	_ = o.Set("index", p.Index)
	return o
}
