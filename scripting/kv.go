package scripting

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"

	"github.com/dop251/goja"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/kvconnect/kvdb"
	"github.com/flowkv/flowkv/store"
)

// The `kv` facade is Deno KV (docs/scripting.md): `kv` is the database
// `default`, `await openKv(name)` the database (namespace) name, and a key
// is a Deno KV key — an array of strings, numbers, bigints, booleans and
// {bytes: base64} parts (the sandbox has no Uint8Array) — stored as
// store.TupleKey(store.PackTuple(parts)) in that namespace, exactly as the
// KV Connect server (package kvconnect) stores it. Writes go through
// kvdb, as the server's do, so scripts and Deno clients share entries,
// versionstamps and the rules of atomic writes.

// DefaultDatabase is the database of the `kv` global.
const DefaultDatabase = "default"

// Deno KV's bounds on one list batch and one getMany.
const (
	maxGetMany       = 10
	defaultListBatch = 100
	maxDefaultBatch  = 500
)

// keyPart reads one part of a Deno KV key.
func keyPart(v goja.Value, what string, i int) (any, error) {
	if v == nil { // a hole: [, 'a']
		return nil, argErr("%s part %d is missing", what, i)
	}
	switch x := v.Export().(type) {
	case string, bool, *big.Int:
		return x, nil
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case map[string]any:
		if b64, ok := x["bytes"].(string); ok && len(x) == 1 {
			b, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, argErr("%s part %d: bytes must be base64", what, i)
			}
			return b, nil
		}
	}
	return nil, argErr("%s part %d: a key part is a string, number, bigint, boolean or {bytes: base64}", what, i)
}

// packKey reads a JavaScript key array into Deno KV's tuple bytes; a key
// to read or write (not a list prefix) needs at least one part.
func packKey(v goja.Value, what string, prefix bool) ([]byte, error) {
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, argErr("%s must be an array of key parts", what)
	}
	n := o.Get("length").ToInteger()
	if n > 64 {
		return nil, argErr("%s has more than 64 parts", what)
	}
	if n == 0 && !prefix {
		return nil, argErr("%s must have at least one part", what)
	}
	parts := make([]any, n)
	for i := range parts {
		p, err := keyPart(o.Get(strconv.Itoa(i)), what, i)
		if err != nil {
			return nil, err
		}
		parts[i] = p
	}
	b, err := store.PackTuple(parts)
	if err != nil {
		return nil, argErr("%s: %s", what, store.Text(err))
	}
	if len(b) > kvdb.MaxWriteKeyBytes {
		return nil, argErr("%s exceeds Deno KV's key size limit (%d bytes)", what, kvdb.MaxWriteKeyBytes)
	}
	return b, nil
}

// keyJS turns a stored tuple key back into a JavaScript key array.
func (s *runState) keyJS(key string) goja.Value {
	b, _ := store.TupleBytes(key)
	parts, err := store.UnpackTuple(b)
	if err != nil {
		return s.vm.NewArray()
	}
	vals := make([]any, len(parts))
	for i, p := range parts {
		if raw, ok := p.([]byte); ok {
			o := s.vm.NewObject()
			_ = o.Set("bytes", base64.StdEncoding.EncodeToString(raw))
			vals[i] = o
			continue
		}
		vals[i] = p
	}
	return s.vm.NewArray(vals...)
}

func versionstampJS(version int64) string { return hex.EncodeToString(kvdb.Versionstamp(version)) }

// kvEntry is Deno's {key, value, versionstamp}; value and versionstamp are
// null when the entry is absent.
func (s *runState) kvEntry(key goja.Value, e *store.Entry) goja.Value {
	o := s.vm.NewObject()
	_ = o.Set("key", key)
	if e == nil {
		_ = o.Set("value", goja.Null())
		_ = o.Set("versionstamp", goja.Null())
		return o
	}
	_ = o.Set("value", s.kvValue(e.Data))
	_ = o.Set("versionstamp", versionstampJS(e.Version))
	return o
}

