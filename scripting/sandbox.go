package scripting

import (
	"encoding/json"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/google/uuid"

	"github.com/flowkv/flowkv/internal/jsonx"
	"github.com/flowkv/flowkv/store"
)

// MaxJSONDepth bounds nesting in JSON.parse and JSON.stringify inside
// scripts (goja's implementations recurse in Go).
const MaxJSONDepth = 1000

// sandboxGlobals are the names a script cannot rebind through Run.Globals.
var sandboxGlobals = map[string]bool{
	"input": true, "dataStore": true, "kv": true, "openKv": true, "KvU64": true, "console": true, "crypto": true,
	"globalThis": true, "JSON": true, "Object": true, "Array": true, "Function": true,
	"Promise": true, "Error": true, "Symbol": true, "Math": true, "Date": true,
	"String": true, "Number": true, "Boolean": true, "RegExp": true, "Reflect": true,
}

// removedGlobals are not available to scripts: code generation from
// strings, and binary buffers whose constructors allocate their whole size
// at once (outside the memory budget's reach).
var removedGlobals = []string{
	"ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics",
	"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
	"Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
	"BigInt64Array", "BigUint64Array", "WeakRef", "FinalizationRegistry",
}

// lengthGuarded are the Array.prototype methods that loop natively (without
// checking for interruption) up to `length` without calling back into
// JavaScript, or allocate in proportion to it; they refuse arrays longer
// than the run's element budget. values is also Symbol.iterator (spread,
// for-of, Array.from of an array). Methods that only read (indexOf,
// includes, and the callback methods map, forEach, … which skip the holes
// of a sparse array natively) allocate nothing in proportion: on a sparse
// array with a huge length they can keep a core busy after the run was
// stopped, but the run itself ends on time.
var lengthGuarded = []string{
	"concat", "copyWithin", "fill", "flat", "join", "reverse", "slice", "sort", "splice",
	"toLocaleString", "toReversed", "toSorted", "toSpliced", "with", "unshift", "values",
	"keys", "entries",
}

// prototypes fetches the prototypes of async and generator functions, whose
// constructors compile strings.
// asyncIterPrg yields the symbol kv.list iterators are keyed by. goja has
// no Symbol.asyncIterator; esbuild's lowering of `for await` falls back to
// Symbol.for("Symbol.asyncIterator"), so that is the key. It is fetched on
// the first kv.list of a run (touching Symbol costs every run otherwise).
var asyncIterPrg = goja.MustCompile("asyncIterator", `Symbol.for("Symbol.asyncIterator")`, false)

var (
	asyncProtoPrg = goja.MustCompile("prototypes", "Object.getPrototypeOf(async function(){})", false)
	genProtoPrg   = goja.MustCompile("prototypes", "Object.getPrototypeOf(function*(){})", false)
)

func (s *runState) maxElems() int64 { return s.e.opts.MaxMemory / 16 }

// prepare builds the sandbox that does not depend on a run: hardened
// built-ins, console, crypto, dataStore and kv (their host functions read
// the run's store, grants and limits when called). It runs ahead of time
// on the engine's pool goroutine, or inline when the pool is empty.
func (s *runState) prepare() {
	vm := s.vm
	vm.SetMaxCallStackSize(s.e.opts.MaxCallStack)
	// Never read source maps (goja would read the file a
	// `//# sourceMappingURL=` comment names).
	vm.SetParserOptions(parser.WithDisableSourceMaps)
	vm.SetPromiseRejectionTracker(s.trackRejection)
	orig := vm.GlobalObject()
	s.errorCtor = orig.Get("Error").(*goja.Object)
	// Scripts see a global object of their own that reads through to the
	// built-in one: removed names are simply absent (the built-in global
	// would have to build them to delete them), Reflect is hardened when
	// first read, and the built-in global is unreachable (the new one's
	// prototype is Object.prototype).
	gs := &globalScope{s: s, orig: orig, own: map[string]goja.Value{}}
	g := vm.NewDynamicObject(gs)
	gs.self = g
	s.globals = gs
	vm.SetGlobalObject(g)
	s.noCodegen(g)
	s.guardArrays(g)
	s.guardStrings(g)
	s.guardApply(g)

	_ = g.Set("console", s.console())
	cr := vm.NewObject()
	_ = cr.Set("randomUUID", func(goja.FunctionCall) goja.Value { return vm.ToValue(uuid.NewString()) })
	_ = g.Set("crypto", cr)
	_ = g.Set("dataStore", s.dataStore())
	_ = g.Set("kv", s.kv())
	_ = g.Set("openKv", s.openKv)
	_ = g.Set("KvU64", s.kvU64Class())
}

