// Package quota enforces flowkv's optional quotas (docs/design.md, "Access"):
// per token, store operations per calendar month (UTC) and concurrent
// script runs; per namespace, live entries and bytes stored. A call past a
// quota fails with resource_exhausted naming the quota and writes nothing.
//
// Counting costs no database write per request: a Manager counts in memory
// and adds what it counted to the stored monthly totals in batches (every
// FlushEvery and at Close), in the reserved namespace _flowkv.usage.
// Namespace usage is not stored at all: it is counted from the store (a
// scan of each namespace that has a quota) when the Manager starts, then
// kept up to date from the writes that pass through it and recounted
// periodically, so it is right after a restart and catches up with writes
// made elsewhere. docs/http.md ("Quotas") states how far enforcement may
// overshoot between flushes and across several servers.
//
// Quotas themselves live in the reserved namespace _flowkv.quotas; the
// package-level functions (SetTokenQuota, SetNamespaceQuota, …) read and
// write them without a Manager (the CLI), and a running Manager picks such
// changes up within RefreshEvery.
package quota

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkv/flowkv/store"
)

// DefaultScriptRuns is how many scripts one token may run at once when its
// quota does not say.
const DefaultScriptRuns = 4

// TokenQuota is a token's quota. Zero fields mean: no monthly operation
// limit, and DefaultScriptRuns concurrent script runs.
type TokenQuota struct {
	// OpsPerMonth bounds the store operations the token makes per calendar
	// month (UTC); 0 = unlimited.
	OpsPerMonth int64 `json:"opsPerMonth"`
	// ScriptRuns bounds the scripts the token runs at once; 0 = the
	// default (DefaultScriptRuns).
	ScriptRuns int `json:"scriptRuns"`
}

// NamespaceQuota is a namespace's quota; zero fields do not limit.
type NamespaceQuota struct {
	// Entries bounds the namespace's live entries.
	Entries int64 `json:"entries"`
	// Bytes bounds the bytes stored: the sum over live entries of the
	// key's length plus the data's canonical JSON length.
	Bytes int64 `json:"bytes"`
}

// IsZero reports whether q limits nothing.
func (q NamespaceQuota) IsZero() bool { return q.Entries <= 0 && q.Bytes <= 0 }

// Options configure a Manager. Zero fields take their defaults.
type Options struct {
	// Now is the clock (tests inject one); default time.Now.
	Now func() time.Time
	// FlushEvery is how often counted operations are added to the stored
	// totals (default 1s).
	FlushEvery time.Duration
	// RefreshEvery is how often quotas changed by another process (the
	// CLI, another server) are read again (default 5s).
	RefreshEvery time.Duration
	// RecountEvery is how often the usage of namespaces with a quota is
	// counted again from the store (default 1m): it catches up with
	// entries that expired and writes other processes made.
	RecountEvery time.Duration
	// RecountAfter: a write refused by a namespace quota first recounts
	// the namespace when its count is older than this (default 1s), so
	// expired or deleted entries elsewhere free their room at once.
	RecountAfter time.Duration
	// DefaultScriptRuns replaces DefaultScriptRuns when > 0.
	DefaultScriptRuns int
	// Logger receives failures of the background work (default
	// slog.Default()).
	Logger *slog.Logger
	// NoBackground turns off the background goroutine (tests that drive
	// Flush and Refresh themselves).
	NoBackground bool
}

func (o Options) normalize() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = 5 * time.Second
	}
	if o.RecountEvery <= 0 {
		o.RecountEvery = time.Minute
	}
	if o.RecountAfter <= 0 {
		o.RecountAfter = time.Second
	}
	if o.DefaultScriptRuns <= 0 {
		o.DefaultScriptRuns = DefaultScriptRuns
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Manager counts usage and enforces quotas for one process. It is safe for
// concurrent use. Build it with Open and Close it before closing the store.
type Manager struct {
	s   store.Store
	o   Options
	log *slog.Logger

	mu      sync.RWMutex
	tquotas map[string]TokenQuota // token id -> quota, as stored
	tokens  map[string]*tokenState
	names   map[string]*nsState // namespaces that have a quota
	// setGen grows after every Set*'s write and before it updates the maps
	// (under mu), so a Refresh whose read may predate that write sees the
	// change and does not undo it.
	setGen atomic.Int64

	retMu   sync.Mutex
	retired map[usageKey]int64 // counts of past months waiting for a flush

	flushMu sync.Mutex // one flush at a time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open returns a Manager over s, the raw (unguarded) store: it reads the
// quotas now and (unless NoBackground) flushes, refreshes and recounts
// periodically until Close. A namespace with a quota is first counted when
// a write or a usage read needs it.
func Open(ctx context.Context, s store.Store, o Options) (*Manager, error) {
	o = o.normalize()
	m := &Manager{
		s: s, o: o, log: o.Logger,
		tquotas: map[string]TokenQuota{},
		tokens:  map[string]*tokenState{},
		names:   map[string]*nsState{},
		retired: map[usageKey]int64{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := m.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("quota: reading quotas: %w", err)
	}
	if o.NoBackground {
		close(m.done)
		return m, nil
	}
	go m.loop()
	return m, nil
}

// loop flushes, refreshes and recounts until Close.
func (m *Manager) loop() {
	defer close(m.done)
	flush := time.NewTicker(m.o.FlushEvery)
	defer flush.Stop()
	refresh := time.NewTicker(m.o.RefreshEvery)
	defer refresh.Stop()
	recount := time.NewTicker(m.o.RecountEvery)
	defer recount.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-flush.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := m.Flush(ctx); err != nil {
				m.log.Warn("quota: flushing usage failed (kept in memory, retried)", "err", err)
			}
			cancel()
		case <-refresh.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := m.Refresh(ctx); err != nil {
				m.log.Warn("quota: reading quotas failed", "err", err)
			}
			cancel()
		case <-recount.C:
			m.recountAll()
		}
	}
}

// Close stops the background work and flushes what was counted. The
// Manager still enforces and counts afterwards (a late flow run), but
// nothing is flushed any more. Close twice returns the first result.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.closeErr = m.Flush(ctx)
	})
	return m.closeErr
}

// Refresh reads every quota from the store again: changes made by another
// process take effect here. Open calls it, and the background loop every
// RefreshEvery.
func (m *Manager) Refresh(ctx context.Context) error {
	gen := m.setGen.Load()
	tq, nq, err := readAll(ctx, m.s)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.setGen.Load() != gen {
		// A Set* ran while reading: what was read may predate it.
		m.mu.Unlock()
		return nil
	}
	m.tquotas = tq
	for id, ts := range m.tokens {
		ts.setQuota(tq[id])
	}
	for name, q := range nq {
		if ns := m.names[name]; ns != nil {
			ns.setQuota(q)
			continue
		}
		// Counted when first needed (a write, a usage read) or by the
		// next periodic recount.
		m.names[name] = newNS(name, q)
	}
	for name := range m.names {
		if _, ok := nq[name]; !ok {
			delete(m.names, name)
		}
	}
	m.mu.Unlock()
	return nil
}

func (m *Manager) now() time.Time { return m.o.Now().UTC() }

func exhausted(format string, args ...any) error {
	return store.Errorf(store.CodeResourceExhausted, format, args...)
}
