package quota

import (
	"context"
	"sort"
	"sync"
	"time"
)

// nsState is the usage of one namespace that has a quota.
type nsState struct {
	name string

	// countMu serializes recounts.
	countMu sync.Mutex

	mu        sync.Mutex
	quota     NamespaceQuota
	counted   bool
	countedAt time.Time
	// entries and bytes are the last count plus the writes since.
	entries, bytes int64
	// resEntries and resBytes are what writes in flight may add.
	resEntries, resBytes int64
	// During a recount, what the writes that finish add is also kept in
	// scanEntries/scanBytes and added to the count's result: counted twice
	// rather than missed when the scan saw them too (the next recount
	// corrects it). What they free is not: a scan that saw the entry
	// before it went would otherwise count it as gone twice.
	scanning               bool
	scanEntries, scanBytes int64
}

func newNS(name string, q NamespaceQuota) *nsState { return &nsState{name: name, quota: q} }

func (ns *nsState) setQuota(q NamespaceQuota) {
	ns.mu.Lock()
	ns.quota = q
	ns.mu.Unlock()
}

// ns returns the state of namespace name, or nil when it has no quota.
func (m *Manager) ns(name string) *nsState {
	m.mu.RLock()
	ns := m.names[name]
	m.mu.RUnlock()
	return ns
}

// recount counts ns from the store unless its count is younger than
// fresh (0: always).
func (m *Manager) recount(ctx context.Context, ns *nsState, fresh time.Duration) error {
	ns.countMu.Lock()
	defer ns.countMu.Unlock()
	ns.mu.Lock()
	if ns.counted && fresh > 0 && m.now().Sub(ns.countedAt) < fresh {
		ns.mu.Unlock()
		return nil
	}
	ns.scanning, ns.scanEntries, ns.scanBytes = true, 0, 0
	ns.mu.Unlock()
	at := m.now()
	entries, bytes, err := Count(ctx, m.s, ns.name)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.scanning = false
	if err != nil {
		return err
	}
	ns.entries, ns.bytes = entries+ns.scanEntries, bytes+ns.scanBytes
	ns.counted, ns.countedAt = true, at
	return nil
}

// ensureCounted counts ns when it has never been counted.
func (m *Manager) ensureCounted(ctx context.Context, ns *nsState) error {
	ns.mu.Lock()
	ok := ns.counted
	ns.mu.Unlock()
	if ok {
		return nil
	}
	return m.recount(ctx, ns, time.Hour)
}

// recountAll recounts every namespace that has a quota (the periodic
// catch-up with expired entries and other processes' writes).
func (m *Manager) recountAll() {
	m.mu.RLock()
	all := make([]*nsState, 0, len(m.names))
	for _, ns := range m.names {
		all = append(all, ns)
	}
	m.mu.RUnlock()
	for _, ns := range all {
		select {
		case <-m.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := m.recount(ctx, ns, m.o.RecountEvery/2); err != nil {
			m.log.Warn("quota: counting a namespace failed", "namespace", ns.name, "err", err)
		}
		cancel()
	}
}

// reserve admits a write that adds entries and bytes (either may be
// negative: a write that frees room is always admitted) to ns, or refuses
// it naming the quota. A refused write first recounts the namespace when
// its count is older than RecountAfter, and is admitted if room was freed.
// The caller must call done with the write's outcome.
func (m *Manager) reserve(ctx context.Context, ns *nsState, entries, bytes int64) error {
	if err := m.ensureCounted(ctx, ns); err != nil {
		return err
	}
	err := ns.tryReserve(entries, bytes)
	if err == nil {
		return nil
	}
	if rerr := m.recount(ctx, ns, m.o.RecountAfter); rerr != nil {
		return err
	}
	return ns.tryReserve(entries, bytes)
}

func (ns *nsState) tryReserve(entries, bytes int64) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	q := ns.quota
	if entries > 0 && q.Entries > 0 && ns.entries+ns.resEntries+entries > q.Entries {
		return exhausted("namespace %s: the quota of %d entries is reached", ns.name, q.Entries)
	}
	if bytes > 0 && q.Bytes > 0 && ns.bytes+ns.resBytes+bytes > q.Bytes {
		return exhausted("namespace %s: the quota of %d bytes is reached (%d stored, the write adds %d)",
			ns.name, q.Bytes, ns.bytes+ns.resBytes, bytes)
	}
	ns.resEntries += max(entries, 0)
	ns.resBytes += max(bytes, 0)
	return nil
}

// done ends a reserve(entries, bytes): it releases the reservation and
// adds what the write actually changed (addEntries, addBytes; zero when
// it failed).
func (ns *nsState) done(entries, bytes, addEntries, addBytes int64) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.resEntries -= max(entries, 0)
	ns.resBytes -= max(bytes, 0)
	ns.entries += addEntries
	ns.bytes += addBytes
	if ns.scanning {
		ns.scanEntries += max(addEntries, 0)
		ns.scanBytes += max(addBytes, 0)
	}
}

// NamespaceUsage is a namespace's quota and usage.
type NamespaceUsage struct {
	Name string `json:"name"`
	// Quota is nil when the namespace has none (then usage is not counted).
	Quota *NamespaceQuota `json:"quota"`
	// Entries and Bytes are the usage (when Quota is set).
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
	// CountedAt is when the namespace was last counted from the store;
	// writes through this server since then are included.
	CountedAt *time.Time `json:"countedAt"`
}

// NamespaceUsage returns namespace name's quota and usage (counting it
// when it has never been counted).
func (m *Manager) NamespaceUsage(ctx context.Context, name string) (NamespaceUsage, error) {
	ns := m.ns(name)
	if ns == nil {
		return NamespaceUsage{Name: name}, nil
	}
	if err := m.ensureCounted(ctx, ns); err != nil {
		return NamespaceUsage{}, err
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	q := ns.quota
	at := ns.countedAt
	return NamespaceUsage{Name: name, Quota: &q, Entries: ns.entries, Bytes: ns.bytes, CountedAt: &at}, nil
}

// NamespacesWithQuota lists the namespaces that have a quota, by name.
func (m *Manager) NamespacesWithQuota() []string {
	m.mu.RLock()
	out := make([]string, 0, len(m.names))
	for n := range m.names {
		out = append(out, n)
	}
	m.mu.RUnlock()
	sort.Strings(out)
	return out
}

// SetNamespaceQuota stores namespace name's quota (zero removes it),
// enforces it here at once (other servers within their RefreshEvery) and
// returns the namespace's usage, counted now.
func (m *Manager) SetNamespaceQuota(ctx context.Context, name string, q NamespaceQuota) (NamespaceUsage, error) {
	if err := SetNamespaceQuota(ctx, m.s, name, q); err != nil {
		return NamespaceUsage{}, err
	}
	m.setGen.Add(1) // after the write, before the map: see Refresh
	m.mu.Lock()
	ns := m.names[name]
	switch {
	case q.IsZero():
		delete(m.names, name)
		ns = nil
	case ns == nil:
		ns = newNS(name, q)
		m.names[name] = ns
	default:
		ns.setQuota(q)
	}
	m.mu.Unlock()
	if ns != nil {
		if err := m.recount(ctx, ns, 0); err != nil {
			return NamespaceUsage{}, err
		}
	}
	return m.NamespaceUsage(ctx, name)
}
