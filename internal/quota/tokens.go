package quota

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/flowkv/flowkv/store"
)

// tokenState is one token's counters in this process.
type tokenState struct {
	id string

	mu    sync.Mutex
	quota TokenQuota
	// month is the monthIndex the counts below belong to; loaded reports
	// whether base was read from the store for it.
	month  int
	loaded bool
	// base is the stored total as last read (or as this process last
	// flushed it), inflight what a running flush is adding, pending what
	// was counted since. The month's count is base + inflight + pending.
	base, inflight, pending int64
	running                 int
}

func (ts *tokenState) setQuota(q TokenQuota) {
	ts.mu.Lock()
	ts.quota = q
	ts.mu.Unlock()
}

type usageKey struct {
	id    string
	month int
}

// token returns id's state, creating it.
func (m *Manager) token(id string) *tokenState {
	m.mu.RLock()
	ts := m.tokens[id]
	m.mu.RUnlock()
	if ts != nil {
		return ts
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ts = m.tokens[id]; ts == nil {
		ts = &tokenState{id: id, quota: m.tquotas[id], month: -1}
		m.tokens[id] = ts
	}
	return ts
}

// current brings ts to month mon, reading the stored total when this
// process has not yet counted that month. It returns with ts.mu held.
func (m *Manager) current(ctx context.Context, ts *tokenState, mon int) error {
	ts.mu.Lock()
	for ts.month != mon || !ts.loaded {
		if ts.month != mon {
			if n := ts.pending; n > 0 && ts.month >= 0 {
				m.retire(usageKey{ts.id, ts.month}, n)
			}
			// A flush in flight for the old month settles by itself (it
			// checks the month before touching the counts).
			ts.month, ts.loaded, ts.base, ts.inflight, ts.pending = mon, false, 0, 0, 0
		}
		ts.mu.Unlock()
		gen := m.setGen.Load()
		v, err := StoredOps(ctx, m.s, ts.id, monthName(mon))
		if err != nil {
			return err
		}
		// The quota too: one set by another process (token create
		// --ops-per-month) holds from the token's first call here, not
		// only from the next Refresh.
		q, err := GetTokenQuota(ctx, m.s, ts.id)
		if err != nil {
			return err
		}
		ts.mu.Lock()
		if ts.month == mon && !ts.loaded {
			ts.base, ts.loaded = v, true
			if m.setGen.Load() == gen { // else a Set* ran meanwhile and set it
				ts.quota = q
			}
		}
	}
	return nil
}

func (m *Manager) retire(k usageKey, n int64) {
	m.retMu.Lock()
	m.retired[k] += n
	m.retMu.Unlock()
}

// take counts one store operation of ts, or refuses it when the token's
// monthly quota is used up.
func (m *Manager) take(ctx context.Context, ts *tokenState) error {
	now := m.now()
	if err := m.current(ctx, ts, monthIndex(now)); err != nil {
		return err
	}
	q := ts.quota.OpsPerMonth
	if q > 0 && ts.base+ts.inflight+ts.pending >= q {
		ts.mu.Unlock()
		return exhausted("token %s: the quota of %d store operations per month is reached (it resets %s)",
			ts.id, q, MonthEnd(now).Format(time.RFC3339))
	}
	ts.pending++
	ts.mu.Unlock()
	return nil
}

// flushItem is one sum a flush adds to the stored totals.
type flushItem struct {
	k  usageKey
	n  int64
	ts *tokenState // nil for retired months
}

// Flush adds the operations counted since the last flush to the stored
// monthly totals, in batches of store.MaxAtomicActions sums, and reads
// back the totals of tokens that have a monthly quota (so this process
// sees what other servers counted). What fails to flush stays counted in
// memory and is retried by the next Flush.
func (m *Manager) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()

	var items []flushItem
	m.mu.RLock()
	for _, ts := range m.tokens {
		ts.mu.Lock()
		if ts.pending > 0 && ts.month >= 0 {
			items = append(items, flushItem{k: usageKey{ts.id, ts.month}, n: ts.pending, ts: ts})
			ts.inflight += ts.pending
			ts.pending = 0
		}
		ts.mu.Unlock()
	}
	m.mu.RUnlock()
	m.retMu.Lock()
	for k, n := range m.retired {
		items = append(items, flushItem{k: k, n: n})
	}
	clear(m.retired)
	m.retMu.Unlock()

	var firstErr error
	for start := 0; start < len(items); start += store.MaxAtomicActions {
		batch := items[start:min(start+store.MaxAtomicActions, len(items))]
		muts := make([]store.Mutation, len(batch))
		for i, it := range batch {
			muts[i] = store.Mutation{Op: store.OpSum, Name: UsageNamespace, Key: opsKey(monthName(it.k.month), it.k.id),
				Data: json.RawMessage(strconv.FormatInt(it.n, 10)), TTL: UsageRetention}
		}
		_, err := m.s.Atomic(ctx, nil, muts)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		for _, it := range batch {
			m.settle(ctx, it, err == nil)
		}
	}
	return firstErr
}

