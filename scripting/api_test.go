package scripting

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

func TestDataStoreMethods(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	out := mustRun(t, e, st, `
const a = await dataStore.insert('orders', 'o-1', {total: 5, items: ['x']});
const b = await dataStore.upsert('orders', 'o-2', {total: 7}, {timeoutUnit: 'minutes', timeoutValue: 5});
const c = await dataStore.updateOneNameKey('orders', 'o-1', {total: 6});
const one = await dataStore.findNameKey('orders', 'o-1');
const none = await dataStore.findNameKey('orders', 'nope');
const all = await dataStore.findName('orders', 10, 0);
const page2 = await dataStore.findName('orders', 1, 1);
const byData = await dataStore.fetch({limit: 10, offset: 0, data: {total: 7}});
const byName = await dataStore.fetch({name: 'orders', key: 'o-1', limit: 5});
const del = await dataStore.deleteOneNameKey('orders', 'o-2');
const del2 = await dataStore.deleteOneNameKey('orders', 'o-2');
return {
  a: [a.name, a.key, a.data, typeof a.version, a.flowUuid, a.expiresAt, typeof a.createdAt],
  bExpires: typeof b.expiresAt, cVersionGrew: c.version > a.version,
  one: one.data, none, keys: all.map(e => e.key), page2: page2.map(e => e.key),
  byData: byData.map(e => e.key), byName: byName.map(e => e.data.total), del, del2,
};`, nil)
	jsonEq(t, out, `{"a":["orders","o-1",{"items":["x"],"total":5},"number","",null,"string"],
		"bExpires":"string","cVersionGrew":true,"one":{"total":6},"none":null,"keys":["o-1","o-2"],
		"page2":["o-2"],"byData":["o-2"],"byName":[6],"del":true,"del2":false}`)
}

func TestDataStoreErrorCodes(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	mustRun(t, e, st, `await dataStore.insert('orders', 'dup', 1)`, nil)
	cases := []struct {
		src  string
		code string
	}{
		{`await dataStore.insert('orders', 'dup', 2)`, "already_exists"},
		{`await dataStore.updateOneNameKey('orders', 'missing', 2)`, "not_found"},
		{`await dataStore.insert('orders', '', 2)`, "invalid_argument"},
		{`await dataStore.insert('orders', 'k', undefined)`, "invalid_argument"},
		{`await dataStore.insert('orders', 'k', 1n)`, "invalid_argument"},
		{`await dataStore.insert('orders', 'k'.repeat(300), 1)`, "too_large"},
		{`await dataStore.insert('orders', 'k', 'x'.repeat(1100000))`, "too_large"},
		{`await dataStore.insert('orders', 'k', 1, {timeoutUnit: 'weeks', timeoutValue: 1})`, "invalid_argument"},
		{`await dataStore.findName('orders', 5000, 0)`, "invalid_argument"},
		{`await dataStore.findName('orders', -1, 0)`, "invalid_argument"},
		{`await dataStore.fetch({limit: 10, cursor: 'forged!'})`, "invalid_argument"},
		{`await dataStore.findNameKey('_flowkv.scripts', 'x')`, "access_denied"},
		{`dataStore.open('_flowkv.tokens')`, "access_denied"},
	}
	for _, c := range cases {
		// The error reaches the script as an Error with the code word.
		res := mustRun(t, e, st, `try { `+c.src+`; return 'no error' } catch (err) { return [err instanceof Error, err.code, typeof err.message] }`, nil)
		jsonEq(t, res, `[true, "`+c.code+`", "string"]`)
		// Uncaught, it fails the run with the same code.
		wantCode(t, e, st, c.src, store.Code(c.code))
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	ctx := context.Background()
	runG := func(src string, g store.Grants) (Result, error) {
		return e.Run(ctx, Run{Source: src, Store: st, Grants: g})
	}
	_, err := runG(`await dataStore.upsert('orders', 'a', 1); await dataStore.upsert('secret', 'a', 1)`, store.AllGrants())
	if err != nil {
		t.Fatal(err)
	}
	g := store.NamespaceGrants([]string{"default", "orders"})
	for _, src := range []string{
		`await dataStore.findNameKey('secret', 'a')`,
		`await dataStore.upsert('secret', 'b', 1)`,
		`await openKv('secret')`,
		`await (await openKv('orders')).get(['a']) && await (await openKv('secret')).get(['a'])`,
		`await dataStore.atomic().set('secret', 'x', 1).commit()`,
		`await (await openKv('secret')).atomic().check({key: ['a'], versionstamp: null}).commit()`,
		`dataStore.open('secret')`,
		`(await openKv('secret')).list({prefix: []})`,
		`await dataStore.fetch({name: 'secret'})`,
	} {
		_, err := runG(src, g)
		if store.CodeOf(err) != store.CodeAccessDenied {
			t.Errorf("%s: want access_denied, got %v", src, err)
		}
	}
	res, err := runG(`const all = await dataStore.fetch({limit: 100}); return all.map(e => e.name)`, g)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(res.Value), `["orders"]`)
	// Read-only grants: reads pass, writes are denied.
	ro := store.Grants{"orders": store.Read}
	if _, err := runG(`return await dataStore.findNameKey('orders', 'a')`, ro); err != nil {
		t.Fatal(err)
	}
	if _, err := runG(`await dataStore.upsert('orders', 'a', 2)`, ro); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("write with read grant: %v", err)
	}
	// No grants: nothing.
	if _, err := runG(`await dataStore.findNameKey('orders', 'a')`, nil); store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("nil grants: %v", err)
	}
	// No store at all: unavailable.
	if _, err := e.Run(ctx, Run{Source: `await kv.get(['a'])`, Grants: store.AllGrants()}); store.CodeOf(err) != store.CodeUnavailable {
		t.Fatalf("no store: %v", err)
	}
}

