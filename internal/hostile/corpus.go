// Package hostile is the corpus of hostile scripts that flowkv's sandbox
// must contain: every one must fail with one of its codes, within its time
// limit plus a short grace, without the server noticing. The tests of this
// package run the corpus through the HTTP API of a real `flowkv serve`
// built without the race detector (the build users run), with a read-only
// token, while innocent runs go on beside it.
package hostile

import (
	"strings"

	"github.com/flowkv/flowkv/store"
)

// Vector is one attack. An attack that makes its worker run out of memory
// usually fails with too_large; on a loaded machine the worker may still be
// allocating at the time limit, and the run fails with timeout instead:
// both are contained.
type Vector struct {
	// Name says what the attack tries.
	Name string
	// Kind groups attacks: memory, stack, parser, native-loop, promise,
	// getter, regexp, compile-time, escape, store, output.
	Kind string
	// Source is the script.
	Source string
	// Codes are the outcomes that count as contained.
	Codes []store.Code
}

func codes(c ...store.Code) []store.Code { return c }

var (
	tooLarge = store.CodeTooLarge
	timeout  = store.CodeTimeout
	invalid  = store.CodeInvalidArgument
	denied   = store.CodeAccessDenied
)

// Corpus is every attack the tests run. The first ones are the vectors
// reported in issue 11, which each ended the server's process before the
// sandbox ran scripts in worker processes.
var Corpus = []Vector{
	// Reported: each was a Go fatal error in the serving process.
	{"array map allocating 2^32-1 elements", "memory", `return new Array(2**32 - 1).map(x => x).length;`, codes(tooLarge, timeout)},
	{"generator method constructor compiling a deep source", "parser", `return ({*'m'(){}}).m.constructor('['.repeat(300000))`, codes(tooLarge, invalid, timeout)},
	{"repeat length x count wrapping int64", "memory", `return 'x'.repeat(2**20).repeat(2**44+1).length`, codes(tooLarge, timeout)},
	{"join reading length twice (TOCTOU getter)", "getter", `let n = 0; return Array.prototype.join.call({get length(){ return n++ ? 2**32-1 : 0 }}, 'y'.repeat(1000)).length`, codes(tooLarge, timeout)},
	{"one join building 600 MB", "memory", `const a = new Array(600000).fill('x'.repeat(1000)); return a.join('').length`, codes(tooLarge, timeout)},
	{"240 KB of 1+1+...+1 (quadratic compile)", "compile-time", "return 1" + strings.Repeat("+1", 120000), codes(timeout, tooLarge, invalid)},

	// Memory.
	{"string doubling", "memory", `let s = 'x'; for (;;) s += s`, codes(tooLarge, timeout)},
	{"array push growth", "memory", `const a = []; for (;;) a.push({n: a.length, s: 'payload-' + a.length})`, codes(tooLarge, timeout)},
	{"object key growth", "memory", `const o = {}; for (let i = 0; ; i++) o['k' + i] = 'v' + i`, codes(tooLarge, timeout)},
	{"Map growth", "memory", `const m = new Map(); for (let i = 0; ; i++) m.set(i, 'v' + i)`, codes(tooLarge, timeout)},
	{"huge repeat", "memory", `return 'x'.repeat(1e9).length`, codes(tooLarge)},
	{"huge padStart", "memory", `return ''.padStart(2 ** 30, 'ab').length`, codes(tooLarge)},
	{"huge padEnd", "memory", `return 'a'.padEnd(2 ** 30).length`, codes(tooLarge)},
	{"sparse array fill", "memory", `return new Array(1e9).fill(0).length`, codes(tooLarge)},
	{"sparse array join", "memory", `const a = []; a.length = 1e9; return a.join('xx').length`, codes(tooLarge)},
	{"sparse array spread", "memory", `const a = []; a.length = 1e8; return [...a].length`, codes(tooLarge)},
	{"Array.from a huge length", "memory", `return Array.from({length: 1e9}).length`, codes(tooLarge)},
	{"concat of a 2^32-1 array", "memory", `return [].concat(new Array(2**32 - 1)).length`, codes(tooLarge, timeout)},
	{"slice of a 2^32-1 array-like", "memory", `return Array.prototype.slice.call({length: 2**32 - 1}).length`, codes(tooLarge, timeout)},
	{"sort of a 2^32-1 array", "memory", `return new Array(2**32 - 1).sort().length`, codes(tooLarge, timeout)},
	{"flat of many arrays", "memory", `return new Array(3e6).fill([1, 2, 3, 4, 5, 6, 7, 8]).flat().length`, codes(tooLarge, timeout)},
	{"split into one string per character", "memory", `return 'x'.repeat(2**25).split('').length`, codes(tooLarge, timeout)},
	{"JSON.parse of twenty million numbers", "memory", `return JSON.parse('[' + '1,'.repeat(2e7) + '1]').length`, codes(tooLarge, timeout)},
	{"stringify a sparse array", "memory", `return JSON.stringify(new Array(1e8)).length`, codes(tooLarge)},
	{"replace doubling a big string", "memory", `let s = 'a'.repeat(2**24); for (;;) s = s.replace(/a/g, 'aa')`, codes(tooLarge, timeout)},
	{"Object.fromEntries of millions", "memory", `return Object.keys(Object.fromEntries(new Array(3e6).fill(0).map((_, i) => ['k' + i, i]))).length`, codes(tooLarge, timeout)},
	{"Set of millions of strings", "memory", `const s = new Set(); for (let i = 0; ; i++) s.add('entry-' + i + '-' + 'x'.repeat(64))`, codes(tooLarge, timeout)},
	{"String.raw over a huge raw length", "memory", `return String.raw({raw: {length: 2**32 - 1}}, 'x').length`, codes(tooLarge, timeout)},
	{"apply with a billion arguments", "memory", `return Math.max.apply(null, {length: 1e9})`, codes(tooLarge)},
	{"Reflect.apply with a billion arguments", "memory", `return Reflect.apply(Math.max, null, {length: 1e9})`, codes(tooLarge)},
	{"Reflect.construct with a billion arguments", "memory", `return Reflect.construct(Array, {length: 1e9}).length`, codes(tooLarge)},
	{"BigInt power with a huge exponent", "memory", `return String(2n ** 100000000n).length`, codes(tooLarge, timeout)},
	{"typed array allocation", "memory", `return new Float64Array(2 ** 30).length`, codes(invalid)},

	// Stack.
	{"deep recursion", "stack", `function f(n) { return f(n + 1) + 1 } f(0)`, codes(tooLarge)},
	{"deep async recursion", "stack", `async function f() { return await f() } await f()`, codes(tooLarge)},
	{"toString recursion", "stack", `const o = {toString() { return String(o) }}; return String(o)`, codes(tooLarge)},
	{"getter recursion", "stack", `const o = {get x() { return this.x }}; return o.x`, codes(tooLarge)},
	{"Proxy get recursion", "stack", `const p = new Proxy({}, {get(t, k, r) { return r[k] }}); return p.x`, codes(tooLarge)},
	{"toJSON recursion", "stack", `const o = {toJSON() { return JSON.stringify(o) }}; return JSON.stringify(o)`, codes(tooLarge)},
	{"deep JSON.parse", "stack", `return JSON.parse('['.repeat(1e5) + ']'.repeat(1e5))`, codes(invalid)},
	{"deep JSON.stringify", "stack", `let o = {}; for (let i = 0; i < 1100; i++) o = {a: o}; return JSON.stringify(o).length`, codes(invalid)},
	{"deep array toString", "stack", `let a = []; for (let i = 0; i < 1100; i++) a = [a]; return String(a).length`, codes(invalid)},
	{"deep nested result", "stack", `let o = {}; for (let i = 0; i < 20000; i++) o = {a: o}; return o`, codes(invalid, tooLarge)},

	// Parser and compile time.
	{"deeply nested parentheses", "parser", strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000), codes(invalid)},
	{"deeply nested array literal", "parser", "return " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000), codes(invalid)},
	{"deeply nested functions", "parser", strings.Repeat("function a(){", 3000) + strings.Repeat("}", 3000), codes(invalid)},
	{"deeply nested template literals", "parser", "return `" + strings.Repeat("${`", 3000) + strings.Repeat("`}", 3000) + "`", codes(invalid)},
	{"source over the size limit", "parser", "return 1;" + strings.Repeat(" ", 300<<10), codes(tooLarge)},
	{"generator constructor through a prototype", "parser", `return Object.getPrototypeOf(function*(){}).constructor('[' .repeat(300000))`, codes(invalid, tooLarge)},
	{"async generator method constructor", "parser", `return ({async *m(){}}).m.constructor('yield 1')`, codes(invalid)},

	// Loops in JavaScript and in native code.
	{"infinite loop", "native-loop", `for (;;) {}`, codes(timeout)},
	{"catch cannot swallow the stop", "native-loop", `for (;;) { try { for (;;) {} } catch (e) {} }`, codes(timeout)},
	{"finally cannot swallow the stop", "native-loop", `try { for (;;) {} } finally { for (;;) {} }`, codes(timeout)},
	{"indexOf over a 2^32-1 sparse array", "native-loop", `return new Array(2**32 - 1).indexOf(1)`, codes(timeout, tooLarge)},
	{"includes over a 2^53-1 array-like", "native-loop", `return Array.prototype.includes.call({length: 2**53 - 1}, 1)`, codes(timeout, tooLarge)},
	{"lastIndexOf over a 2^53-1 array-like", "native-loop", `return Array.prototype.lastIndexOf.call({length: 2**53 - 1}, 1)`, codes(timeout, tooLarge)},
	{"forEach over a 2^32-1 sparse array", "native-loop", `new Array(2**32 - 1).forEach(() => {}); return 1`, codes(timeout, tooLarge)},
	{"reverse of a 2^32-1 sparse array", "native-loop", `return new Array(2**32 - 1).reverse().length`, codes(timeout, tooLarge)},
	{"BigInt parse of ten million digits", "native-loop", `return String(BigInt('9'.repeat(1e7)) + 1n).length`, codes(timeout, tooLarge)},
	{"console flood", "output", `for (;;) console.log('x'.repeat(1000))`, codes(timeout)},
	{"throwing an object whose toString loops", "native-loop", `throw {toString() { for (;;) {} }}`, codes(timeout, invalid)},
	{"result with a looping getter", "native-loop", `return {get x() { for (;;) {} }}`, codes(timeout)},

	// Promises.
	{"microtask loop", "promise", `for (;;) await null`, codes(timeout)},
	{"promise flood", "promise", `for (;;) Promise.resolve().then(() => {})`, codes(timeout, tooLarge)},
	{"store call flood", "promise", `for (;;) dataStore.findNameKey('orders', 'o-1')`, codes(tooLarge)},
	{"self-resolving thenable", "promise", `const t = {then(r) { r(t) }}; await t`, codes(timeout, tooLarge)},
	{"endless async chain", "promise", `async function f() { await null; return f() } await f()`, codes(timeout, tooLarge)},
	{"never-settling await", "promise", `await new Promise(() => {})`, codes(invalid)},

	// Getters read twice (time of check, time of use).
	{"fill reading length twice", "getter", `let n = 0; return Array.prototype.fill.call({get length(){ return n++ ? 2**32-1 : 0 }}, 1).length`, codes(tooLarge, timeout)},
	{"slice reading length twice", "getter", `let n = 0; return Array.prototype.slice.call({get length(){ return n++ ? 2**32-1 : 0 }}).length`, codes(tooLarge, timeout)},
	{"apply reading length twice", "getter", `let n = 0; return Math.max.apply(null, {get length(){ return n++ ? 1e9 : 0 }})`, codes(tooLarge, timeout)},
	{"repeat of a string that grows when read", "getter", `let n = 0; return String.prototype.repeat.call({toString() { return n++ ? 'x'.repeat(1e6) : 'x' }}, 1e6).length`, codes(tooLarge)},

	// Regular expressions.
	{"catastrophic backtracking", "regexp", `const re = /^(a+)+\1$/; const s = 'a'.repeat(40) + 'b'; for (;;) re.test(s)`, codes(timeout, tooLarge)},
	{"lookahead backtracking", "regexp", `const re = /^(?=(a+)+b)/; const s = 'a'.repeat(5000); for (;;) re.test(s)`, codes(timeout, tooLarge)},

	// Escapes from the sandbox.
	{"require", "escape", `const fs = require('fs'); return fs.readFileSync('/etc/passwd')`, codes(invalid)},
	{"process", "escape", `process.exit(1)`, codes(invalid)},
	{"dynamic import", "escape", `const m = await import('fs'); return m`, codes(invalid)},
	{"fetch", "escape", `return await fetch('http://127.0.0.1/')`, codes(invalid)},
	{"Function constructor", "escape", `return Function('return this')().process.exit()`, codes(invalid)},
	{"constructor escape", "escape", `return (function () {}).constructor('return process')()`, codes(invalid)},
	{"eval", "escape", `return eval('1 + 1')`, codes(invalid)},

	// The store, with a read-only token.
	{"write outside the grants", "store", `await dataStore.upsert('orders', 'o-1', {n: 666}); return 1`, codes(denied)},
	{"read another namespace", "store", `return await dataStore.findNameKey('secrets', 'k')`, codes(denied)},
	{"reach the token records", "store", `return await dataStore.findName('_flowkv.tokens', 10, 0)`, codes(denied, invalid)},
	{"atomic with a huge batch", "store", `const a = dataStore.atomic(); for (let i = 0; i < 100000; i++) a.check('orders', 'k' + i, null); return await a.commit()`, codes(invalid, tooLarge)},
	{"result over the limit", "output", `return 'x'.repeat(5 << 20)`, codes(tooLarge)},
}