// bind sets the run's input and globals; it runs on the run's goroutine.
func (s *runState) bind() error {
	g := s.vm.GlobalObject()
	in, err := s.parseJSON(s.r.Input)
	if err != nil {
		return s.fmtErr(store.CodeInvalidArgument, "input is not valid JSON (or nested deeper than %d levels)", MaxJSONDepth)
	}
	_ = g.Set("input", in)
	for name, raw := range s.r.Globals {
		if sandboxGlobals[name] || name == "" {
			return s.fmtErr(store.CodeInvalidArgument, "global %q clashes with the sandbox's own", name)
		}
		v, err := s.parseJSON(raw)
		if err != nil {
			return s.fmtErr(store.CodeInvalidArgument, "global %q is not valid JSON", name)
		}
		_ = g.Set(name, v)
	}
	return nil
}

// parseJSON turns raw JSON into a JavaScript value (null when empty).
func (s *runState) parseJSON(raw json.RawMessage) (goja.Value, error) {
	if len(raw) == 0 {
		return goja.Null(), nil
	}
	if !json.Valid(raw) {
		return nil, store.ErrInvalidArgument
	}
	if at, _ := jsonx.TooDeep(raw, MaxJSONDepth); at >= 0 {
		return nil, store.ErrInvalidArgument
	}
	if v, ok := s.fromJSON(raw); ok {
		return v, nil
	}
	return s.parseFn()(goja.Undefined(), s.vm.ToValue(string(raw)))
}

// call invokes fn and rethrows its error into the running script.
func (s *runState) call(fn goja.Callable, this goja.Value, args ...goja.Value) goja.Value {
	v, err := fn(this, args...)
	if err != nil {
		panic(err)
	}
	return v
}

