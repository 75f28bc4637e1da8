package scripting

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// tupleKey is the stored key of the Deno KV key parts, as a Deno client
// over KV Connect stores it.
func tupleKey(t testing.TB, parts ...any) string {
	t.Helper()
	b, err := store.PackTuple(parts)
	if err != nil {
		t.Fatal(err)
	}
	return store.TupleKey(b)
}

// showKey (in scripts) writes a key with every part's type visible, as
// kvconnect/testdata/scenarios.mjs does.
const showKey = `const show = (k) => k.map((p) => typeof p === 'bigint' ? {bigint: String(p)} :
  typeof p === 'number' && !Number.isFinite(p) ? {number: String(p)} : Object.is(p, -0) ? {number: '-0'} : p);
`

// TestKV: kv is the database default, keys are Deno keys stored as
// kvconnect stores them, entries are {key, value, versionstamp}.
func TestKV(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute}) // many store calls: generous under a loaded -race run
	st := openStore(t)
	ctx := context.Background()
	out := mustRun(t, e, st, `
const r = await kv.set(['users', '1'], {name: 'GhostZero'});
const g = await kv.get(['users', '1']);
const missing = await kv.get(['users', '404']);
const many = await kv.getMany([['users', '1'], ['users', '404']]);
const d1 = await kv.delete(['users', '1']);
const gone = await kv.get(['users', '1']);
const t = await kv.set(['tmp', 'x'], 1, {expireIn: 60000});
const te = await dataStore.findNameKey('default', ['tmp', 'x']);
const orders = await openKv('orders');
await orders.set(['o', 1], {total: 5});
await kv.set(['a', 1], 'num');
await kv.set(['a', '1'], 'str');
const nums = [(await kv.get(['a', 1])).value, (await kv.get(['a', '1'])).value];
return {ok: r.ok, vs: /^[0-9a-f]{20}$/.test(r.versionstamp), g: [g.key, g.value, g.versionstamp === r.versionstamp],
  missing, many: many.map(e => e.value), d1: d1 === undefined, gone: gone.value, expires: te.expiresAt !== null,
  nums, t: t.ok};`, nil)
	jsonEq(t, out, `{"ok":true,"vs":true,"g":[["users","1"],{"name":"GhostZero"},true],
		"missing":{"key":["users","404"],"value":null,"versionstamp":null},"many":[{"name":"GhostZero"},null],
		"d1":true,"gone":null,"expires":true,"nums":["num","str"],"t":true}`)
	// Where the entries are: the tuple key in the database's namespace.
	for _, c := range []struct {
		name string
		key  string
		data string
	}{
		{"orders", tupleKey(t, "o", 1.0), `{"total":5}`},
		{"default", tupleKey(t, "a", 1.0), `"num"`},
		{"default", tupleKey(t, "a", "1"), `"str"`},
	} {
		ent, err := st.FindNameKey(ctx, c.name, c.key)
		if err != nil || string(ent.Data) != c.data {
			t.Errorf("%s/%q: %s %v, want %s", c.name, c.key, ent.Data, err, c.data)
		}
	}
	// A value written by another face is read by its tuple key.
	if _, err := st.Upsert(ctx, "default", tupleKey(t, "from", "go"), json.RawMessage(`{"x":[1,2]}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, mustRun(t, e, st, `return (await kv.get(['from', 'go'])).value`, nil), `{"x":[1,2]}`)

	for _, bad := range []string{
		`await kv.get([])`, `await kv.get('users')`, `await kv.get([{}])`, `await kv.get([null])`,
		`await kv.set(['a'], undefined)`, `await kv.getMany([['a'],['b'],['c'],['d'],['e'],['f'],['g'],['h'],['i'],['j'],['k']])`,
		`await openKv(5)`, `await kv.atomic().check({key: ['a'], versionstamp: 'zz'}).commit()`,
		`kv.list({})`, `kv.list({prefix: ['a'], start: ['a', 1], end: ['a', 2]})`, `kv.list({prefix: ['a'], start: ['b']})`,
		`kv.list({start: ['a']})`, `kv.list({start: ['b'], end: ['a']})`, `kv.list({prefix: []}, {limit: 0})`,
		`kv.list({prefix: []}, {cursor: '!!'})`,
		`await kv.atomic().sum(['n'], 'x').commit()`, `await kv.atomic().sum(['n'], -1n).commit()`,
	} {
		t.Run(bad, func(t *testing.T) { wantCode(t, e, st, bad, store.CodeInvalidArgument) })
	}
	// flowkv's key limit (256 bytes by default) is stricter than Deno's.
	err := wantCode(t, e, st, `await kv.set(['x'.repeat(300)], 1)`, store.CodeTooLarge)
	if !strings.Contains(err.Error(), "FLOWKV_MAX_KEY_BYTES") {
		t.Errorf("the error does not name the limit: %v", err)
	}
}

// TestKVKeys: every part type a script can write, stored as PackTuple
// packs it and read back with its type.
func TestKVKeys(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute}) // many store calls: generous under a loaded -race run
	st := openStore(t)
	out := mustRun(t, e, st, showKey+`
const keys = [['s', 'x'], ['n', 2.5], ['n', -0], ['n', NaN], ['n', -Infinity], ['b', 12345678901234567890n], ['b', -3n],
  ['t', true], ['t', false], ['u', {bytes: 'AAH/'}], ['u', {bytes: ''}]];
for (const [i, k] of keys.entries()) await kv.set(k, i);
const back = [];
for await (const e of kv.list({prefix: []})) back.push([show(e.key), e.value]);
return back;`, nil)
	jsonEq(t, out, `[[["b",{"bigint":"-3"}],6],[["b",{"bigint":"12345678901234567890"}],5],
		[["n",{"number":"-Infinity"}],4],[["n",{"number":"-0"}],2],[["n",2.5],1],[["n",{"number":"NaN"}],3],
		[["s","x"],0],[["t",false],8],[["t",true],7],[["u",{"bytes":""}],10],[["u",{"bytes":"AAH/"}],9]]`)
	big12, _ := new(big.Int).SetString("12345678901234567890", 10)
	for i, parts := range [][]any{{"s", "x"}, {"b", big12}, {"t", true}, {"u", []byte{0, 1, 0xff}}} {
		if _, err := st.FindNameKey(context.Background(), "default", tupleKey(t, parts...)); err != nil {
			t.Errorf("key %d %v: %v", i, parts, err)
		}
	}
}

// TestKVList: the selectors, limit, reverse and cursor as Deno answers
// them, in Deno's key order.
func TestKVList(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute}) // many store calls: generous under a loaded -race run
	st := openStore(t)
	out := mustRun(t, e, st, showKey+`
await kv.set(['items'], 'the prefix key itself');
for (let i = 0; i < 25; i++) await kv.set(['items', i], i);
await kv.set(['items', 'b'], 'b');
await kv.set(['items', 1n], 'bigint');
await kv.set(['items', true], 'bool');
await kv.set(['other'], 'o');
const keys = async (sel, opts) => { const out = []; for await (const e of kv.list(sel, opts)) out.push(show(e.key)); return out; };
const all = await keys({prefix: ['items']}, {batchSize: 7});
const rev = await keys({prefix: ['items']}, {reverse: true, limit: 3});
const range = await keys({start: ['items', 2], end: ['items', 5]});
const from = await keys({prefix: ['items'], start: ['items', 23]});
const to = await keys({prefix: ['items'], end: ['items', 2]});
const whole = await keys({prefix: []}, {limit: 2});
// Resume at a cursor, forwards and backwards.
const it = kv.list({prefix: ['items']}, {limit: 3});
const page1 = [];
for await (const e of it) page1.push(show(e.key));
const page2 = await keys({prefix: ['items']}, {limit: 2, cursor: it.cursor});
const rit = kv.list({prefix: ['items']}, {reverse: true, limit: 2});
for await (const e of rit) {}
const back = await keys({prefix: ['items']}, {reverse: true, limit: 2, cursor: rit.cursor});
// Stopping early.
const first = [];
for await (const e of kv.list({prefix: ['items']}, {batchSize: 5})) { first.push(e.value); if (first.length === 2) break; }
return {n: all.length, head: all.slice(0, 3), tail: all.slice(-3), rev, range, from, to, whole, page1, page2, back, first,
  cursor: it.cursor};`, nil)
	// Deno's order: strings, then bigints, then numbers, then booleans.
	jsonEq(t, out, `{"n":28,"head":[["items","b"],["items",{"bigint":"1"}],["items",0]],
		"tail":[["items",23],["items",24],["items",true]],
		"rev":[["items",true],["items",24],["items",23]],
		"range":[["items",2],["items",3],["items",4]],
		"from":[["items",23],["items",24],["items",true]],
		"to":[["items","b"],["items",{"bigint":"1"}],["items",0],["items",1]],
		"whole":[["items"],["items","b"]],
		"page1":[["items","b"],["items",{"bigint":"1"}],["items",0]],"page2":[["items",1],["items",2]],
		"back":[["items",23],["items",22]],"first":["b","bigint"],"cursor":"IYAAAAAAAAAA"}`)
	// A cursor outside an explicit bound is refused, as Deno refuses it.
	wantCode(t, e, st, `kv.list({start: ['items', 5], end: ['items', 9]}, {cursor: 'AA=='})`, store.CodeInvalidArgument)
	wantCode(t, e, st, `kv.list({start: ['items', 5], end: ['items', 9]}, {cursor: '_w==', reverse: true})`, store.CodeInvalidArgument)
}

// TestKVAtomic: checks on versionstamps and absence; set, delete, sum,
// min and max with Deno's rules (kvdb, shared with the KV Connect server).
func TestKVAtomic(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute}) // many store calls: generous under a loaded -race run
	st := openStore(t)
	out := mustRun(t, e, st, `
const key = ['users', '1'];
const value = {name: 'GhostZero', email: 'example@example.com'};
const r1 = await kv.atomic().check({key, versionstamp: null}).set(key, value).commit();
const r2 = await kv.atomic().check({key, versionstamp: null}).set(key, value).commit();
const cur = await kv.get(key);
const wrong = await kv.atomic().check({key, versionstamp: '00000000000000630000'}).delete(key).commit();
const r3 = await kv.atomic().check(cur, {key: ['c'], versionstamp: null}).sum(['c'], 3).sum(['c'], 1.5).delete(key).commit();
const c = await kv.get(['c']);
const gone = await kv.get(key);
await kv.atomic().sum(['u'], 5n).commit();
await kv.atomic().sum(['u'], 2n).max(['m'], 7n).min(['m'], 4n).commit();
const u = (await kv.get(['u'])).value;
const m = (await kv.get(['m'])).value;
const errs = [];
for (const op of [() => kv.atomic().sum(['u'], 1).commit(), () => kv.atomic().min(['c'], 1n).commit(),
                  () => kv.atomic().max(['u'], 1).commit(), () => kv.atomic().sum(['users', 'x'], 1n).set(['users', 'x'], 1).commit()]) {
  try { await op(); errs.push('none'); } catch (e) { errs.push(e.code + ': ' + e.message); }
}
await kv.set(['s'], 'text');
try { await kv.atomic().sum(['s'], 1n).commit(); } catch (e) { errs.push(e.message); }
return {r1: r1.ok, r2, r3: r3.ok, wrong, c: c.value, gone: gone.value,
  u: String(u.value), m: String(m), isU64: u instanceof KvU64, errs};`, nil)
	jsonEq(t, out, `{"r1":true,"r2":{"ok":false},"r3":true,"wrong":{"ok":false},"c":4.5,"gone":null,
		"u":"7","m":"4","isU64":true,"errs":["invalid_argument: Cannot sum KvU64 with Number",
		"invalid_argument: Failed to perform 'min' mutation on a non-U64 value in the database",
		"invalid_argument: Failed to perform 'max' mutation on a non-U64 operand","none",
		"Failed to perform 'sum' mutation on a non-U64 value in the database"]}`)
}

// TestKVU64: KvU64 values as Deno has them — set, read back, summed.
func TestKVU64(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute})
	st := openStore(t)
	out := mustRun(t, e, st, `
await kv.set(['n'], new KvU64(18446744073709551615n));
await kv.atomic().sum(['n'], new KvU64(2n)).commit();     // wraps, as Deno's does
const n = (await kv.get(['n'])).value;
const errs = [];
for (const f of [() => new KvU64(-1n), () => new KvU64(2n ** 64n), () => new KvU64(1)]) {
  try { f(); errs.push('none'); } catch (e) { errs.push(e.code); }
}
const fake = Object.create(KvU64.prototype);
try { await kv.set(['fake'], fake); errs.push('none'); } catch (e) { errs.push(e.code); }
return {n: String(n.value), is: n instanceof KvU64, str: String(n), frozen: (() => { n.value = 5n; return String(n.value); })(), errs};`, nil)
	jsonEq(t, out, `{"n":"1","is":true,"str":"1","frozen":"1","errs":["invalid_argument","invalid_argument","invalid_argument","invalid_argument"]}`)
	ent, err := st.FindNameKey(context.Background(), "default", tupleKey(t, "n"))
	if err != nil || !strings.Contains(string(ent.Data), `"u64":"1"`) {
		t.Fatalf("stored: %s %v", ent.Data, err)
	}
}

// TestKVGrants: a run granted users:read opens and reads users, cannot
// write it, and cannot open orders; the default database needs its grant.
func TestKVGrants(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute}) // many store calls: generous under a loaded -race run
	st := openStore(t)
	ctx := context.Background()
	mustRun(t, e, st, `await (await openKv('users')).set(['users', '1'], {name: 'Ada'}); await (await openKv('orders')).set(['o'], 1)`, nil)
	ro := store.Grants{"users": store.Read}
	res, err := e.Run(ctx, Run{Source: `const u = await openKv('users');
const list = []; for await (const e of u.list({prefix: ['users']})) list.push(e.value.name);
return {one: (await u.get(['users', '1'])).value, many: (await u.getMany([['users', '1']]))[0].value, list,
  check: (await u.atomic().check({key: ['users', '2'], versionstamp: null}).commit()).ok}`, Store: st, Grants: ro})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(res.Value), `{"one":{"name":"Ada"},"many":{"name":"Ada"},"list":["Ada"],"check":true}`)
	for _, src := range []string{
		`await openKv('orders')`,
		`await (await openKv('users')).set(['users', '2'], {})`,
		`await (await openKv('users')).delete(['users', '1'])`,
		`await (await openKv('users')).atomic().sum(['users', 'n'], 1n).commit()`,
		`await kv.get(['users', '1'])`,
		`await openKv('_flowkv.tokens')`,
	} {
		_, err := e.Run(ctx, Run{Source: src, Store: st, Grants: ro})
		if store.CodeOf(err) != store.CodeAccessDenied {
			t.Errorf("%s: want access_denied, got %v", src, err)
		}
	}
	if ent, err := st.FindNameKey(ctx, "users", tupleKey(t, "users", "1")); err != nil || string(ent.Data) != `{"name":"Ada"}` {
		t.Errorf("users/[users,1] after the denied writes: %s %v", ent.Data, err)
	}
}

// TestKVListClientCursors: a list continues from the cursor of either Deno
// client — the runtime's (base64url of the key after the prefix) or
// @deno/kv's (base64 of {"lastYieldedKeyBytes": hex}) — and a cursor
// naming a key outside the selector is refused.
func TestKVListClientCursors(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute})
	st := openStore(t)
	mustRun(t, e, st, `for (let i = 0; i < 4; i++) await kv.set(['items', i], i); await kv.set(['other', 1], 1)`, nil)
	cursor := func(parts ...any) string {
		b, err := store.PackTuple(parts)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(map[string]string{"lastYieldedKeyBytes": hex.EncodeToString(b)})
		return base64.StdEncoding.EncodeToString(j)
	}
	b, _ := store.PackTuple([]any{"items"})
	full, _ := store.PackTuple([]any{"items", 1.0})
	deno := base64.URLEncoding.EncodeToString(full[len(b):])
	src := `const out = [];
for await (const e of kv.list({prefix: ['items']}, {cursor: input.cursor, reverse: input.reverse})) out.push(e.value);
return out;`
	jsonEq(t, mustRun(t, e, st, src, map[string]any{"cursor": cursor("items", 1.0)}), `[2,3]`)
	jsonEq(t, mustRun(t, e, st, src, map[string]any{"cursor": cursor("items", 2.0), "reverse": true}), `[1,0]`)
	jsonEq(t, mustRun(t, e, st, src, map[string]any{"cursor": deno}), `[2,3]`)
	res, err := run(t, e, st, src, map[string]any{"cursor": cursor("other", 0.0)})
	if store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("a cursor outside the prefix: %s %v", res.Value, err)
	}
}

// TestKVHostile: attacks on the kv facade fail with a clear code before
// they reach the store, and the engine goes on serving other runs.
func TestKVHostile(t *testing.T) {
	t.Parallel()
	e := New(Options{Timeout: time.Minute})
	st := openStore(t)
	mustRun(t, e, st, `await kv.set(['victim', 1], 'intact'); await (await openKv('other')).set(['secret'], 's')`, nil)
	invalid, tooLarge := store.CodeInvalidArgument, store.CodeTooLarge
	for _, c := range []struct {
		name, src string
		codes     []store.Code
	}{
		{"a key of 64 bigints of 255 bytes", `await kv.set(Array.from({length: 64}, () => 2n ** 2000n), 1)`, []store.Code{invalid}},
		{"a bigint part past Deno's 255 bytes", `await kv.get([2n ** 4000n])`, []store.Code{invalid}},
		{"a key with holes", `await kv.get(new Array(3))`, []store.Code{invalid}},
		{"a key with a hole first", `await kv.set([, 'a'], 1)`, []store.Code{invalid}},
		{"a key array with a getter", `const k = ['a']; Object.defineProperty(k, 0, {get() { throw new Error('g') }}); await kv.get(k)`, []store.Code{invalid}},
		{"an object pretending to be a KvU64", `await kv.set(['fake'], Object.create(KvU64.prototype))`, []store.Code{invalid}},
		{"a key of 100,000 parts", `await kv.get(Array(100000).fill('a'))`, []store.Code{invalid}},
		{"getMany of 10,000 keys", `await kv.getMany(Array.from({length: 10000}, (_, i) => ['k', i]))`, []store.Code{invalid}},
		{"a 1 MiB bytes part", `await kv.get([{bytes: 'A'.repeat(1 << 20)}])`, []store.Code{invalid}},
		{"a 100 KiB cursor", `for await (const e of kv.list({prefix: []}, {cursor: 'A'.repeat(100000)})) {}`, []store.Code{invalid, tooLarge}},
		{"an @deno/kv cursor into another prefix", `for await (const e of kv.list({prefix: ['victim']}, {cursor: 'eyJsYXN0WWllbGRlZEtleUJ5dGVzIjoiMDI3MzAwIn0='})) {}`, []store.Code{invalid}},
		{"a throwing getter as a key part", `await kv.get([{get bytes() { throw new Error('boom') }}])`, []store.Code{invalid}},
		{"a proxy as the key", `await kv.get(new Proxy(['a'], {get: () => { throw new Error('trap') }}))`, []store.Code{invalid}},
		{"150 mutations in one atomic", `const a = kv.atomic(); for (let i = 0; i < 150; i++) a.set(['m', i], i); await a.commit()`, []store.Code{invalid}},
		{"a sum past 2^64", `await kv.atomic().sum(['victim', 1], 2n ** 64n).commit()`, []store.Code{invalid}},
		{"a sum into a string", `await kv.atomic().sum(['victim', 1], 1n).commit()`, []store.Code{invalid}},
		{"a versionstamp of 1 MiB", `await kv.atomic().check({key: ['victim', 1], versionstamp: 'a'.repeat(1 << 20)}).delete(['victim', 1]).commit()`, []store.Code{invalid}},
		{"openKv of a 10 KiB name", `await openKv('n'.repeat(10240))`, []store.Code{invalid, tooLarge}},
		{"a batchSize of three billion", `for await (const e of kv.list({prefix: []}, {batchSize: 3e9})) {}`, []store.Code{invalid}},
	} {
		res, err := run(t, e, st, c.src, nil)
		if err == nil || !slices.Contains(c.codes, store.CodeOf(err)) {
			t.Errorf("%s: %s %v, want one of %v", c.name, res.Value, err, c.codes)
		}
	}
	jsonEq(t, mustRun(t, e, st, `return [(await kv.get(['victim', 1])).value, (await (await openKv('other')).get(['secret'])).value]`, nil), `["intact","s"]`)
}
