package scripting

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// adversarial is the corpus of hostile scripts: each must end with one of
// its typed errors, and the process must keep serving afterwards.
var adversarial = []struct {
	name  string
	src   string
	codes []store.Code
}{
	{"infinite loop", `for (;;) {}`, codes(store.CodeTimeout)},
	{"infinite microtask loop", `for (;;) await null`, codes(store.CodeTimeout)},
	{"catch cannot swallow the interrupt", `for (;;) { try { for (;;) {} } catch (e) {} }`, codes(store.CodeTimeout)},
	{"finally cannot swallow the interrupt", `try { for (;;) {} } finally { for (;;) {} }`, codes(store.CodeTimeout)},
	{"deep recursion", `function f(n) { return f(n + 1) + 1 } f(0)`, codes(store.CodeTooLarge)},
	{"deep async recursion", `async function f() { return await f() } await f()`, codes(store.CodeTooLarge)},
	{"endless async chain", `async function f() { await null; return f() } await f()`, codes(store.CodeTimeout, store.CodeTooLarge)},
	{"string doubling", `let s = 'x'; for (;;) s += s`, codes(store.CodeTooLarge, store.CodeTimeout)},
	{"huge repeat", `return 'x'.repeat(1e9).length`, codes(store.CodeTooLarge)},
	{"huge padStart", `return ''.padStart(2 ** 30, 'ab').length`, codes(store.CodeTooLarge)},
	{"array growth", `const a = []; for (;;) a.push({n: a.length, s: 'payload-' + a.length})`, codes(store.CodeTooLarge, store.CodeTimeout)},
	{"sparse array fill", `return new Array(1e9).fill(0).length`, codes(store.CodeTooLarge)},
	{"sparse array join", `const a = []; a.length = 1e9; return a.join('xx').length`, codes(store.CodeTooLarge)},
	{"sparse array spread", `const a = []; a.length = 1e8; return [...a].length`, codes(store.CodeTooLarge)},
	{"Array.from length", `return Array.from({length: 1e9}).length`, codes(store.CodeTooLarge)},
	{"apply with huge arguments", `return Math.max.apply(null, {length: 1e9})`, codes(store.CodeTooLarge)},
	{"Reflect.apply with huge arguments", `return Reflect.apply(Math.max, null, {length: 1e9})`, codes(store.CodeTooLarge)},
	{"typed array allocation", `return new Float64Array(2 ** 30).length`, codes(store.CodeInvalidArgument)},
	{"ArrayBuffer through globalThis", `return new globalThis.ArrayBuffer(2 ** 31).byteLength`, codes(store.CodeInvalidArgument)},
	{"typed array through the global's prototype", `const G = Object.getPrototypeOf(globalThis); return new G.Uint8Array(2 ** 31).length`, codes(store.CodeInvalidArgument)},
	{"typed array through this", `return new this.Uint8Array(2 ** 31).length`, codes(store.CodeInvalidArgument)},
	{"stringify sparse array", `return JSON.stringify(new Array(1e8)).length`, codes(store.CodeTooLarge)},
	{"catastrophic regexp", `const re = /^(a+)+\1$/; const s = 'a'.repeat(40) + 'b'; for (;;) re.test(s)`, codes(store.CodeTimeout, store.CodeTooLarge)},
	{"deep JSON.parse", `return JSON.parse('['.repeat(1e5) + ']'.repeat(1e5))`, codes(store.CodeInvalidArgument)},
	{"deep JSON.stringify", `let o = {}; for (let i = 0; i < 1100; i++) o = {a: o}; return JSON.stringify(o).length`, codes(store.CodeInvalidArgument)},
	{"deep array toString", `let a = []; for (let i = 0; i < 1100; i++) a = [a]; return String(a).length`, codes(store.CodeInvalidArgument)},
	{"deeply nested source", strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000), codes(store.CodeInvalidArgument)},
	{"source too large", "return 1;" + strings.Repeat(" ", 300<<10), codes(store.CodeTooLarge)},
	{"store promise flood", `for (;;) dataStore.findNameKey('a', 'b')`, codes(store.CodeTooLarge)},
	{"plain promise flood", `for (;;) Promise.resolve().then(() => {})`, codes(store.CodeTimeout, store.CodeTooLarge)},
	{"require", `const fs = require('fs'); return fs.readFileSync('/etc/passwd')`, codes(store.CodeInvalidArgument)},
	{"process", `process.exit(1)`, codes(store.CodeInvalidArgument)},
	{"dynamic import", `const m = await import('fs'); return m`, codes(store.CodeInvalidArgument)},
	{"fetch", `return await fetch('http://127.0.0.1/')`, codes(store.CodeInvalidArgument)},
	{"timers", `setTimeout(() => {}, 1)`, codes(store.CodeInvalidArgument)},
	{"Function constructor", `return Function('return this')().process.exit()`, codes(store.CodeInvalidArgument)},
	{"constructor escape", `return (function () {}).constructor('return process')()`, codes(store.CodeInvalidArgument)},
	{"async constructor escape", `return (async function () {}).constructor('return 1')`, codes(store.CodeInvalidArgument)},
	{"generator constructor escape", `return (function* () {}).constructor('yield 1')`, codes(store.CodeInvalidArgument)},
	{"this.constructor.constructor", `return this.constructor.constructor('return this')()`, codes(store.CodeInvalidArgument)},
	{"eval", `return eval('1 + 1')`, codes(store.CodeInvalidArgument)},
	{"reserved namespace", `return await dataStore.fetch({name: '_flowkv.tokens'})`, codes(store.CodeAccessDenied)},
	{"close the wrapper", `}); (async function () {`, codes(store.CodeInvalidArgument)},
	{"result too large", `let s = 'x'; for (let i = 0; i < 21; i++) s += s; return s`, codes(store.CodeTooLarge)},
	{"result nested too deep", `let o = 1; for (let i = 0; i < 100; i++) o = [o]; return o`, codes(store.CodeInvalidArgument)},
	{"cyclic result", `const o = {}; o.o = o; return o`, codes(store.CodeInvalidArgument)},
	{"throwing getter in result", `return {get x() { throw new Error('no') }}`, codes(store.CodeInvalidArgument)},
	{"looping getter in result", `return {get x() { for (;;) {} }}`, codes(store.CodeTimeout)},
	{"self-returning toJSON", `return {toJSON() { return this }}`, codes(store.CodeInvalidArgument)},
	{"looping proxy trap", `return new Proxy({}, {ownKeys() { for (;;) {} }})`, codes(store.CodeTimeout)},
	{"console flood", `for (;;) console.log('x'.repeat(1000))`, codes(store.CodeTimeout)},
	{"never settles", `await new Promise(() => {})`, codes(store.CodeInvalidArgument)},
	{"unhandled rejection", `Promise.reject(new Error('lost')); return 1`, codes(store.CodeInvalidArgument)},
	{"huge data write", `let s = 'x'; for (let i = 0; i < 21; i++) s += s; await dataStore.upsert('a', 'b', s)`, codes(store.CodeTooLarge)},
}