func (s *runState) noCodegen(g *goja.Object) {
	vm := s.vm
	thrower := vm.ToValue(func(goja.FunctionCall) goja.Value {
		s.throw(store.CodeInvalidArgument, "code generation from strings (eval, Function) is disabled in scripts")
		return nil
	}).(*goja.Object)
	fnCtor := g.Get("Function").(*goja.Object)
	fnProto := fnCtor.Get("prototype").(*goja.Object)
	_ = thrower.DefineDataProperty("prototype", fnProto, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	_ = fnProto.Set("constructor", thrower)
	_ = g.Set("Function", thrower)
	_ = g.Set("eval", thrower)
	s.codegenThrower = thrower
	s.disableCtor(asyncProtoPrg)
}

// disableCtor replaces the constructor of the function prototype prg
// evaluates to (AsyncFunction, GeneratorFunction) with the thrower.
func (s *runState) disableCtor(prg *goja.Program) {
	if v, err := s.vm.RunProgram(prg); err == nil {
		if p, ok := v.(*goja.Object); ok {
			_ = p.DefineDataProperty("constructor", s.codegenThrower, goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
}

// jsonObject returns goja's JSON object, hardened on first use (only a
// script that names JSON can reach it, so runs that do not never build it).
func (s *runState) jsonObject() *goja.Object {
	if s.jsonObj == nil {
		s.jsonObj = s.globals.orig.Get("JSON").(*goja.Object)
		s.guardJSON(s.jsonObj)
	}
	return s.jsonObj
}

// parseFn is goja's own JSON.parse (the fallback for values the direct
// conversion does not take).
func (s *runState) parseFn() goja.Callable {
	if s.jsonParse == nil {
		s.jsonObject()
	}
	return s.jsonParse
}

func (s *runState) guardJSON(j *goja.Object) {
	vm := s.vm
	parse, _ := goja.AssertFunction(j.Get("parse"))
	stringify, _ := goja.AssertFunction(j.Get("stringify"))
	s.jsonParse = parse
	_ = j.Set("parse", func(call goja.FunctionCall) goja.Value {
		text := call.Argument(0)
		if str, ok := text.Export().(string); ok {
			if int64(len(str)) > s.e.opts.MaxMemory {
				s.throw(store.CodeTooLarge, "JSON.parse: text is %d bytes, the memory budget is %d", len(str), s.e.opts.MaxMemory)
			}
			if at, _ := jsonx.TooDeep(str, MaxJSONDepth); at >= 0 {
				s.throw(store.CodeInvalidArgument, "JSON.parse: nested deeper than %d levels", MaxJSONDepth)
			}
		}
		return s.call(parse, goja.Undefined(), call.Arguments...)
	})
	_ = j.Set("stringify", func(call goja.FunctionCall) goja.Value {
		repl := call.Argument(1)
		userFn, isFn := goja.AssertFunction(repl)
		var allow map[string]bool
		if ro, ok := repl.(*goja.Object); ok && !isFn && ro.ClassName() == "Array" {
			allow = map[string]bool{}
			n := ro.Get("length").ToInteger()
			if n > s.maxElems() {
				s.throw(store.CodeTooLarge, "JSON.stringify: replacer list too long")
			}
			for i := int64(0); i < n; i++ {
				allow[ro.Get(itoa(int(i))).String()] = true
			}
		}
		depth := map[*goja.Object]int{}
		calls := int64(0)
		budget := s.maxElems()
		wrapper := vm.ToValue(func(c goja.FunctionCall) goja.Value {
			calls++
			if calls > budget {
				s.throw(store.CodeTooLarge, "JSON.stringify: more than %d values", budget)
			}
			if calls&255 == 0 && s.ctx.Err() != nil {
				panic(s.newError(s.ctxError()))
			}
			holder, _ := c.This.(*goja.Object)
			key, v := c.Argument(0), c.Argument(1)
			d := depth[holder]
			if allow != nil && calls > 1 && holder != nil && holder.ClassName() != "Array" && !allow[key.String()] {
				return goja.Undefined()
			}
			if isFn {
				v = s.call(userFn, holder, key, v)
			}
			if o, ok := v.(*goja.Object); ok {
				if d+1 > MaxJSONDepth {
					s.throw(store.CodeInvalidArgument, "JSON.stringify: nested deeper than %d levels (or cyclic)", MaxJSONDepth)
				}
				if o.ClassName() == "Array" && o.Get("length").ToInteger() > budget {
					s.throw(store.CodeTooLarge, "JSON.stringify: array longer than %d elements", budget)
				}
				depth[o] = d + 1
			}
			return v
		})
		return s.call(stringify, goja.Undefined(), call.Argument(0), wrapper, call.Argument(2))
	})
}

func (s *runState) lengthOf(v goja.Value) int64 {
	o, ok := v.(*goja.Object)
	if !ok {
		return 0
	}
	l := o.Get("length")
	if l == nil || goja.IsUndefined(l) {
		return 0
	}
	return l.ToInteger()
}

func (s *runState) guardArrays(g *goja.Object) {
	vm := s.vm
	arrayCtor := g.Get("Array").(*goja.Object)
	proto := arrayCtor.Get("prototype").(*goja.Object)
	max := s.maxElems()
	for _, name := range lengthGuarded {
		orig, ok := goja.AssertFunction(proto.Get(name))
		if !ok {
			continue
		}
		name := name
		isJoin := name == "join" || name == "toLocaleString"
		fn := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if n := s.lengthOf(call.This); n > max {
				s.throw(store.CodeTooLarge, "Array.prototype.%s on %d elements: the limit is %d", name, n, max)
			}
			if isJoin {
				// join recurses natively into nested arrays' toString.
				s.joinDepth++
				defer func() { s.joinDepth-- }()
				if s.joinDepth > MaxJSONDepth {
					s.throw(store.CodeInvalidArgument, "Array.prototype.%s: arrays nested deeper than %d levels", name, MaxJSONDepth)
				}
			}
			return s.call(orig, call.This, call.Arguments...)
		})
		_ = proto.Set(name, fn)
		if name == "values" {
			_ = proto.SetSymbol(goja.SymIterator, fn)
		}
	}
	if from, ok := goja.AssertFunction(arrayCtor.Get("from")); ok {
		_ = arrayCtor.Set("from", func(call goja.FunctionCall) goja.Value {
			if n := s.lengthOf(call.Argument(0)); n > max {
				s.throw(store.CodeTooLarge, "Array.from of %d elements: the limit is %d", n, max)
			}
			return s.call(from, call.This, call.Arguments...)
		})
	}
}

func (s *runState) guardStrings(g *goja.Object) {
	vm := s.vm
	proto := g.Get("String").(*goja.Object).Get("prototype").(*goja.Object)
	budget := s.e.opts.MaxMemory / 2 // UTF-16 code units
	for _, name := range []string{"repeat", "padStart", "padEnd"} {
		orig, ok := goja.AssertFunction(proto.Get(name))
		if !ok {
			continue
		}
		name := name
		_ = proto.Set(name, vm.ToValue(func(call goja.FunctionCall) goja.Value {
			var n int64
			switch name {
			case "repeat":
				n = int64(len(safeString(call.This))) * call.Argument(0).ToInteger()
			default:
				n = call.Argument(0).ToInteger()
			}
			if n > budget {
				s.throw(store.CodeTooLarge, "String.prototype.%s would build %d characters: the memory budget allows %d", name, n, budget)
			}
			return s.call(orig, call.This, call.Arguments...)
		}))
	}
}

func (s *runState) guardApply(g *goja.Object) {
	vm := s.vm
	max := s.maxElems()
	// g.Function is noCodegen's thrower by now; its prototype property is
	// the real Function.prototype.
	proto := g.Get("Function").(*goja.Object).Get("prototype").(*goja.Object)
	if apply, ok := goja.AssertFunction(proto.Get("apply")); ok {
		_ = proto.Set("apply", vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if n := s.lengthOf(call.Argument(1)); n > max {
				s.throw(store.CodeTooLarge, "Function.prototype.apply with %d arguments: the limit is %d", n, max)
			}
			return s.call(apply, call.This, call.Arguments...)
		}))
	}
}