// settle ends a flush item: on success the count moves from inflight to
// base (read back when the token has a monthly quota), on failure back to
// pending (or the retired counts when the month has changed).
func (m *Manager) settle(ctx context.Context, it flushItem, ok bool) {
	if it.ts == nil {
		if !ok {
			m.retire(it.k, it.n)
		}
		return
	}
	ts := it.ts
	var total int64 = -1
	if ok {
		ts.mu.Lock()
		readBack := ts.quota.OpsPerMonth > 0 && ts.month == it.k.month
		ts.mu.Unlock()
		if readBack {
			if v, err := StoredOps(ctx, m.s, it.k.id, monthName(it.k.month)); err == nil {
				total = v
			}
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.month != it.k.month {
		if !ok {
			m.retire(it.k, it.n)
		}
		return
	}
	ts.inflight -= it.n
	switch {
	case !ok:
		ts.pending += it.n
	case total >= 0:
		ts.base = total
	default:
		ts.base += it.n
	}
}

// StartRun admits one script run of token id, or refuses it with
// resource_exhausted when the token already runs as many as its quota
// allows (in this process). Call release when the run ends; calling it
// more than once is harmless.
func (m *Manager) StartRun(id string) (release func(), err error) {
	ts := m.token(id)
	ts.mu.Lock()
	limit := ts.quota.ScriptRuns
	if limit <= 0 {
		limit = m.o.DefaultScriptRuns
	}
	if ts.running >= limit {
		ts.mu.Unlock()
		return nil, exhausted("token %s: the quota of %d concurrent script runs is reached", id, limit)
	}
	ts.running++
	ts.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			ts.mu.Lock()
			ts.running--
			ts.mu.Unlock()
		})
	}, nil
}

// TokenUsage is a token's usage and quota as this process sees it.
type TokenUsage struct {
	ID string `json:"id"`
	// Month is the calendar month (UTC) counted, "YYYY-MM".
	Month string `json:"month"`
	// Ops is the store operations made this month.
	Ops int64 `json:"ops"`
	// OpsPerMonth is the monthly quota; 0 = unlimited.
	OpsPerMonth int64 `json:"opsPerMonth"`
	// ResetsAt is when Ops starts again from 0.
	ResetsAt time.Time `json:"resetsAt"`
	// ScriptRuns is the scripts the token runs now (on this server).
	ScriptRuns int `json:"scriptRuns"`
	// MaxScriptRuns is the concurrent script run quota in effect.
	MaxScriptRuns int `json:"maxScriptRuns"`
}

// TokenUsage returns token id's usage this month.
func (m *Manager) TokenUsage(ctx context.Context, id string) (TokenUsage, error) {
	now := m.now()
	ts := m.token(id)
	if err := m.current(ctx, ts, monthIndex(now)); err != nil {
		return TokenUsage{}, err
	}
	defer ts.mu.Unlock()
	u := TokenUsage{
		ID: id, Month: Month(now), Ops: ts.base + ts.inflight + ts.pending,
		OpsPerMonth: ts.quota.OpsPerMonth, ResetsAt: MonthEnd(now),
		ScriptRuns: ts.running, MaxScriptRuns: ts.quota.ScriptRuns,
	}
	if u.MaxScriptRuns <= 0 {
		u.MaxScriptRuns = m.o.DefaultScriptRuns
	}
	return u, nil
}

// TokenQuota returns token id's quota as this process enforces it.
func (m *Manager) TokenQuota(id string) TokenQuota {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.tquotas[id]
}

// SetTokenQuota stores token id's quota and enforces it here at once
// (other servers within their RefreshEvery).
func (m *Manager) SetTokenQuota(ctx context.Context, id string, q TokenQuota) error {
	if err := SetTokenQuota(ctx, m.s, id, q); err != nil {
		return err
	}
	m.setGen.Add(1) // after the write, before the map: see Refresh
	m.mu.Lock()
	if q == (TokenQuota{}) {
		delete(m.tquotas, id)
	} else {
		m.tquotas[id] = q
	}
	ts := m.tokens[id]
	m.mu.Unlock()
	if ts != nil {
		ts.setQuota(q)
	}
	return nil
}
