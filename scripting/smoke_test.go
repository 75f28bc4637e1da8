package scripting

import "testing"

func TestSmoke(t *testing.T) {
	e := New(Options{})
	st := openStore(t)
	jsonEq(t, mustRun(t, e, st, "return 1+1", nil), "2")
	jsonEq(t, mustRun(t, e, st, "return input.a * 2", map[string]int{"a": 21}), "42")
	jsonEq(t, mustRun(t, e, st, `await dataStore.upsert('orders', 'o1', {total: 5}); const x = await dataStore.findNameKey('orders','o1'); return x.data`, nil), `{"total":5}`)
	jsonEq(t, mustRun(t, e, st, `const u: {a: number} = {a: 1}; return u`, nil), `{"a":1}`)
}