// guardReflect bounds Reflect.apply and Reflect.construct like apply; it
// runs when a script first reads Reflect.
func (s *runState) guardReflect(refl *goja.Object) {
	vm := s.vm
	max := s.maxElems()
	for _, name := range []string{"apply", "construct"} {
		orig, ok := goja.AssertFunction(refl.Get(name))
		if !ok {
			continue
		}
		name := name
		_ = refl.Set(name, vm.ToValue(func(call goja.FunctionCall) goja.Value {
			idx := 2
			if name == "construct" {
				idx = 1
			}
			if n := s.lengthOf(call.Argument(idx)); n > max {
				s.throw(store.CodeTooLarge, "Reflect.%s with %d arguments: the limit is %d", name, n, max)
			}
			return s.call(orig, call.This, call.Arguments...)
		}))
	}
}

// console captures log lines into the run's bounded log.
func (s *runState) console() *goja.Object {
	c := newLazy(s.vm)
	for _, level := range []string{"log", "info", "warn", "error", "debug"} {
		level := level
		c.def(level, func(call goja.FunctionCall) goja.Value {
			var b strings.Builder
			for i, a := range call.Arguments {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(s.inspect(a))
				if b.Len() > s.e.opts.MaxLogBytes {
					break
				}
			}
			s.log(level, b.String())
			return goja.Undefined()
		})
	}
	return s.vm.NewDynamicObject(c)
}