// kvU64Class builds the KvU64 class, Deno.KvU64: new KvU64(5n) holds an
// unsigned 64-bit integer as its read-only `value` (a bigint).
func (s *runState) kvU64Class() goja.Value {
	vm := s.vm
	ctor := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		n, err := u64Of(call.Argument(0))
		if err != nil {
			panic(s.newError(err))
		}
		_ = call.This.DefineDataProperty("value", vm.ToValue(new(big.Int).SetUint64(n)), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
		return nil
	}).(*goja.Object)
	proto := ctor.Get("prototype").(*goja.Object)
	_ = proto.Set("valueOf", func(call goja.FunctionCall) goja.Value { return call.This.ToObject(vm).Get("value") })
	_ = proto.Set("toString", func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(call.This.ToObject(vm).Get("value").String())
	})
	s.kvU64 = ctor
	return ctor
}

// u64Of reads a KvU64's bigint.
func u64Of(v goja.Value) (uint64, error) {
	if v == nil { // a missing property (Object.create(KvU64.prototype))
		return 0, argErr("a KvU64 value must be a bigint")
	}
	b, ok := v.Export().(*big.Int)
	if !ok {
		return 0, argErr("a KvU64 value must be a bigint")
	}
	if b.Sign() < 0 || !b.IsUint64() {
		return 0, argErr("a KvU64 value must be between 0 and 2^64-1")
	}
	return b.Uint64(), nil
}

// asKvU64 reports whether v is a KvU64 instance, and its value.
func (s *runState) asKvU64(v goja.Value) (uint64, bool, error) {
	o, ok := v.(*goja.Object)
	if !ok || s.kvU64 == nil || o.Prototype() == nil || !o.Prototype().SameAs(s.kvU64.Get("prototype")) {
		return 0, false, nil
	}
	n, err := u64Of(o.Get("value"))
	return n, true, err
}

