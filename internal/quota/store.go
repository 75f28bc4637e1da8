package quota

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/flowkv/flowkv/store"
)

// ForToken returns s with every call counted as one store operation of
// token id (refused with resource_exhausted once its monthly quota is used
// up) and namespace quotas enforced on writes. s is the store as the token
// may use it: store.WithGrants over the raw store for API calls, or the
// raw store a script run wraps with the token's grants itself.
func (m *Manager) ForToken(s store.Store, id string) store.Store {
	return withImport(&quotaStore{Store: s, m: m, ts: m.token(id)})
}

// Namespaces returns s with namespace quotas enforced on writes and no
// token counted (the flow engine: flows run with their own grants).
func (m *Manager) Namespaces(s store.Store) store.Store {
	return withImport(&quotaStore{Store: s, m: m})
}

// withImport keeps store.Importer when the wrapped store has it, so an
// import (store/dump) restores versions through a quota view too.
func withImport(q *quotaStore) store.Store {
	if _, ok := q.Store.(store.Importer); ok {
		return &quotaImporter{q}
	}
	return q
}

// quotaImporter is a quotaStore over a store.Importer: an import counts as
// one operation and is held to namespace quotas like an upsert.
type quotaImporter struct{ *quotaStore }

func (q *quotaImporter) Import(ctx context.Context, e store.Entry) (store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return store.Entry{}, err
	}
	return q.write(ctx, e.Name, e.Key, e.Data, upsertKind, func() (store.Entry, error) { return q.Store.(store.Importer).Import(ctx, e) })
}

// quotaStore is the Store a Manager hands out.
type quotaStore struct {
	store.Store
	m  *Manager
	ts *tokenState // nil: count no token
}

func (q *quotaStore) count(ctx context.Context) error {
	if q.ts == nil {
		return nil
	}
	return q.m.take(ctx, q.ts)
}

func (q *quotaStore) Fetch(ctx context.Context, fq store.FetchQuery) (store.Page, error) {
	if err := q.count(ctx); err != nil {
		return store.Page{}, err
	}
	return q.Store.Fetch(ctx, fq)
}

func (q *quotaStore) FindName(ctx context.Context, name string, limit, offset int) ([]store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return nil, err
	}
	return q.Store.FindName(ctx, name, limit, offset)
}

func (q *quotaStore) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return store.Entry{}, err
	}
	return q.Store.FindNameKey(ctx, name, key)
}

func (q *quotaStore) List(ctx context.Context, name, prefix, cursor string, limit int) (store.Page, error) {
	if err := q.count(ctx); err != nil {
		return store.Page{}, err
	}
	return q.Store.List(ctx, name, prefix, cursor, limit)
}

func (q *quotaStore) ReadRanges(ctx context.Context, name string, r []store.KeyRange) ([][]store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return nil, err
	}
	return q.Store.ReadRanges(ctx, name, r)
}

func (q *quotaStore) Names(ctx context.Context) ([]store.NameCount, error) {
	if err := q.count(ctx); err != nil {
		return nil, err
	}
	return q.Store.Names(ctx)
}

// Query counts as one operation per page.
func (q *quotaStore) Query(ctx context.Context, qq store.Query) (store.QueryPage, error) {
	if err := q.count(ctx); err != nil {
		return store.QueryPage{}, err
	}
	return q.Store.Query(ctx, qq)
}

func (q *quotaStore) CreateIndex(ctx context.Context, name, field string) (store.Index, error) {
	if err := q.count(ctx); err != nil {
		return store.Index{}, err
	}
	return q.Store.CreateIndex(ctx, name, field)
}

func (q *quotaStore) DropIndex(ctx context.Context, name, field string) (bool, error) {
	if err := q.count(ctx); err != nil {
		return false, err
	}
	return q.Store.DropIndex(ctx, name, field)
}

func (q *quotaStore) Indexes(ctx context.Context, name string) ([]store.Index, error) {
	if err := q.count(ctx); err != nil {
		return nil, err
	}
	return q.Store.Indexes(ctx, name)
}

// size is the bytes an entry (key, data) takes against a quota, or -1
// when data is not valid (the store's own validation then answers).
func (q *quotaStore) size(key string, data json.RawMessage) int64 {
	c, err := q.m.s.Limits().Normalize().PrepareData(data)
	if err != nil {
		return -1
	}
	return int64(len(key) + len(c))
}

// old returns the current size of (name, key), or -1 when it is absent.
func (q *quotaStore) old(ctx context.Context, name, key string) (int64, error) {
	e, err := q.m.s.FindNameKey(ctx, name, key)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidArgument) || errors.Is(err, store.ErrTooLarge) {
		return -1, nil // absent, or a bad address the write itself refuses
	}
	if err != nil {
		return 0, err
	}
	return int64(len(e.Key) + len(e.Data)), nil
}

func (q *quotaStore) Insert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return store.Entry{}, err
	}
	return q.write(ctx, name, key, data, insertKind, func() (store.Entry, error) { return q.Store.Insert(ctx, name, key, data, o) })
}

func (q *quotaStore) Upsert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return store.Entry{}, err
	}
	kind := upsertKind
	if o.IfVersion > 0 {
		kind = updateKind // conditional: it never creates
	}
	return q.write(ctx, name, key, data, kind, func() (store.Entry, error) { return q.Store.Upsert(ctx, name, key, data, o) })
}