func TestFlowStamp(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	res, err := e.Run(context.Background(), Run{Source: `
		const a = await dataStore.upsert('orders', 'a', 1);
		await (await openKv('orders')).set(['b'], 2);
		await dataStore.atomic().set('orders', 'c', 3).commit();
		const b = await dataStore.findNameKey('orders', ['b']);
		const c = await dataStore.findNameKey('orders', 'c');
		return [a.flowUuid, b.flowUuid, c.flowUuid]`,
		Store: st, Grants: store.AllGrants(), FlowUUID: "flow-1"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(res.Value), `["flow-1","flow-1","flow-1"]`)
	res, err = e.Run(context.Background(), Run{Source: `return await dataStore.fetch({flowUuid: 'flow-1'})`, Store: st, Grants: store.AllGrants()})
	if err != nil {
		t.Fatal(err)
	}
	var es []map[string]any
	_ = json.Unmarshal(res.Value, &es)
	if len(es) != 3 {
		t.Fatalf("fetch by flowUuid: %s", res.Value)
	}
}

func TestDataStoreAtomic(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	out := mustRun(t, e, st, `
const r1 = await dataStore.atomic().check('c', 'n', null).set('c', 'n', 10).sum('c', 'hits', 2).commit();
const cur = await dataStore.findNameKey('c', 'n');
const r2 = await dataStore.atomic().check('c', 'n', null).set('c', 'n', 99).commit();
const r3 = await dataStore.atomic().check('c', 'n', cur.version).sum('c', 'n', 5).delete('c', 'hits').commit();
const n = await dataStore.findNameKey('c', 'n');
const hits = await dataStore.findNameKey('c', 'hits');
return {r1ok: r1.ok, r1n: r1.versions.length, r2, r3ok: r3.ok, n: n.data, hits};`, nil)
	jsonEq(t, out, `{"r1ok":true,"r1n":2,"r2":{"ok":false,"versions":[]},"r3ok":true,"n":15,"hits":null}`)
	wantCode(t, e, st, `await dataStore.atomic().set('c', 'x', 1).set('c', 'x', 2).commit()`, store.CodeInvalidArgument)
	wantCode(t, e, st, `await dataStore.atomic().sum('c', 'x', 'one').commit()`, store.CodeInvalidArgument)
	wantCode(t, e, st, `await dataStore.atomic().set('c', 'str', 'a').commit(); await dataStore.atomic().sum('c', 'str', 1).commit()`, store.CodeInvalidArgument)
	wantCode(t, e, st, `const a = dataStore.atomic(); for (let i = 0; i < 101; i++) a.set('c', 'k' + i, i); await a.commit()`, store.CodeInvalidArgument)
}

func TestOpenHandle(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	out := mustRun(t, e, st, `
const s = dataStore.open('prefs');
await s.set('theme', 'dark');
await s.set('lang', {code: 'en'});
await s.set('user:1', 1);
await s.set('user:2', 2);
const got = [await s.get('theme'), await s.get('lang'), await s.get('missing')];
const ex = [await s.exists('theme'), await s.exists('missing')];
await s.delete('theme');
await s.delete('theme');
const keys = await s.getKeys();
const users = await s.getKeys({prefix: 'user:'});
const p1 = await s.getKeys({limit: 2});
const p2 = await s.getKeys({limit: 2, cursor: p1.cursor});
s.close();
let closed;
try { await s.get('lang') } catch (e) { closed = e.code }
return {got, ex, keys: [...keys], users: [...users], p1: [...p1], p2: [...p2], p2cursor: p2.cursor, closed, name: s.name};`, nil)
	jsonEq(t, out, `{"got":["dark",{"code":"en"},null],"ex":[true,false],"keys":["lang","user:1","user:2"],
		"users":["user:1","user:2"],"p1":["lang","user:1"],"p2":["user:2"],"p2cursor":null,"closed":"invalid_argument","name":"prefs"}`)
}

// The secondary-index example of the OWN3D Key-Value Store documentation,
// as written there (TypeScript), adapted only in how kv is obtained.
func TestOwn3dSecondaryIndex(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	src := `
interface User {
    id: string;
    name: string;
    email: string;
}

async function saveUser(user: User) {
    const key = ['users', user.id];

    // set the primary key
    const r = await kv.set(key, user);

    // set the secondary key's value to be the primary key
    await kv.set(['users_by_email', user.email], key);

    return r;
}

async function getById(id) {
    // use as usual
    return await kv.get<User>(['users', id]);
}

async function getByEmail(email) {
    // lookup the primary key by the secondary key
    const r1 = await kv.get<array[]>(['users_by_email', email]);
    const r2 = await kv.get<User>(r1.value);
    return r2;
}

const saved = await saveUser({id: '1', name: 'GhostZero', email: 'example@example.com'});
const byId = await getById('1');
const byEmail = await getByEmail('example@example.com');
return {ok: saved.ok, byId: byId.value, byEmail: byEmail.value, key: byEmail.key};`
	out := mustRun(t, e, st, src, nil)
	jsonEq(t, out, `{"ok":true,"byId":{"id":"1","name":"GhostZero","email":"example@example.com"},
		"byEmail":{"id":"1","name":"GhostZero","email":"example@example.com"},"key":["users","1"]}`)
	// The index entry is an entry of the database default holding the
	// primary key, as a Deno client would find it.
	ent, err := st.FindNameKey(context.Background(), "default", tupleKey(t, "users_by_email", "example@example.com"))
	if err != nil || string(ent.Data) != `["users","1"]` {
		t.Fatalf("index entry: %s %v", ent.Data, err)
	}
}

func TestConsoleAndGlobals(t *testing.T) {
	t.Parallel()
	e := New(Options{MaxLogLines: 5})
	st := openStore(t)
	res, err := e.Run(context.Background(), Run{
		Source: `console.log('hello', 1, {a: [1, 2]}, null, undefined); console.warn(new Error('boom'));
			console.error(steps.fetch.count, flow.name); for (let i = 0; i < 10; i++) console.info('line', i); return input`,
		Input:   json.RawMessage(`{"x":1}`),
		Globals: map[string]json.RawMessage{"steps": json.RawMessage(`{"fetch":{"count":3}}`), "flow": json.RawMessage(`{"name":"f"}`)},
		Store:   st, Grants: store.AllGrants(),
	})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(res.Value), `{"x":1}`)
	if len(res.Logs) != 5 || !res.LogsTruncated {
		t.Fatalf("logs: %+v truncated=%v", res.Logs, res.LogsTruncated)
	}
	want := []LogLine{{"log", `hello 1 {"a":[1,2]} null undefined`}, {"warn", "Error: boom"}, {"error", "3 f"}, {"info", "line 0"}, {"info", "line 1"}}
	for i, w := range want {
		if res.Logs[i] != w {
			t.Errorf("log %d = %+v, want %+v", i, res.Logs[i], w)
		}
	}
	if _, err := e.Run(context.Background(), Run{Source: `1`, Globals: map[string]json.RawMessage{"dataStore": json.RawMessage(`1`)}}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("clashing global: %v", err)
	}
	// Logs come back with a failed run too.
	res, err = e.Run(context.Background(), Run{Source: `console.log('before'); throw new Error('after')`})
	if store.CodeOf(err) != store.CodeInvalidArgument || len(res.Logs) != 1 || !strings.Contains(err.Error(), "after") {
		t.Fatalf("failed run: %v %+v", err, res.Logs)
	}
}