// globalScope is the global object scripts see (a goja dynamic object).
type globalScope struct {
	s    *runState
	self *goja.Object
	orig *goja.Object
	// own holds what was assigned or deleted (nil) on this global.
	own        map[string]goja.Value
	reflectSet bool
}

var removedSet = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range removedGlobals {
		m[n] = true
	}
	return m
}()

func (g *globalScope) Get(key string) goja.Value {
	if v, ok := g.own[key]; ok {
		return v
	}
	switch {
	case removedSet[key]:
		return nil
	case key == "globalThis":
		return g.self
	case key == "Reflect" && !g.reflectSet:
		g.reflectSet = true
		if r, ok := g.orig.Get("Reflect").(*goja.Object); ok {
			g.s.guardReflect(r)
		}
	case key == "JSON":
		g.s.jsonObject()
	}
	return g.orig.Get(key)
}

func (g *globalScope) Set(key string, val goja.Value) bool {
	if val == nil {
		val = goja.Undefined()
	}
	g.own[key] = val
	return true
}

func (g *globalScope) Has(key string) bool {
	if v, ok := g.own[key]; ok {
		return v != nil
	}
	if removedSet[key] {
		return false
	}
	return key == "globalThis" || g.orig.Get(key) != nil
}

func (g *globalScope) Delete(key string) bool {
	g.own[key] = nil
	return true
}

func (g *globalScope) Keys() []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range g.orig.Keys() {
		if v, ok := g.own[k]; (ok && v == nil) || removedSet[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	for k, v := range g.own {
		if v != nil && !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// lazyObject is a plain-looking object whose methods become JavaScript
// functions only when first read: a run pays for the bindings it uses.
type lazyObject struct {
	vm    *goja.Runtime
	names []string
	fns   map[string]func(goja.FunctionCall) goja.Value
	vals  map[string]goja.Value
}

func newLazy(vm *goja.Runtime) *lazyObject {
	return &lazyObject{vm: vm, fns: map[string]func(goja.FunctionCall) goja.Value{}, vals: map[string]goja.Value{}}
}

func (o *lazyObject) def(name string, f func(goja.FunctionCall) goja.Value) {
	o.names = append(o.names, name)
	o.fns[name] = f
}

func (o *lazyObject) Get(key string) goja.Value {
	if v, ok := o.vals[key]; ok {
		return v
	}
	if f := o.fns[key]; f != nil {
		v := o.vm.ToValue(f)
		o.vals[key] = v
		return v
	}
	return nil
}

func (o *lazyObject) Set(key string, val goja.Value) bool {
	if _, ok := o.vals[key]; !ok && o.fns[key] == nil {
		o.names = append(o.names, key)
	}
	if val == nil {
		val = goja.Undefined()
	}
	o.vals[key] = val
	return true
}

func (o *lazyObject) Has(key string) bool {
	_, ok := o.vals[key]
	return ok || o.fns[key] != nil
}

func (o *lazyObject) Delete(key string) bool {
	delete(o.vals, key)
	delete(o.fns, key)
	for i, n := range o.names {
		if n == key {
			o.names = append(o.names[:i:i], o.names[i+1:]...)
			break
		}
	}
	return true
}

func (o *lazyObject) Keys() []string { return append([]string(nil), o.names...) }

// inspect renders a console argument: strings as they are, errors as
// "Name: message", other values as JSON when they encode, else String().
func (s *runState) inspect(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if str, ok := v.Export().(string); ok {
		return str
	}
	if o, ok := v.(*goja.Object); ok {
		if o.ClassName() == "Error" {
			return safeString(v)
		}
		if _, isFn := goja.AssertFunction(v); isFn {
			return "[function]"
		}
	}
	if b, err := s.toJSON(v, 16<<10, 32, "value"); err == nil {
		return string(b)
	}
	return safeString(v)
}