func (q *quotaStore) Update(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	if err := q.count(ctx); err != nil {
		return store.Entry{}, err
	}
	return q.write(ctx, name, key, data, updateKind, func() (store.Entry, error) { return q.Store.Update(ctx, name, key, data, o) })
}

// writeKind is what a write does with an absent or present entry.
type writeKind int

const (
	insertKind writeKind = iota // creates; already_exists when present
	upsertKind                  // creates or overwrites
	updateKind                  // overwrites; not_found (or conflict) when absent
)

// write runs an insert, upsert or update within ns's quota. A write whose
// own answer is an error regardless of the quota (an insert of a present
// key, an update of an absent one) gets that answer, not
// resource_exhausted.
func (q *quotaStore) write(ctx context.Context, name, key string, data json.RawMessage, kind writeKind, op func() (store.Entry, error)) (store.Entry, error) {
	ns := q.m.ns(name)
	if ns == nil {
		return op()
	}
	size := q.size(key, data)
	if size < 0 {
		return op()
	}
	old := int64(-1)
	if kind != insertKind {
		var err error
		if old, err = q.old(ctx, name, key); err != nil {
			return store.Entry{}, err
		}
		if old < 0 && kind == updateKind {
			return op() // not_found (or conflict): it writes nothing
		}
	}
	var dEntries, dBytes int64 = 1, size
	if old >= 0 {
		dEntries, dBytes = 0, size-old
	}
	if err := q.m.reserve(ctx, ns, dEntries, dBytes); err != nil {
		if kind == insertKind {
			// An insert reads only when refused: a present key is
			// already_exists, whatever the quota.
			if o, rerr := q.old(ctx, name, key); rerr == nil && o >= 0 {
				return op()
			}
		}
		return store.Entry{}, err
	}
	e, err := op()
	if err != nil {
		ns.done(dEntries, dBytes, 0, 0)
		return e, err
	}
	ns.done(dEntries, dBytes, dEntries, int64(len(e.Key)+len(e.Data))-max(old, 0))
	return e, nil
}

func (q *quotaStore) Delete(ctx context.Context, name, key string, o store.DeleteOptions) (bool, error) {
	if err := q.count(ctx); err != nil {
		return false, err
	}
	ns := q.m.ns(name)
	if ns == nil {
		return q.Store.Delete(ctx, name, key, o)
	}
	old, err := q.old(ctx, name, key)
	if err != nil {
		return false, err
	}
	ok, err := q.Store.Delete(ctx, name, key, o)
	if ok && err == nil && old >= 0 {
		ns.done(0, 0, -1, -old)
	}
	return ok, err
}

// sumSize bounds the size of a number a sum stores (its canonical JSON).
const sumSize = 24

type nameKey struct{ name, key string }

func (q *quotaStore) Atomic(ctx context.Context, checks []store.Check, muts []store.Mutation) (store.AtomicResult, error) {
	if err := q.count(ctx); err != nil {
		return store.AtomicResult{}, err
	}
	// Simulate the mutations on the namespaces that have a quota: the
	// size of every key they touch, before and after.
	before := map[nameKey]int64{}
	after := map[nameKey]int64{}
	states := map[string]*nsState{}
	var sums []nameKey
	for _, mu := range muts {
		ns := q.m.ns(mu.Name)
		if ns == nil {
			continue
		}
		states[mu.Name] = ns
		k := nameKey{mu.Name, mu.Key}
		if _, seen := before[k]; !seen {
			old, err := q.old(ctx, mu.Name, mu.Key)
			if err != nil {
				return store.AtomicResult{}, err
			}
			before[k], after[k] = old, old
		}
		switch mu.Op {
		case store.OpSet:
			if sz := q.size(mu.Key, mu.Data); sz >= 0 {
				after[k] = sz
			}
		case store.OpDelete:
			after[k] = -1
		case store.OpSum:
			after[k] = max(after[k], int64(len(mu.Key)+sumSize))
			sums = append(sums, k)
		}
	}
	if len(states) == 0 {
		return q.Store.Atomic(ctx, checks, muts)
	}
	delta := func(b, a map[nameKey]int64) map[string][2]int64 {
		d := map[string][2]int64{}
		for k, old := range b {
			nw := a[k]
			x := d[k.name]
			x[0] += present(nw) - present(old)
			x[1] += max(nw, 0) - max(old, 0)
			d[k.name] = x
		}
		return d
	}
	want := delta(before, after)
	var reserved []string
	release := func(add map[string][2]int64) {
		for _, n := range reserved {
			ns, w, a := states[n], want[n], add[n]
			ns.done(w[0], w[1], a[0], a[1])
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	for _, n := range names {
		if err := q.m.reserve(ctx, states[n], want[n][0], want[n][1]); err != nil {
			release(nil)
			return store.AtomicResult{}, err
		}
		reserved = append(reserved, n)
	}
	r, err := q.Store.Atomic(ctx, checks, muts)
	if err != nil {
		release(nil)
		return r, err
	}
	// A sum's result is read back for its exact size.
	for _, k := range sums {
		if sz, err := q.old(ctx, k.name, k.key); err == nil {
			after[k] = sz
		}
	}
	release(delta(before, after))
	return r, nil
}

func present(size int64) int64 {
	if size >= 0 {
		return 1
	}
	return 0
}
