// Package changes tells interested parties that entries changed.
//
// A Hub carries Change notices: "(name, key) was written or deleted". Two
// sources feed it:
//
//   - Notify wraps a store so that every successful write through it, by
//     any face of this process (HTTP API, store browser, blocks, scripts,
//     Deno KV clients), is published at once;
//   - writes by other processes on the same database (the CLI, another
//     `flowkv serve` on PostgreSQL or DynamoDB) are not seen by this
//     process's hub, so a subscriber that must see every change re-reads
//     what it watches every PollInterval as well (Deno KV's watch does).
//
// Subscribers pick what they hear by namespace and keys (or all keys of a
// namespace). Reserved namespaces pass through too: a token revocation is
// a write to the tokens namespace, so a long-lived stream authorised by a
// token subscribes to its token's record and ends when it changes; a store
// event trigger for flows would subscribe to a namespace the same way.
package changes

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/flowkv/flowkv/store"
)

// PollInterval is how often a subscriber re-reads what it watches to see
// writes made by other processes.
const PollInterval = time.Second

// Change is one write: Version is the entry's new version, 0 for a delete.
type Change struct {
	Name, Key string
	Version   int64
}

// Hub fans changes out to subscriptions. The zero value is not usable;
// call NewHub. It is safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*Sub]struct{} // by namespace
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*Sub]struct{}{}} }

// Sub is one subscription. C receives a value (coalesced: at most one
// pending) whenever a matching change is published.
type Sub struct {
	C    chan struct{}
	h    *Hub
	name string
	keys map[string]bool // nil: every key of name
}

// Subscribe listens to changes of the given keys of name (no keys: every
// key of name). Close the subscription when done.
func (h *Hub) Subscribe(name string, keys ...string) *Sub {
	s := &Sub{C: make(chan struct{}, 1), h: h, name: name}
	if len(keys) > 0 {
		s.keys = make(map[string]bool, len(keys))
		for _, k := range keys {
			s.keys[k] = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[name]
	if m == nil {
		m = map[*Sub]struct{}{}
		h.subs[name] = m
	}
	m[s] = struct{}{}
	return s
}

// Close ends the subscription.
func (s *Sub) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if m := s.h.subs[s.name]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.h.subs, s.name)
		}
	}
}

// Publish tells the matching subscriptions about changes.
func (h *Hub) Publish(cs ...Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cs {
		for s := range h.subs[c.Name] {
			if s.keys == nil || s.keys[c.Key] {
				select {
				case s.C <- struct{}{}:
				default:
				}
			}
		}
	}
}

// Subscribers returns the number of open subscriptions (for tests and
// metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}

// Notify wraps st so that its successful writes are published on h.
func Notify(st store.Store, h *Hub) store.Store { return notifying{Store: st, h: h} }

type notifying struct {
	store.Store
	h *Hub
}

func (s notifying) Insert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Insert(ctx, name, key, data, o)
	if err == nil {
		s.h.Publish(Change{Name: name, Key: key, Version: e.Version})
	}
	return e, err
}

func (s notifying) Upsert(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Upsert(ctx, name, key, data, o)
	if err == nil {
		s.h.Publish(Change{Name: name, Key: key, Version: e.Version})
	}
	return e, err
}

func (s notifying) Update(ctx context.Context, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error) {
	e, err := s.Store.Update(ctx, name, key, data, o)
	if err == nil {
		s.h.Publish(Change{Name: name, Key: key, Version: e.Version})
	}
	return e, err
}

func (s notifying) Delete(ctx context.Context, name, key string, o store.DeleteOptions) (bool, error) {
	ok, err := s.Store.Delete(ctx, name, key, o)
	if err == nil && ok {
		s.h.Publish(Change{Name: name, Key: key})
	}
	return ok, err
}

func (s notifying) Atomic(ctx context.Context, checks []store.Check, muts []store.Mutation) (store.AtomicResult, error) {
	r, err := s.Store.Atomic(ctx, checks, muts)
	if err == nil && r.OK {
		cs := make([]Change, len(muts))
		for i, m := range muts {
			cs[i] = Change{Name: m.Name, Key: m.Key}
			if i < len(r.Versions) {
				cs[i].Version = r.Versions[i]
			}
		}
		s.h.Publish(cs...)
	}
	return r, err
}

// Import keeps the wrapped store's Importer (export/import through it).
func (s notifying) Import(ctx context.Context, e store.Entry) (store.Entry, error) {
	im, ok := s.Store.(store.Importer)
	if !ok {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "this store cannot import")
	}
	out, err := im.Import(ctx, e)
	if err == nil {
		s.h.Publish(Change{Name: out.Name, Key: out.Key, Version: out.Version})
	}
	return out, err
}
