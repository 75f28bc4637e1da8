package scripting

import (
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// TestDataStoreQuery: dataStore.query and fetch({where}) find "the paid
// orders over 100, largest first" with the store's semantics.
func TestDataStoreQuery(t *testing.T) {
	t.Parallel()
	// A minute: 14 store calls through a worker on a loaded -race run.
	e := New(Options{Timeout: time.Minute})
	st := openStore(t)
	out := mustRun(t, e, st, `
const rows = [['o-1','paid',250],['o-2','open',500],['o-3','paid',120],['o-4','paid',90],['o-5','paid',120],['o-6','void',130]];
for (const [k, status, total] of rows) await dataStore.upsert('orders', k, {status, total, customer: {name: k === 'o-3' ? 'Ada' : 'Bob'}});
const where = [{field: 'status', op: 'eq', value: 'paid'}, {field: 'total', op: 'gt', value: 100}];
const page = await dataStore.query('orders', {where, orderBy: [{field: 'total', desc: true}], count: true});
const short = await dataStore.query('orders', {where: {status: 'paid', total: {gt: 100}}, orderBy: '-total'});
let keys = [], cursor = '';
do {
  const p = await dataStore.query('orders', {where, orderBy: ['-total'], limit: 1, cursor});
  keys.push(...p.items.map(e => e.key));
  cursor = p.nextCursor;
} while (cursor);
const any = await dataStore.query('orders', {where: [{field: 'status', op: 'eq', value: 'void'}, {field: 'customer.name', op: 'eq', value: 'Ada'}], match: 'any'});
const fetched = await dataStore.fetch({name: 'orders', where, orderBy: '-total'});
const typed = await dataStore.query('orders', {where: [{field: 'total', op: 'eq', value: '250'}], count: true});
const none = await dataStore.query('orders', {where: [{field: 'total', op: 'ne', value: null}], count: true});
return {
  page: page.items.map(e => e.key), count: page.count, next: page.nextCursor, index: page.index,
  first: [page.items[0].data.total, typeof page.items[0].version],
  short: short.items.map(e => e.key), keys, any: any.items.map(e => e.key),
  fetched: fetched.map(e => e.key), typed: typed.count, none: none.count,
};`, nil)
	jsonEq(t, out, `{"page":["o-1","o-5","o-3"],"count":3,"next":"","index":"","first":[250,"number"],
		"short":["o-1","o-5","o-3"],"keys":["o-1","o-5","o-3"],"any":["o-3","o-6"],
		"fetched":["o-1","o-5","o-3"],"typed":0,"none":0}`)

	if _, err := st.CreateIndex(t.Context(), "orders", "total"); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, e, st, `
const p = await dataStore.query('orders', {where: {status: 'paid', total: {gt: 100}}, orderBy: '-total', count: true});
return [p.items.map(e => e.key), p.count, p.index];`, nil)
	jsonEq(t, out, `[["o-1","o-5","o-3"],3,"total"]`)

	for src, code := range map[string]store.Code{
		`await dataStore.query('orders', {where: [{field: 'total', op: 'like', value: 1}]})`:         store.CodeInvalidArgument,
		`await dataStore.query('orders', {where: [{field: 'total', op: 'lt', value: true}]})`:        store.CodeInvalidArgument,
		`await dataStore.query('orders', {where: [{field: 'total', op: 'eq'}]})`:                     store.CodeInvalidArgument,
		`await dataStore.query('orders', {where: [{op: 'eq', value: 1}]})`:                           store.CodeInvalidArgument,
		`await dataStore.query('orders', {where: 'status=paid'})`:                                    store.CodeInvalidArgument,
		`await dataStore.query('orders', {cursor: 'forged'})`:                                        store.CodeInvalidArgument,
		`await dataStore.query('', {})`:                                                              store.CodeInvalidArgument,
		`await dataStore.query('orders', {where: Array(30).fill({field: 'a', op: 'eq', value: 1})})`: store.CodeTooLarge,
		`await dataStore.fetch({name: 'orders', key: 'o-1', where: {status: 'paid'}})`:               store.CodeInvalidArgument,
	} {
		wantCode(t, e, st, src, code)
	}
	// Grants: a run may only query the namespaces it declares.
	res, err := e.Run(t.Context(), Run{Source: `return await dataStore.query('orders', {})`, Store: st, Grants: store.NamespaceGrants([]string{"other"})})
	if store.CodeOf(err) != store.CodeAccessDenied {
		t.Fatalf("query outside the grants: %s, %v", res.Value, err)
	}
}
