package store

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
)

// Access is what a grant allows on a namespace.
type Access int

// Access levels; Write implies Read.
const (
	NoAccess Access = iota
	Read
	Write
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	default:
		return "none"
	}
}

// ParseAccess parses "read" or "write".
func ParseAccess(s string) (Access, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "read", "r":
		return Read, nil
	case "write", "w", "rw":
		return Write, nil
	}
	return NoAccess, Errorf(CodeInvalidArgument, "access %q is not read or write", s)
}

// Wildcard is the grant key that covers every (non-reserved) namespace.
const Wildcard = "*"

// Grants maps namespaces (or Wildcard) to access. A nil or empty Grants
// allows nothing. Reserved namespaces are never granted.
type Grants map[string]Access

// AllGrants returns write access to every namespace.
func AllGrants() Grants { return Grants{Wildcard: Write} }

// ParseGrants parses "namespace:read|write" items ("orders:write",
// "*:read"). A bare namespace means write.
func ParseGrants(items []string) (Grants, error) {
	g := Grants{}
	for _, it := range items {
		name, acc := it, "write"
		if i := strings.LastIndexByte(it, ':'); i >= 0 {
			name, acc = it[:i], it[i+1:]
		}
		a, err := ParseAccess(acc)
		if err != nil {
			return nil, Errorf(CodeInvalidArgument, "grant %q: want namespace:read or namespace:write", it)
		}
		if name != Wildcard {
			if err := DefaultLimits().ValidateName(name); err != nil {
				return nil, Errorf(CodeInvalidArgument, "grant %q: %s", it, Text(err))
			}
		}
		if a > g[name] {
			g[name] = a
		}
	}
	return g, nil
}

// NamespaceGrants gives write access to exactly the listed namespaces
// (a flow's dataStores, a script run's grants); "*" among them grants all.
func NamespaceGrants(names []string) Grants {
	g := Grants{}
	for _, n := range names {
		g[n] = Write
	}
	return g
}

// Strings renders grants as sorted "namespace:access" items.
func (g Grants) Strings() []string {
	out := make([]string, 0, len(g))
	for n, a := range g {
		out = append(out, n+":"+a.String())
	}
	sort.Strings(out)
	return out
}

// Level returns the access g gives on name.
func (g Grants) Level(name string) Access {
	if IsReserved(name) {
		return NoAccess
	}
	a := g[name]
	if w := g[Wildcard]; w > a {
		a = w
	}
	return a
}

// Allow returns ErrAccessDenied unless g gives at least want on name.
func (g Grants) Allow(name string, want Access) error {
	if g.Level(name) >= want {
		return nil
	}
	verb := "read"
	if want == Write {
		verb = "write"
	}
	return Errorf(CodeAccessDenied, "no grant to %s namespace %q", verb, name)
}

// Names returns the namespaces g covers for reading, or nil when it covers
// all (wildcard).
func (g Grants) Names() []string {
	if g[Wildcard] >= Read {
		return nil
	}
	out := []string{}
	for n, a := range g {
		if n != Wildcard && a >= Read && !IsReserved(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WithGrants wraps s so every operation checks g first: reads need Read,
// writes need Write on every namespace they touch, Fetch and Names return
// only granted namespaces. Violations are access_denied and touch nothing.
// When s is an Importer, so is the view (Import needs Write).
func WithGrants(s Store, g Grants) Store {
	if _, ok := s.(Importer); ok {
		return &guardedImporter{guarded{Store: s, g: g}}
	}
	return &guarded{Store: s, g: g}
}

type guardedImporter struct{ guarded }

func (s *guardedImporter) Import(ctx context.Context, e Entry) (Entry, error) {
	if err := s.g.Allow(e.Name, Write); err != nil {
		return Entry{}, err
	}
	return s.Store.(Importer).Import(ctx, e)
}

type guarded struct {
	Store
	g Grants
}

func (s *guarded) Fetch(ctx context.Context, q FetchQuery) (Page, error) {
	if q.Name != "" {
		if err := s.g.Allow(q.Name, Read); err != nil {
			return Page{}, err
		}
	}
	if names := s.g.Names(); names != nil {
		if q.Names != nil {
			names = intersect(names, q.Names)
		}
		q.Names = names
	}
	return s.Store.Fetch(ctx, q)
}

func intersect(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, n := range b {
		in[n] = true
	}
	out := []string{}
	for _, n := range a {
		if in[n] {
			out = append(out, n)
		}
	}
	return out
}

func (s *guarded) FindName(ctx context.Context, name string, limit, offset int) ([]Entry, error) {
	if err := s.g.Allow(name, Read); err != nil {
		return nil, err
	}
	return s.Store.FindName(ctx, name, limit, offset)
}

func (s *guarded) FindNameKey(ctx context.Context, name, key string) (Entry, error) {
	if err := s.g.Allow(name, Read); err != nil {
		return Entry{}, err
	}
	return s.Store.FindNameKey(ctx, name, key)
}

func (s *guarded) Insert(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return Entry{}, err
	}
	return s.Store.Insert(ctx, name, key, data, o)
}

func (s *guarded) Upsert(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return Entry{}, err
	}
	return s.Store.Upsert(ctx, name, key, data, o)
}

func (s *guarded) Update(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return Entry{}, err
	}
	return s.Store.Update(ctx, name, key, data, o)
}