// kvValue is an entry's value as Deno reads it: a stored KvU64 is a KvU64,
// anything else its JSON (a value with no JSON form its $denokv wrapper).
func (s *runState) kvValue(data []byte) goja.Value {
	if w, ok := denokv.UnwrapData(data); ok && w.U64 != "" {
		if n, err := strconv.ParseUint(w.U64, 10, 64); err == nil && s.kvU64 != nil {
			if v, err := s.vm.New(s.kvU64, s.vm.ToValue(new(big.Int).SetUint64(n))); err == nil {
				return v
			}
		}
	}
	return s.jsValue(data)
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

// kvDB is one open Deno KV database: namespace name.
type kvDB struct {
	s    *runState
	name string
}

// storedKey reads a key and checks it against the store's limits.
func (d kvDB) storedKey(v goja.Value, what string) ([]byte, string, error) {
	b, err := packKey(v, what, false)
	if err != nil {
		return nil, "", err
	}
	k := store.TupleKey(b)
	if err := d.s.limits.ValidateNameKey(d.name, k); err != nil {
		return nil, "", err
	}
	return b, k, nil
}

// pointRange is the range holding exactly the key b.
func pointRange(b []byte) store.KeyRange {
	return store.KeyRange{Start: store.TupleKey(b), End: store.TupleKey(append(bytes.Clone(b), 0)), Limit: 1}
}

// kv builds the `kv` global, the database `default`.
func (s *runState) kv() *goja.Object { return s.kvObject(DefaultDatabase) }

// openKv is the global openKv(name?): a promise of the database name
// (default without one), refused with access_denied unless the run may
// read it.
func (s *runState) openKv(call goja.FunctionCall) goja.Value {
	name := DefaultDatabase
	if a := call.Argument(0); present(a) {
		n, ok := a.Export().(string)
		if !ok {
			return s.rejected(argErr("openKv takes a database (namespace) name"))
		}
		name = n
	}
	if err := s.limits.ValidateName(name); err != nil {
		return s.rejected(err)
	}
	if err := s.guard(name, store.Read); err != nil {
		return s.rejected(err)
	}
	return s.resolved(s.kvObject(name))
}

// kvObject builds the Deno KV API on database name.
func (s *runState) kvObject(name string) *goja.Object {
	vm := s.vm
	d := kvDB{s: s, name: name}
	kv := newLazy(vm)

	kv.def("get", s.fn(func(call goja.FunctionCall) goja.Value {
		keyVal := call.Argument(0)
		_, k, err := d.storedKey(keyVal, "key")
		if err == nil {
			err = s.guard(name, store.Read)
		}
		if err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			e, err := s.st.FindNameKey(ctx, name, k)
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
		if n > maxGetMany {
			return s.rejected(argErr("too many ranges (max %d): getMany takes at most %d keys", maxGetMany, maxGetMany))
		}
		keys := make([]goja.Value, n)
		ranges := make([]store.KeyRange, n)
		for i := range keys {
			keys[i] = o.Get(strconv.Itoa(i))
			b, _, err := d.storedKey(keys[i], "keys["+strconv.Itoa(i)+"]")
			if err != nil {
				return s.rejected(err)
			}
			ranges[i] = pointRange(b)
		}
		if err := s.guard(name, store.Read); err != nil {
			return s.rejected(err)
		}
		return s.async(func(ctx context.Context) (any, error) {
			if len(ranges) == 0 {
				return [][]store.Entry{}, nil
			}
			return s.st.ReadRanges(ctx, name, ranges)
		}, func(x any) goja.Value {
			res := x.([][]store.Entry)
			vals := make([]any, len(res))
			for i, es := range res {
				var e *store.Entry
				if len(es) == 1 {
					e = &es[0]
				}
				vals[i] = s.kvEntry(keys[i], e)
			}
			return vm.NewArray(vals...)
		})
	}))

	kv.def("set", s.fn(func(call goja.FunctionCall) goja.Value {
		b := newKVAtomic(d)
		if err := b.set(call.Argument(0), call.Argument(1), call.Argument(2)); err != nil {
			return s.rejected(err)
		}
		return b.commit()
	}))

	kv.def("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		b := newKVAtomic(d)
		if err := b.del(call.Argument(0)); err != nil {
			return s.rejected(err)
		}
		return b.commitThen(func(goja.Value) goja.Value { return goja.Undefined() })
	}))

	kv.def("list", s.fn(func(call goja.FunctionCall) goja.Value {
		it, err := d.list(call.Argument(0), call.Argument(1))
		if err != nil {
			panic(s.newError(err))
		}
		return it
	}))

	kv.def("atomic", s.fn(func(goja.FunctionCall) goja.Value { return newKVAtomic(d).js() }))
	kv.def("close", s.fn(func(goja.FunctionCall) goja.Value { return goja.Undefined() }))
	kv.def("watch", s.fn(func(goja.FunctionCall) goja.Value {
		panic(s.newError(argErr("kv.watch is not available in scripts (a script runs to its end; watch from a Deno client)")))
	}))
	return vm.NewDynamicObject(kv)
}

// selector is a list selector as byte bounds (Deno's RawSelector).
type selector struct {
	prefix     []byte // the common prefix of the keys selected
	start, end []byte // the range, start inclusive, end exclusive
	// explicit bounds the cursor may not leave
	minStart, maxEnd []byte
}

func (d kvDB) selectorOf(v goja.Value) (selector, error) {
	so, ok := v.(*goja.Object)
	if !ok {
		return selector{}, argErr("list takes a selector: {prefix}, {prefix, start}, {prefix, end} or {start, end}")
	}
	part := func(field string) ([]byte, bool, error) {
		x := so.Get(field)
		if !present(x) {
			return nil, false, nil
		}
		b, err := packKey(x, field, true)
		return b, true, err
	}
	prefix, hasPrefix, err := part("prefix")
	if err != nil {
		return selector{}, err
	}
	start, hasStart, err := part("start")
	if err != nil {
		return selector{}, err
	}
	end, hasEnd, err := part("end")
	if err != nil {
		return selector{}, err
	}
	var sel selector
	switch {
	case hasPrefix && hasStart && hasEnd:
		return selector{}, argErr("Selector can not specify both 'start' and 'end' key when specifying 'prefix'.")
	case hasPrefix:
		sel.prefix = prefix
		sel.start = append(bytes.Clone(prefix), 0)
		sel.end = append(bytes.Clone(prefix), 0xff)
		if hasStart {
			if !bytes.HasPrefix(start, prefix) {
				return selector{}, argErr("Start key is not in the keyspace defined by prefix")
			}
			sel.start, sel.minStart = start, start
		}
		if hasEnd {
			if !bytes.HasPrefix(end, prefix) {
				return selector{}, argErr("End key is not in the keyspace defined by prefix")
			}
			sel.end, sel.maxEnd = end, end
		}
	case hasStart && hasEnd:
		if bytes.Compare(start, end) > 0 {
			return selector{}, argErr("Start key is greater than end key")
		}
		n := 0
		for n < len(start) && n < len(end) && start[n] == end[n] {
			n++
		}
		sel = selector{prefix: start[:n], start: start, end: end, minStart: start, maxEnd: end}
	default:
		return selector{}, argErr("Selector must specify either 'prefix' or both 'start' and 'end' key.")
	}
	return sel, nil
}