func codes(c ...store.Code) []store.Code { return c }

// TestAdversarial runs the corpus one by one (not in parallel: the memory
// cases are judged by the process heap).
func TestAdversarial(t *testing.T) {
	// 2 s: at load ~35 a 1 s limit ran out before the stack guard ("deep
	// recursion") or the empty event loop ("never settles") answered.
	const timeout = 2 * time.Second
	e := New(Options{Timeout: timeout, MaxPendingCalls: 100})
	st := openStore(t)
	if len(adversarial) < 25 {
		t.Fatalf("corpus has %d scripts, want at least 25", len(adversarial))
	}
	var worst time.Duration
	for _, c := range adversarial {
		start := time.Now()
		res, err := e.Run(context.Background(), Run{Name: "hostile", Source: c.src, Store: st, Grants: store.AllGrants()})
		took := time.Since(start)
		if over := took - timeout; over > worst {
			worst = over
		}
		if err == nil {
			t.Errorf("%s: no error, result %.80s", c.name, res.Value)
			continue
		}
		ok := false
		for _, code := range c.codes {
			ok = ok || store.CodeOf(err) == code
		}
		if !ok {
			t.Errorf("%s: got %v, want one of %v", c.name, err, c.codes)
		}
		t.Logf("%-36s %-9v %s", c.name, took.Round(time.Millisecond), truncate(err.Error(), 110))
		e.Wait() // the next case starts with the heap of this one collectable
	}
	t.Logf("largest time past the %v limit: %v", timeout, worst)
	// The host keeps serving.
	jsonEq(t, mustRun(t, e, st, `await kv.set(['ok'], 1); return (await kv.get(['ok'])).value`, nil), `1`)
	// Every abandoned runtime ends (its native operation returns and it
	// sees the interrupt).
	e.Wait()
}

// TestConcurrentRuns is the -race check: 64 runs at once sharing an engine
// and a store, each with its own event loop and store calls in flight.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 60 * time.Second})
	st := openStore(t)
	src := `
const id = input.id;
await Promise.all([
  dataStore.upsert('conc', 'a' + id, {id}),
  kv.set(['conc', 'b', id], id),
  kv.atomic().sum(['conc', 'total'], 1).commit(),
]);
const got = await Promise.all([dataStore.findNameKey('conc', 'a' + id), kv.get(['conc', 'b', id])]);
console.log('run', id);
globalThis.mine = id;
return got[0].data.id + got[1].value;`
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := run(t, e, st, src, map[string]int{"id": i})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			if string(res.Value) != itoa(2*i) || len(res.Logs) != 1 {
				t.Errorf("run %d: %s %v", i, res.Value, res.Logs)
			}
		}(i)
	}
	wg.Wait()
	ent, err := st.FindNameKey(context.Background(), "default", tupleKey(t, "conc", "total"))
	if err != nil || string(ent.Data) != "64" {
		t.Fatalf("total: %s %v", ent.Data, err)
	}
}

// A source map comment never makes the engine read a file (goja's parser
// would read it from disk by default: /dev/zero would never end).
func TestSourceMapsOff(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: 5 * time.Second})
	for _, src := range []string{
		"return 1\n//# sourceMappingURL=/dev/zero",
		"return 1\n//# sourceMappingURL=file:///dev/zero",
		"const x: number = 1; return x\n//# sourceMappingURL=/dev/zero",
	} {
		res, err := e.Run(context.Background(), Run{Source: src})
		if err != nil || string(res.Value) != "1" {
			t.Fatalf("%q: %s %v", src, res.Value, err)
		}
	}
}
