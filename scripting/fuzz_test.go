package scripting

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/hostile"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// Fuzz targets of the JavaScript <-> Go value conversion. Their seeds run
// with every `go test`; scripts/fuzz.sh runs each with -fuzz.

func fuzzStore(f *testing.F) store.Store {
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(f), sqlstore.Options{ReapInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	return st
}

// asJS is what a JSON value becomes after JSON.parse and JSON.stringify
// in JavaScript: numbers are float64, duplicate keys keep the last value,
// canonical form.
func asJS(t *testing.T, in []byte) (json.RawMessage, bool) {
	var v any
	if err := json.Unmarshal(in, &v); err != nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false // e.g. a float64 overflow
	}
	c, err := store.Canonicalize(b)
	if err != nil {
		return nil, false
	}
	return c, true
}

// FuzzJSONThroughJS passes arbitrary JSON into a script as input, returns
// it, and also stores it from the script and reads it back: what comes
// out equals the value as JavaScript numbers see it; conversion never
// panics, and a refusal is a coded error (never unavailable).
func FuzzJSONThroughJS(f *testing.F) {
	for _, s := range []string{
		`{"b":2,"a":1}`, `[1,1.0,1e0,-0,0.5]`, `"<&>\u2028\u2029"`, `{"a":{"b":[null,true,false]}}`,
		`123456789012345678901234567890`, `1e308`, `-1e-320`, `{"__proto__":{"x":1}}`, `{"constructor":1,"toJSON":2}`,
		`{"1":1,"0":0,"a":2,"-1":3}`, `"\ud800"`, `"\u0000"`, `{"a":1,"a":2}`, `[[[[[[[[[[1]]]]]]]]]]`, `""`, `null`,
		`{"":""}`, `9007199254740993`, `0.1`, `1E400`,
	} {
		f.Add([]byte(s))
	}
	e := New(Options{Timeout: 2 * time.Second})
	st := fuzzStore(f)
	const src = `
const back = await dataStore.upsert('fz', 'k', input);
const got = await dataStore.findNameKey('fz', 'k');
return {echo: input, stored: got.data, answered: back.data};`
	f.Fuzz(func(t *testing.T, in []byte) {
		want, ok := asJS(t, in)
		if !ok {
			return
		}
		res, err := e.Run(context.Background(), Run{Source: src, Input: in, Store: st, Grants: store.AllGrants()})
		if err != nil {
			c := store.CodeOf(err)
			if c == store.CodeInvalidArgument || c == store.CodeTooLarge {
				return
			}
			t.Fatalf("input %q: %v (code %s)", in, err, c)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(res.Value, &out); err != nil {
			t.Fatalf("input %q: result %q is not a JSON object", in, res.Value)
		}
		for _, k := range []string{"echo", "stored", "answered"} {
			got, err := store.Canonicalize(out[k])
			if err != nil {
				t.Fatalf("input %q: %s = %q is not valid data: %v", in, k, out[k], err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("input %q: %s = %s, want %s", in, k, got, want)
			}
		}
	})
}

// FuzzJSValues evaluates an arbitrary JavaScript expression and returns
// it (the JS -> Go direction with every kind of value: cycles, getters
// that throw, toJSON, symbols, BigInts, proxies): the run ends with valid
// JSON or a coded error, never a panic or an internal error.
func FuzzJSValues(f *testing.F) {
	for _, s := range []string{
		`{a: undefined, b: () => 1, c: Symbol('x'), d: [undefined, () => 2, Symbol()]}`,
		`[NaN, Infinity, -Infinity, -0, 1e21, 5e-324]`, `new Date(0)`, `{toJSON() { return {x: 1} }}`,
		`(() => { const o = {}; o.self = o; return o })()`, `10n`, `{get a() { throw new Error('boom') }}`,
		`new Proxy({}, {ownKeys() { throw new TypeError('no') }})`, `"\ud800\udc00\ud800"`, `new Map([[1, 2]])`,
		`Object.create(null)`, `[,,1]`, `new Uint8Array(3)`, `{[Symbol.iterator]: 1, a: 1}`, `new String('s')`,
		`new Number(3)`, `new Boolean(false)`, `Array(5)`, `{toJSON: 1}`, `{toJSON() { return this }}`,
		`JSON.parse('[' .repeat(100) + ']'.repeat(100))`, `'x'.repeat(1 << 20)`, `new Error('e')`, `/re/g`,
		`(function () { return arguments })(1, 2)`, `Promise.resolve(1)`, `{1e3: 1, '01': 2}`,
	} {
		f.Add(s)
	}
	e := New(Options{Timeout: 500 * time.Millisecond})
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.Contains(expr, "`") && strings.Count(expr, "`")%2 == 1 {
			return // an unterminated template would swallow the wrapper
		}
		res, err := e.Run(context.Background(), Run{Source: "return (" + expr + "\n)", Grants: store.AllGrants()})
		if err != nil {
			c := store.CodeOf(err)
			if c == "" || (c == store.CodeUnavailable && strings.Contains(err.Error(), "internal error")) {
				t.Fatalf("expression %q: %v (code %q)", expr, err, c)
			}
			return
		}
		if !json.Valid(res.Value) {
			t.Fatalf("expression %q returned invalid JSON %q", expr, res.Value)
		}
	})
}

// FuzzSandbox feeds generated JavaScript to the sandbox through the parent
// (worker processes): whatever the source, the parent never crashes, the
// run ends within its time limit plus the kill grace (and a margin for a
// loaded machine), the answer is valid JSON or a coded error, and the
// engine still runs the next script. Seeds: one attack of every kind from
// the hostile corpus (internal/hostile) and the reported vectors.
func FuzzSandbox(f *testing.F) {
	seen := map[string]bool{}
	for i, v := range hostile.Corpus {
		// Under -race the worker has no address-space limit (the race
		// detector's shadow memory), so memory attacks stay out of the
		// seeds there; the hostile package runs them on a normal build.
		if raceEnabled && v.Kind == "memory" {
			continue
		}
		if i < 6 || !seen[v.Kind] {
			seen[v.Kind] = true
			f.Add(v.Source)
		}
	}
	const limit = 500 * time.Millisecond
	e := New(Options{Timeout: limit})
	st := fuzzStore(f)
	grants := store.NamespaceGrants([]string{"fz"})
	f.Fuzz(func(t *testing.T, src string) {
		t0 := time.Now()
		res, err := e.Run(context.Background(), Run{Source: src, Name: "fuzz", Store: st, Grants: grants})
		if took := time.Since(t0); took > limit+KillGrace+2*time.Second {
			t.Fatalf("source %q: the run took %s, its limit is %s", src, took, limit)
		}
		if err != nil {
			if c := store.CodeOf(err); !store.Known(c) {
				t.Fatalf("source %q: %v has no known code", src, err)
			}
		} else if !json.Valid(res.Value) {
			t.Fatalf("source %q returned invalid JSON %q", src, res.Value)
		}
		if res, err := e.Run(context.Background(), Run{Source: "return 6 * 7", Name: "after", Timeout: 20 * time.Second}); err != nil || string(res.Value) != "42" {
			t.Fatalf("after source %q the engine answers %s %v", src, res.Value, err)
		}
	})
}