func (s *guarded) Delete(ctx context.Context, name, key string, o DeleteOptions) (bool, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return false, err
	}
	return s.Store.Delete(ctx, name, key, o)
}

func (s *guarded) Atomic(ctx context.Context, checks []Check, muts []Mutation) (AtomicResult, error) {
	for _, c := range checks {
		if err := s.g.Allow(c.Name, Read); err != nil {
			return AtomicResult{}, err
		}
	}
	for _, m := range muts {
		if err := s.g.Allow(m.Name, Write); err != nil {
			return AtomicResult{}, err
		}
	}
	return s.Store.Atomic(ctx, checks, muts)
}

func (s *guarded) List(ctx context.Context, name, prefix, cursor string, limit int) (Page, error) {
	if err := s.g.Allow(name, Read); err != nil {
		return Page{}, err
	}
	return s.Store.List(ctx, name, prefix, cursor, limit)
}

func (s *guarded) ReadRanges(ctx context.Context, name string, r []KeyRange) ([][]Entry, error) {
	if err := s.g.Allow(name, Read); err != nil {
		return nil, err
	}
	return s.Store.ReadRanges(ctx, name, r)
}

func (s *guarded) Names(ctx context.Context) ([]NameCount, error) {
	all, err := s.Store.Names(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, nc := range all {
		if s.g.Level(nc.Name) >= Read {
			out = append(out, nc)
		}
	}
	return out, nil
}

func (s *guarded) Query(ctx context.Context, q Query) (QueryPage, error) {
	if err := s.g.Allow(q.Name, Read); err != nil {
		return QueryPage{}, err
	}
	return s.Store.Query(ctx, q)
}

func (s *guarded) CreateIndex(ctx context.Context, name, field string) (Index, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return Index{}, err
	}
	return s.Store.CreateIndex(ctx, name, field)
}

func (s *guarded) DropIndex(ctx context.Context, name, field string) (bool, error) {
	if err := s.g.Allow(name, Write); err != nil {
		return false, err
	}
	return s.Store.DropIndex(ctx, name, field)
}

// Indexes lists the indexes of granted namespaces only.
func (s *guarded) Indexes(ctx context.Context, name string) ([]Index, error) {
	if name != "" {
		if err := s.g.Allow(name, Read); err != nil {
			return nil, err
		}
		return s.Store.Indexes(ctx, name)
	}
	all, err := s.Store.Indexes(ctx, "")
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, ix := range all {
		if s.g.Level(ix.Name) >= Read {
			out = append(out, ix)
		}
	}
	return out, nil
}

// Close does not close the wrapped store: a guarded view does not own it.
func (s *guarded) Close() error { return nil }

// WithFlow wraps s so every write is stamped with flowUUID.
func WithFlow(s Store, flowUUID string) Store { return &stamped{Store: s, flow: flowUUID} }

type stamped struct {
	Store
	flow string
}

func (s *stamped) Insert(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	o.FlowUUID = s.flow
	return s.Store.Insert(ctx, name, key, data, o)
}

func (s *stamped) Upsert(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	o.FlowUUID = s.flow
	return s.Store.Upsert(ctx, name, key, data, o)
}

func (s *stamped) Update(ctx context.Context, name, key string, data json.RawMessage, o WriteOptions) (Entry, error) {
	o.FlowUUID = s.flow
	return s.Store.Update(ctx, name, key, data, o)
}

func (s *stamped) Atomic(ctx context.Context, checks []Check, muts []Mutation) (AtomicResult, error) {
	stampedMuts := make([]Mutation, len(muts))
	for i, m := range muts {
		m.FlowUUID = s.flow
		stampedMuts[i] = m
	}
	return s.Store.Atomic(ctx, checks, stampedMuts)
}

// Close does not close the wrapped store.
func (s *stamped) Close() error { return nil }