func TestIsolationBetweenRuns(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	mustRun(t, e, st, `globalThis.leak = 1; Array.prototype.evil = 1; Object.prototype.polluted = true; JSON.parse = () => 'hijacked'; kv.get = null`, nil)
	out := mustRun(t, e, st, `return [typeof leak, [].evil, ({}).polluted, JSON.parse('1'), typeof kv.get]`, nil)
	jsonEq(t, out, `["undefined", null, null, 1, "function"]`)
}

func TestResults(t *testing.T) {
	t.Parallel()
	e := New(Options{MaxResultBytes: 1000})
	st := openStore(t)
	for src, want := range map[string]string{
		`return`:                                                `null`,
		`return undefined`:                                      `null`,
		`return 'x'`:                                            `"x"`,
		`return [1, undefined, () => 1, NaN]`:                   `[1,null,null,null]`,
		`return {a: undefined, b: 1, f() {}}`:                   `{"b":1}`,
		`return new Date(0)`:                                    `"1970-01-01T00:00:00.000Z"`,
		`return {toJSON() { return 'custom' }}`:                 `"custom"`,
		`return await Promise.resolve(5)`:                       `5`,
		`return 0.1 + 0.2`:                                      `0.30000000000000004`,
		`return "quote\" and \n newline"`:                       `"quote\" and \n newline"`,
		`return new Map([[1, 2]])`:                              `{}`,
		`const o = {}; o.self = o; try { return o } finally {}`: ``,
	} {
		res, err := run(t, e, st, src, nil)
		if want == "" {
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Errorf("%s: want invalid_argument, got %v", src, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		jsonEq(t, string(res.Value), want)
	}
	wantCode(t, e, st, `return 'x'.repeat(2000)`, store.CodeTooLarge)
}

func TestAsyncSemantics(t *testing.T) {
	t.Parallel()
	// 600 store calls, each a round trip to a sandbox worker: a loaded
	// machine running the suite under -race needs more than 5 s.
	e := New(Options{Timeout: time.Minute})
	st := openStore(t)
	// Promise.all over many store calls.
	out := mustRun(t, e, st, `
const ps = [];
for (let i = 0; i < 300; i++) ps.push(dataStore.upsert('many', 'k' + i, i));
await Promise.all(ps);
const got = await Promise.all(Array.from({length: 300}, (_, i) => dataStore.findNameKey('many', 'k' + i)));
return got.reduce((s, e) => s + e.data, 0);`, nil)
	jsonEq(t, out, `44850`)
	// An unhandled rejection fails the run even when the script returns.
	err := wantCode(t, e, st, `dataStore.updateOneNameKey('many', 'absent', 1); await dataStore.findNameKey('many', 'k1'); return 'done'`, store.CodeNotFound)
	if !strings.Contains(err.Error(), "unhandled") {
		t.Errorf("unhandled rejection message: %v", err)
	}
	// A rejection handled later in the same turn is fine.
	jsonEq(t, mustRun(t, e, st, `const p = dataStore.updateOneNameKey('many', 'absent', 1); try { await p } catch (e) { return e.code }`, nil), `"not_found"`)
	// Fire-and-forget writes finish before the run ends.
	mustRun(t, e, st, `dataStore.upsert('many', 'late', 1); return 1`, nil)
	if _, err := st.FindNameKey(context.Background(), "many", "late"); err != nil {
		t.Fatalf("fire-and-forget write: %v", err)
	}
	// Awaiting what nothing can settle ends at once, not at the timeout.
	start := time.Now()
	wantCode(t, e, st, `await new Promise(() => {})`, store.CodeInvalidArgument)
	_ = start
	// Microtask chains work.
	jsonEq(t, mustRun(t, e, st, `let n = 0; await Promise.resolve().then(() => n++).then(() => n++); return n`, nil), `2`)
}

func TestErrorsFromScripts(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	err := wantCode(t, e, st, "const a = 1;\nconst b = ;", store.CodeInvalidArgument)
	if !strings.Contains(err.Error(), "line 2") {
		t.Errorf("syntax error position: %v", err)
	}
	err = wantCode(t, e, st, "\n\nnull.x", store.CodeInvalidArgument)
	if !strings.Contains(err.Error(), "TypeError") || !strings.Contains(err.Error(), ":3:") {
		t.Errorf("runtime error: %v", err)
	}
	wantCode(t, e, st, `throw 'plain'`, store.CodeInvalidArgument)
	wantCode(t, e, st, `const e = new Error('gone'); e.code = 'not_found'; throw e`, store.CodeNotFound)
	wantCode(t, e, st, `}); (async function() {`, store.CodeInvalidArgument)
	wantCode(t, e, st, `})(); globalThis.x = (async function() {`, store.CodeInvalidArgument)
	if err := e.Check(context.Background(), "ok", "return 1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(context.Background(), "bad", "return ("); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatal(err)
	}
}

func TestStoredScripts(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	ctx := context.Background()
	if _, err := e.PutScript(ctx, st, "double", `return input.n * 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutScript(ctx, st, "broken", `return (`); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("broken script saved: %v", err)
	}
	sc, err := GetScript(ctx, st, "double")
	if err != nil || sc.Source != `return input.n * 2` || sc.Version == 0 {
		t.Fatalf("GetScript: %+v %v", sc, err)
	}
	res, err := e.RunStored(ctx, st, "double", Run{Input: json.RawMessage(`{"n":21}`), Store: st, Grants: store.AllGrants()})
	if err != nil || string(res.Value) != "42" {
		t.Fatalf("RunStored: %s %v", res.Value, err)
	}
	if _, err := GetScript(ctx, st, "nope"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("missing script: %v", err)
	}
	list, _, err := ListScripts(ctx, st, "", 10)
	if err != nil || len(list) != 1 || list[0].Name != "double" {
		t.Fatalf("ListScripts: %+v %v", list, err)
	}
	// Scripts cannot read the scripts namespace, even with all grants.
	wantCode(t, e, st, `return await dataStore.findNameKey('_flowkv.scripts', 'double')`, store.CodeAccessDenied)
	if ok, err := DeleteScript(ctx, st, "double"); !ok || err != nil {
		t.Fatalf("DeleteScript: %v %v", ok, err)
	}
}

func TestInputLimits(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	if _, err := e.Run(context.Background(), Run{Source: `return input`, Input: json.RawMessage(deep)}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("deep input: %v", err)
	}
	if _, err := e.Run(context.Background(), Run{Source: `return input`, Input: json.RawMessage(`{"a":`)}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("broken input: %v", err)
	}
	res, err := e.Run(context.Background(), Run{Source: `return [input.s, input.n, input.a.length, input.o.__proto__]`,
		Input: json.RawMessage(`{"s":"é\u00e9\n","n":-1.5e3,"a":[1,2,3],"o":{"__proto__":7}}`)})
	if err != nil || string(res.Value) != `["éé\n",-1500,3,7]` {
		t.Fatalf("input: %s %v", res.Value, err)
	}
}