// applyCursor narrows the selector's range to continue after cursor
// (Deno's decode_selector_and_cursor). A cursor is what the Deno runtime
// gives — the URL-safe base64 of the last key's bytes after the common
// prefix — or what @deno/kv gives: base64 of {"lastYieldedKeyBytes": hex}.
func (sel *selector) applyCursor(cursor string, reverse bool) error {
	key, ok := npmCursor(cursor)
	if !ok {
		c, err := base64.URLEncoding.DecodeString(cursor)
		if err != nil {
			if c, err = base64.RawURLEncoding.DecodeString(cursor); err != nil {
				return argErr("invalid cursor")
			}
		}
		key = append(bytes.Clone(sel.prefix), c...)
	}
	if reverse {
		sel.end = key
	} else {
		sel.start = append(key, 0)
	}
	if (sel.minStart != nil && bytes.Compare(sel.start, sel.minStart) < 0) ||
		(sel.maxEnd != nil && bytes.Compare(sel.end, sel.maxEnd) > 0) ||
		!bytes.HasPrefix(key, sel.prefix) {
		return argErr("cursor out of bounds")
	}
	return nil
}

// npmCursor reads a cursor of @deno/kv (the npm client).
func npmCursor(cursor string) ([]byte, bool) {
	raw, err := base64.StdEncoding.DecodeString(cursor)
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var c struct {
		LastYieldedKeyBytes string `json:"lastYieldedKeyBytes"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil, false
	}
	key, err := hex.DecodeString(c.LastYieldedKeyBytes)
	return key, err == nil && len(key) > 0
}

// list is kv.list(selector, {limit, reverse, cursor, batchSize}): an
// async iterator of {key, value, versionstamp} in Deno's key order (from
// the end with reverse). Its `cursor` property continues after the last
// entry it yielded.
func (d kvDB) list(selV, optsV goja.Value) (goja.Value, error) {
	s, vm := d.s, d.s.vm
	sel, err := d.selectorOf(selV)
	if err != nil {
		return nil, err
	}
	var oo *goja.Object
	if present(optsV) {
		oo = optsV.ToObject(vm)
	}
	positive := func(field string) (int, bool, error) {
		v := get(oo, field)
		if !present(v) {
			return 0, false, nil
		}
		n, err := intArg(v, field)
		if err == nil && n == 0 {
			err = argErr("%s must be positive", field)
		}
		return n, true, err
	}
	limit, hasLimit, err := positive("limit")
	if err != nil {
		return nil, err
	}
	batch, hasBatch, err := positive("batchSize")
	if err != nil {
		return nil, err
	}
	if !hasBatch {
		batch = defaultListBatch
		if hasLimit {
			batch = min(limit, maxDefaultBatch)
		}
	}
	batch = min(batch, s.limits.MaxListLimit)
	reverse := false
	if r := get(oo, "reverse"); present(r) {
		reverse = r.ToBoolean()
	}
	if c := get(oo, "cursor"); present(c) && c.String() != "" {
		if err := sel.applyCursor(c.String(), reverse); err != nil {
			return nil, err
		}
	}
	if err := s.guard(d.name, store.Read); err != nil {
		return nil, err
	}

	it := vm.NewObject()
	var buf []store.Entry
	exhausted := bytes.Compare(sel.start, sel.end) >= 0
	yielded := 0
	_ = it.Set("cursor", "")
	finished := func() goja.Value {
		r := vm.NewObject()
		_ = r.Set("value", goja.Undefined())
		_ = r.Set("done", true)
		return r
	}
	item := func() goja.Value {
		if len(buf) == 0 || (hasLimit && yielded >= limit) {
			return finished()
		}
		e := buf[0]
		buf = buf[1:]
		yielded++
		if b, ok := store.TupleBytes(e.Key); ok && bytes.HasPrefix(b, sel.prefix) {
			_ = it.Set("cursor", base64.URLEncoding.EncodeToString(b[len(sel.prefix):]))
		}
		r := vm.NewObject()
		_ = r.Set("value", s.kvEntry(s.keyJS(e.Key), &e))
		_ = r.Set("done", false)
		return r
	}
	_ = it.Set("next", s.fn(func(goja.FunctionCall) goja.Value {
		if len(buf) > 0 || exhausted || (hasLimit && yielded >= limit) {
			return s.resolved(item())
		}
		n := batch
		if hasLimit {
			n = min(n, limit-yielded)
		}
		r := store.KeyRange{Start: store.TupleKey(sel.start), End: store.TupleKey(sel.end), Reverse: reverse, Limit: n}
		return s.async(func(ctx context.Context) (any, error) {
			res, err := s.st.ReadRanges(ctx, d.name, []store.KeyRange{r})
			if err != nil {
				return nil, err
			}
			return res[0], nil
		}, func(x any) goja.Value {
			buf = x.([]store.Entry)
			exhausted = len(buf) < n
			if len(buf) > 0 {
				last, _ := store.TupleBytes(buf[len(buf)-1].Key)
				if reverse {
					sel.end = last
				} else {
					sel.start = append(bytes.Clone(last), 0)
				}
			}
			return item()
		})
	}))
	_ = it.Set("return", s.fn(func(goja.FunctionCall) goja.Value {
		exhausted, buf = true, nil
		return s.resolved(finished())
	}))
	if s.asyncIter == nil {
		v, err := vm.RunProgram(asyncIterPrg)
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

// kvAtomic is kv.atomic(): check({key, versionstamp}…), set(key, value,
// {expireIn}), delete(key), sum(key, n), min(key, n), max(key, n),
// commit() → {ok: true, versionstamp} or {ok: false}.
type kvAtomic struct {
	d      kvDB
	checks []kvdb.Check
	muts   []kvdb.Mutation
}

func newKVAtomic(d kvDB) *kvAtomic { return &kvAtomic{d: d} }

func (b *kvAtomic) check(v goja.Value) error {
	co, ok := v.(*goja.Object)
	if !ok {
		return argErr("check takes {key, versionstamp} objects")
	}
	key, _, err := b.d.storedKey(co.Get("key"), "key")
	if err != nil {
		return err
	}
	c := kvdb.Check{Key: key}
	if vs := co.Get("versionstamp"); present(vs) {
		x, ok := vs.Export().(string)
		raw, err := hex.DecodeString(x)
		if !ok || err != nil || len(raw) != 10 {
			return argErr("invalid versionstamp: a versionstamp is 20 hexadecimal digits, or null for an absent key")
		}
		c.Versionstamp = raw
	}
	b.checks = append(b.checks, c)
	return nil
}

func (b *kvAtomic) set(key, value, opts goja.Value) error {
	k, _, err := b.d.storedKey(key, "key")
	if err != nil {
		return err
	}
	var data json.RawMessage
	if n, isU64, err := b.d.s.asKvU64(value); err != nil {
		return err
	} else if isU64 {
		data, err = denokv.ToData(denokv.EncLE64, binary.LittleEndian.AppendUint64(nil, n))
		if err != nil {
			return err
		}
	} else if data, err = b.d.s.data(value, "value"); err != nil {
		return err
	}
	ms, err := expireIn(opts)
	if err != nil {
		return err
	}
	ttl, err := store.MillisTTL(ms)
	if err != nil {
		return err
	}
	b.muts = append(b.muts, kvdb.Mutation{Key: k, Op: kvdb.Set, Data: data, TTL: ttl})
	return nil
}

func (b *kvAtomic) del(key goja.Value) error {
	k, _, err := b.d.storedKey(key, "key")
	if err != nil {
		return err
	}
	b.muts = append(b.muts, kvdb.Mutation{Key: k, Op: kvdb.Delete})
	return nil
}

// operand reads the argument of sum, min or max: a KvU64, or a bigint as
// one (0 to 2^64-1), or a JavaScript number (summed as Deno sums V8
// numbers; min and max take KvU64 only).
func (b *kvAtomic) operand(key, n goja.Value, op kvdb.Op) error {
	k, _, err := b.d.storedKey(key, "key")
	if err != nil {
		return err
	}
	m := kvdb.Mutation{Key: k, Op: op}
	if u, isU64, err := b.d.s.asKvU64(n); err != nil {
		return err
	} else if isU64 {
		m.Enc, m.Raw = denokv.EncLE64, binary.LittleEndian.AppendUint64(nil, u)
		b.muts = append(b.muts, m)
		return nil
	}
	switch x := n.Export().(type) {
	case *big.Int:
		u, err := u64Of(n)
		if err != nil {
			return argErr("%s: %s", op, store.Text(err))
		}
		m.Enc, m.Raw = denokv.EncLE64, binary.LittleEndian.AppendUint64(nil, u)
	case int64:
		m.Enc, m.Raw = denokv.EncV8, denokv.EncodeV8(denokv.Value{Kind: denokv.Number, N: float64(x)})
	case float64:
		m.Enc, m.Raw = denokv.EncV8, denokv.EncodeV8(denokv.Value{Kind: denokv.Number, N: x})
	default:
		return argErr("%s takes a bigint (a KvU64) or a number", op)
	}
	b.muts = append(b.muts, m)
	return nil
}

func (b *kvAtomic) full() error {
	if len(b.checks)+len(b.muts) >= store.MaxAtomicActions {
		return argErr("atomic has more than %d checks and mutations", store.MaxAtomicActions)
	}
	return nil
}

// commit applies the write: {ok: true, versionstamp}, or {ok: false} when
// a check failed.
func (b *kvAtomic) commit() goja.Value {
	return b.commitThen(func(v goja.Value) goja.Value { return v })
}

func (b *kvAtomic) commitThen(then func(goja.Value) goja.Value) goja.Value {
	s, name := b.d.s, b.d.name
	checks := append([]kvdb.Check(nil), b.checks...)
	muts := append([]kvdb.Mutation(nil), b.muts...)
	want := store.Read
	if len(muts) > 0 {
		want = store.Write
	}
	if err := s.guard(name, want); err != nil {
		return s.rejected(err)
	}
	return s.async(func(ctx context.Context) (any, error) {
		vs, ok, err := kvdb.Apply(ctx, s.st, name, checks, muts)
		if err != nil {
			return nil, err
		}
		if !ok {
			return "", nil
		}
		return hex.EncodeToString(vs), nil
	}, func(x any) goja.Value {
		o := s.vm.NewObject()
		vs := x.(string)
		_ = o.Set("ok", vs != "")
		if vs != "" {
			_ = o.Set("versionstamp", vs)
		}
		return then(o)
	})
}

// js is the builder as scripts see it: its methods throw on bad arguments
// and return the builder; commit is async.
func (b *kvAtomic) js() goja.Value {
	s := b.d.s
	o := s.vm.NewObject()
	must := func(err error) {
		if err != nil {
			panic(s.newError(err))
		}
	}
	_ = o.Set("check", s.fn(func(call goja.FunctionCall) goja.Value {
		for _, a := range call.Arguments {
			must(b.full())
			must(b.check(a))
		}
		return o
	}))
	_ = o.Set("set", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.full())
		must(b.set(call.Argument(0), call.Argument(1), call.Argument(2)))
		return o
	}))
	_ = o.Set("delete", s.fn(func(call goja.FunctionCall) goja.Value {
		must(b.full())
		must(b.del(call.Argument(0)))
		return o
	}))
	for _, op := range []kvdb.Op{kvdb.Sum, kvdb.Min, kvdb.Max} {
		_ = o.Set(op.String(), s.fn(func(call goja.FunctionCall) goja.Value {
			must(b.full())
			must(b.operand(call.Argument(0), call.Argument(1), op))
			return o
		}))
	}
	_ = o.Set("commit", s.fn(func(goja.FunctionCall) goja.Value { return b.commit() }))
	return o
}
