// Package tokens manages the HTTP API's access tokens: random secrets shown
// once, stored only as SHA-256 hashes in the reserved namespace
// _flowkv.tokens of the raw (unguarded) store, so they work on every backend.
// A token carries store.Grants and scopes (ScopeFlows, ScopeAdmin).
//
// Verified tokens are cached in memory, so a request does not read the
// store. Revoking a token also bumps a generation item
// (GenerationNamespace), in the same atomic write; a Manager trusts a
// cached verification only while a read of that item that started less
// than its cache bound ago (DefaultCacheBound, 1s) still shows the
// generation the token was verified under. A revocation by any process
// (another server, the CLI) therefore takes effect everywhere within the
// bound, and one through this Manager at once. The item is read at most
// about twice per bound, whatever the request rate, in the background of
// a request (or, after the Manager was idle for a bound, in it).
//
// A token is identified in lists, logs and revocation by a random ID
// ("tok_" + 16 hex digits) stored with it, never by anything derived from
// its secret. Records are keyed by the first 16 hex digits of the secret's
// SHA-256 (the lookup key, which was also the ID of tokens created before
// random IDs); Revoke accepts either.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Namespace is the reserved namespace token records live in.
const Namespace = store.ReservedPrefix + "tokens"

// Prefix starts every generated token, so leaked tokens are easy to spot.
const Prefix = "fkv_"

// SecretBytes is how many random bytes a generated token carries.
const SecretBytes = 32

// MinSuppliedLength is the shortest token accepted from FLOWKV_ADMIN_TOKEN.
const MinSuppliedLength = 16

// Scopes a token may carry beyond its namespace grants.
const (
	// ScopeFlows allows creating, changing, deleting and running flows,
	// and storing, deleting and running inline or stored scripts' sources
	// (managing scripts). Without it a token reads and writes its granted
	// namespaces and runs stored scripts by name, nothing more.
	ScopeFlows = "flows"
	// ScopeAdmin allows everything: it implies ScopeFlows and write access
	// to every namespace, and managing tokens.
	ScopeAdmin = "admin"
)

// IDPrefix starts every random token ID.
const IDPrefix = "tok_"

// ParseScopes checks scope names (flows, admin) and returns them sorted
// without duplicates.
func ParseScopes(items []string) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for _, it := range items {
		for _, s := range strings.Split(it, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			if s != ScopeFlows && s != ScopeAdmin {
				return nil, store.Errorf(store.CodeInvalidArgument, "scope %q: want flows or admin", s)
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Token is a token's record (never its secret).
type Token struct {
	// ID identifies the token in list, logs and revoke: random, stored with
	// the token ("tok_" + 16 hex digits).
	ID string `json:"id"`
	// Key is the record's key, the first 16 hex digits of the secret's
	// SHA-256 (the ID tokens had before random IDs; Revoke accepts it).
	Key  string `json:"-"`
	Name string `json:"name"`
	// Grants are the token's effective grants (write on every namespace for
	// an admin token).
	Grants store.Grants `json:"-"`
	// Scopes are the token's scopes, sorted (ScopeFlows, ScopeAdmin).
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"createdAt"`
	// RevokedAt is set once the token is revoked.
	RevokedAt *time.Time `json:"revokedAt"`
}

// Revoked reports whether t has been revoked.
func (t Token) Revoked() bool { return t.RevokedAt != nil }

// Has reports whether t carries scope (ScopeAdmin implies every scope).
func (t Token) Has(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

// record is the stored JSON of a token.
type record struct {
	// ID is the random ID; in records written before random IDs it equals
	// the key (the hash prefix).
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Hash   string   `json:"hash"`
	Grants []string `json:"grants"`
	// Scopes is nil (absent) in records written before scopes; see
	// legacyScopes.
	Scopes    *[]string  `json:"scopes,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt"`
}

// legacy reports whether r was written before random IDs and scopes.
func (r record) legacy() bool { return r.Scopes == nil || !strings.HasPrefix(r.ID, IDPrefix) }

// legacyScopes are the scopes of a token created before scopes existed: the
// admin token (named "admin" with grant *:write, as EnsureAdmin made it)
// gets admin; any other token holding a *:write grant gets flows (it could
// manage scripts before); every other token gets none.
func legacyScopes(r record) []string {
	g, err := store.ParseGrants(r.Grants)
	if err != nil || g[store.Wildcard] < store.Write {
		return []string{}
	}
	if r.Name == "admin" {
		return []string{ScopeAdmin}
	}
	return []string{ScopeFlows}
}

// newID draws a random token ID.
func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return IDPrefix + hex.EncodeToString(b), nil
}

// Manager creates, verifies, lists and revokes tokens. It is safe for
// concurrent use.
type Manager struct {
	s   store.Store
	now func() time.Time
	// parsed caches decoded records by ID at an entry version (versions are
	// never reused), so a read of a record decodes it only when it changed.
	parsed sync.Map // id -> parsedRecord
	nCache atomic.Int64

	// bound is the cache bound (0: no cache, every verification reads).
	bound time.Duration
	// verified holds verifications by record key, each valid while the
	// generation observed within bound is the one it was made under.
	verified sync.Map // key -> cachedToken
	nVerif   atomic.Int64
	// obs is the latest observation of the generation item; refreshing
	// is set while a background read of it runs; obsMu serialises the
	// reads a request waits for.
	obs        atomic.Pointer[observation]
	refreshing atomic.Bool
	obsMu      sync.Mutex
}

// GenerationNamespace holds the token generation item (key GenerationKey):
// every revocation rewrites it, so its version changes, in the same atomic
// write as the token's record.
const (
	GenerationNamespace = store.ReservedPrefix + "tokengen"
	GenerationKey       = "generation"
)

// DefaultCacheBound is the default cache bound: the longest a revocation
// made by another process takes to reach a Manager.
const DefaultCacheBound = time.Second

type cachedToken struct {
	hash []byte
	tok  Token
	gen  int64
}

// observation is a read of the generation item: its version (0 when
// absent) and when the read started.
type observation struct {
	version int64
	at      time.Time
}

// SetCacheFor sets the cache bound: a verification is reused without
// reading the store while the generation item, read less than d ago, has
// not changed; a revocation by another process (flowkv token revoke,
// another server) takes effect within d, one through this Manager at once.
// d == 0 means DefaultCacheBound; d < 0 turns the cache off (every
// verification reads the token's record). Call it before the Manager is
// used.
func (m *Manager) SetCacheFor(d time.Duration) {
	switch {
	case d == 0:
		m.bound = DefaultCacheBound
	case d < 0:
		m.bound = 0
	default:
		m.bound = d
	}
}

// CacheBound returns the cache bound in effect (0: no cache).
func (m *Manager) CacheBound() time.Duration { return m.bound }

type parsedRecord struct {
	version int64
	hash    []byte
	tok     Token
	legacy  bool
}

// maxCached bounds the decoded-record cache.
const maxCached = 10000

// New returns a Manager over the raw store s (not a WithGrants view: grants
// never cover reserved namespaces).
func New(s store.Store) *Manager {
	return &Manager{s: s, now: func() time.Time { return time.Now().UTC() }, bound: DefaultCacheBound}
}

func hashOf(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// KeyOf returns the record key of the token whose secret is secret (the
// token's ID before random IDs; Revoke still accepts it).
func KeyOf(secret string) string {
	h := hashOf(secret)
	return hex.EncodeToString(h[:8])
}

// Generate returns a new random token secret.
func Generate() (string, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Create makes a token with grants g and scopes (ScopeFlows, ScopeAdmin)
// and returns its secret (to show once) and record. Empty grants are
// invalid_argument unless the token is an admin.
func (m *Manager) Create(ctx context.Context, name string, g store.Grants, scopes ...string) (string, Token, error) {
	for range 3 {
		secret, err := Generate()
		if err != nil {
			return "", Token{}, err
		}
		t, err := m.CreateWithSecret(ctx, name, secret, g, scopes...)
		if errors.Is(err, store.ErrExists) {
			continue // an ID collision: draw again
		}
		return secret, t, err
	}
	return "", Token{}, store.Errorf(store.CodeUnavailable, "could not draw a unique token")
}

// CreateWithSecret stores a token whose secret the caller chose (the admin
// token from FLOWKV_ADMIN_TOKEN). already_exists if it is already stored.
func (m *Manager) CreateWithSecret(ctx context.Context, name, secret string, g store.Grants, scopes ...string) (Token, error) {
	if len(secret) < MinSuppliedLength {
		return Token{}, store.Errorf(store.CodeInvalidArgument, "a token must be at least %d characters", MinSuppliedLength)
	}
	sc, err := ParseScopes(scopes)
	if err != nil {
		return Token{}, err
	}
	if slices.Contains(sc, ScopeAdmin) {
		g = store.AllGrants()
	}
	if len(g) == 0 {
		return Token{}, store.Errorf(store.CodeInvalidArgument, "a token needs at least one grant (namespace:read or namespace:write)")
	}
	for n := range g {
		if store.IsReserved(n) {
			return Token{}, store.Errorf(store.CodeInvalidArgument, "grant %q: reserved namespaces cannot be granted", n)
		}
	}
	if len(name) > 200 {
		return Token{}, store.Errorf(store.CodeInvalidArgument, "name is longer than 200 bytes")
	}
	id, err := newID()
	if err != nil {
		return Token{}, err
	}
	h := hashOf(secret)
	r := record{
		ID:        id,
		Name:      name,
		Hash:      hex.EncodeToString(h[:]),
		Grants:    g.Strings(),
		Scopes:    &sc,
		CreatedAt: m.now(),
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Token{}, err
	}
	key := KeyOf(secret)
	if _, err := m.s.Insert(ctx, Namespace, key, data, store.WriteOptions{}); err != nil {
		return Token{}, err
	}
	return r.token(key)
}

// token is the record as a Token; key is the record's key.
func (r record) token(key string) (Token, error) {
	g, err := store.ParseGrants(r.Grants)
	if err != nil {
		return Token{}, err
	}
	var sc []string
	if r.Scopes != nil {
		sc = append([]string{}, (*r.Scopes)...)
	} else {
		sc = legacyScopes(r)
	}
	if slices.Contains(sc, ScopeAdmin) {
		g = store.AllGrants()
	}
	return Token{ID: r.ID, Key: key, Name: r.Name, Grants: g, Scopes: sc, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}, nil
}

// migrate gives a record written before random IDs and scopes its random
// ID and its legacyScopes, and stores it (once: a concurrent migration of
// the same record wins, and e is read again). It returns the entry now
// stored.
func (m *Manager) migrate(ctx context.Context, e store.Entry) (store.Entry, error) {
	for range 5 {
		r, err := decode(e)
		if err != nil {
			return store.Entry{}, err
		}
		if !r.legacy() {
			return e, nil
		}
		t, err := r.token(e.Key)
		if err != nil {
			return store.Entry{}, err
		}
		if !strings.HasPrefix(r.ID, IDPrefix) {
			if r.ID, err = newID(); err != nil {
				return store.Entry{}, err
			}
		}
		if r.Scopes == nil {
			sc := t.Scopes
			r.Scopes = &sc
		}
		data, err := json.Marshal(r)
		if err != nil {
			return store.Entry{}, err
		}
		ne, err := m.s.Update(ctx, Namespace, e.Key, data, store.WriteOptions{IfVersion: e.Version})
		if err == nil {
			return ne, nil
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return store.Entry{}, err
		}
		if e, err = m.s.FindNameKey(ctx, Namespace, e.Key); err != nil {
			return store.Entry{}, err
		}
	}
	return store.Entry{}, store.Errorf(store.CodeUnavailable, "token record %s keeps changing", e.Key)
}

func decode(e store.Entry) (record, error) {
	var r record
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return record{}, store.Errorf(store.CodeUnavailable, "token record %s is damaged", e.Key)
	}
	return r, nil
}

var errBadToken = store.Errorf(store.CodeUnauthenticated, "the token is not valid")

var errRevoked = store.Errorf(store.CodeUnauthenticated, "the token has been revoked")

// Verify returns the token whose secret is secret, or unauthenticated when
// it is unknown or revoked. The stored hash is compared in constant time.
// A verification is cached (see SetCacheFor); unknown and revoked tokens
// are not. Store failures keep their own code (a database outage is not a
// bad token).
func (m *Manager) Verify(ctx context.Context, secret string) (Token, error) {
	if secret == "" || len(secret) > 1024 {
		return Token{}, errBadToken
	}
	h := hashOf(secret)
	key := hex.EncodeToString(h[:8])
	c, err := m.lookup(ctx, key)
	if err != nil {
		return Token{}, err
	}
	if subtle.ConstantTimeCompare(c.hash, h[:]) != 1 {
		return Token{}, errBadToken
	}
	return c.tok, nil
}

// ByKey returns the token whose record key is key (Token.Key), or
// unauthenticated when there is none or it is revoked. It does not prove
// that the caller holds the secret: it is for sessions made by a
// successful Verify (the web UI keeps the key, never the secret). It
// shares Verify's cache.
func (m *Manager) ByKey(ctx context.Context, key string) (Token, error) {
	if len(key) != 16 {
		return Token{}, errBadToken
	}
	c, err := m.lookup(ctx, key)
	return c.tok, err
}

// lookup returns the live (not revoked) token record under key, from the
// cache when its generation is still current.
func (m *Manager) lookup(ctx context.Context, key string) (cachedToken, error) {
	var gen int64
	cache := m.bound > 0
	if cache {
		o, err := m.observe(ctx)
		if err != nil {
			return cachedToken{}, err
		}
		gen = o.version
		if v, ok := m.verified.Load(key); ok && v.(cachedToken).gen == gen {
			return v.(cachedToken), nil
		}
	}
	// The generation was read before the record: a revocation committed
	// after that read changes the generation, so the entry cached below
	// is never trusted past it.
	pr, err := m.read(ctx, key)
	if err != nil {
		return cachedToken{}, err
	}
	if pr.tok.RevokedAt != nil {
		return cachedToken{}, errRevoked
	}
	c := cachedToken{hash: pr.hash, tok: pr.tok, gen: gen}
	if cache {
		if m.nVerif.Add(1) > maxCached {
			m.verified.Clear()
			m.nVerif.Store(0)
		}
		m.verified.Store(key, c)
	}
	return c, nil
}

// observe returns an observation of the generation item that started less
// than the cache bound ago. A younger one than half the bound is used as
// it is; an older one is used while a background read replaces it; with
// none young enough the caller waits for a read.
func (m *Manager) observe(ctx context.Context) (observation, error) {
	if o := m.obs.Load(); o != nil {
		age := time.Since(o.at)
		if age < m.bound/2 {
			return *o, nil
		}
		if age < m.bound {
			if m.refreshing.CompareAndSwap(false, true) {
				go func() {
					defer m.refreshing.Store(false)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_, _ = m.readGeneration(ctx)
				}()
			}
			return *o, nil
		}
	}
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	if o := m.obs.Load(); o != nil && time.Since(o.at) < m.bound {
		return *o, nil // another request read it meanwhile
	}
	return m.readGeneration(ctx)
}

// readGeneration reads the generation item and records the observation
// (unless a newer one was recorded meanwhile).
func (m *Manager) readGeneration(ctx context.Context) (observation, error) {
	at := time.Now()
	var o observation
	e, err := m.s.FindNameKey(ctx, GenerationNamespace, GenerationKey)
	switch {
	case err == nil:
		o = observation{version: e.Version, at: at}
	case errors.Is(err, store.ErrNotFound):
		o = observation{at: at}
	default:
		return observation{}, err
	}
	for {
		cur := m.obs.Load()
		if cur != nil && cur.at.After(at) {
			return *cur, nil
		}
		if m.obs.CompareAndSwap(cur, &o) {
			return o, nil
		}
	}
}

// read reads the token record under key (migrating a legacy one).
func (m *Manager) read(ctx context.Context, key string) (parsedRecord, error) {
	e, err := m.s.FindNameKey(ctx, Namespace, key)
	if errors.Is(err, store.ErrNotFound) {
		return parsedRecord{}, errBadToken
	}
	if err != nil {
		return parsedRecord{}, err
	}
	pr, err := m.parse(e)
	if err != nil {
		return parsedRecord{}, err
	}
	if pr.legacy {
		// First use since random IDs and scopes: store them.
		if e, err = m.migrate(ctx, e); err != nil {
			return parsedRecord{}, err
		}
		if pr, err = m.parse(e); err != nil {
			return parsedRecord{}, err
		}
	}
	return pr, nil
}

// parse decodes a token record, reusing the decoded form of the same
// entry version.
func (m *Manager) parse(e store.Entry) (parsedRecord, error) {
	if v, ok := m.parsed.Load(e.Key); ok && v.(parsedRecord).version == e.Version {
		return v.(parsedRecord), nil
	}
	r, err := decode(e)
	if err != nil {
		return parsedRecord{}, err
	}
	hash, err := hex.DecodeString(r.Hash)
	if err != nil {
		return parsedRecord{}, store.Errorf(store.CodeUnavailable, "token record %s is damaged", e.Key)
	}
	t, err := r.token(e.Key)
	if err != nil {
		return parsedRecord{}, err
	}
	pr := parsedRecord{version: e.Version, hash: hash, tok: t, legacy: r.legacy()}
	if m.nCache.Add(1) > maxCached {
		m.parsed.Clear()
		m.nCache.Store(0)
	}
	m.parsed.Store(e.Key, pr)
	return pr, nil
}

// List returns every token (revoked ones included), oldest first. Tokens
// created before random IDs and scopes get them (and keep them) here.
func (m *Manager) List(ctx context.Context) ([]Token, error) {
	var out []Token
	cursor := ""
	for {
		p, err := m.s.List(ctx, Namespace, "", cursor, store.DefaultLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range p.Entries {
			r, err := decode(e)
			if err != nil {
				return nil, err
			}
			if r.legacy() {
				if e, err = m.migrate(ctx, e); err != nil {
					return nil, err
				}
				if r, err = decode(e); err != nil {
					return nil, err
				}
			}
			t, err := r.token(e.Key)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Any reports whether at least one token record exists (revoked or not).
func (m *Manager) Any(ctx context.Context) (bool, error) {
	p, err := m.s.List(ctx, Namespace, "", "", 1)
	if err != nil {
		return false, err
	}
	return len(p.Entries) > 0, nil
}

// Revoke revokes the token with id (its random ID, or the hash-prefix ID
// tokens had before random IDs) or, when unambiguous, a unique token name.
// not_found when there is none; revoking twice is not an error.
func (m *Manager) Revoke(ctx context.Context, idOrName string) (Token, error) {
	var e store.Entry
	var err error
	if strings.HasPrefix(strings.ToLower(idOrName), IDPrefix) {
		e, err = m.byID(ctx, strings.ToLower(idOrName))
	} else {
		e, err = m.s.FindNameKey(ctx, Namespace, strings.ToLower(idOrName))
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidArgument) {
		e, err = m.byName(ctx, idOrName)
	}
	if err != nil {
		return Token{}, err
	}
	r, err := decode(e)
	if err != nil {
		return Token{}, err
	}
	if r.RevokedAt == nil {
		now := m.now()
		r.RevokedAt = &now
		data, err := json.Marshal(r)
		if err != nil {
			return Token{}, err
		}
		// The record and the generation change together: every Manager's
		// cache drops the token once it reads the generation again.
		res, err := m.s.Atomic(ctx, []store.Check{{Name: Namespace, Key: e.Key, Version: e.Version}}, []store.Mutation{
			{Op: store.OpSet, Name: Namespace, Key: e.Key, Data: data},
			{Op: store.OpSum, Name: GenerationNamespace, Key: GenerationKey, Data: json.RawMessage("1")},
		})
		if err != nil {
			return Token{}, err
		}
		if !res.OK {
			return Token{}, store.Errorf(store.CodeConflict, "token %s changed while being revoked: try again", r.ID)
		}
	}
	// Entries cached before now are not trusted again (no generation
	// matches -1); a read of the generation that started before now
	// cannot replace this observation.
	m.verified.Delete(e.Key)
	m.obs.Store(&observation{version: -1, at: time.Now()})
	return r.token(e.Key)
}

// byID finds the record of the token with random ID id (a scan: token
// records are few).
func (m *Manager) byID(ctx context.Context, id string) (store.Entry, error) {
	all, err := m.List(ctx)
	if err != nil {
		return store.Entry{}, err
	}
	for _, t := range all {
		if t.ID == id {
			return m.s.FindNameKey(ctx, Namespace, t.Key)
		}
	}
	return store.Entry{}, store.Errorf(store.CodeNotFound, "no token with id %q", id)
}

func (m *Manager) byName(ctx context.Context, name string) (store.Entry, error) {
	all, err := m.List(ctx)
	if err != nil {
		return store.Entry{}, err
	}
	var found []Token
	for _, t := range all {
		if t.Name == name && name != "" {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return store.Entry{}, store.Errorf(store.CodeNotFound, "no token with id or name %q", name)
	case 1:
		return m.s.FindNameKey(ctx, Namespace, found[0].Key)
	}
	return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "%d tokens are named %q: revoke by id", len(found), name)
}

// EnsureAdmin makes sure an admin token (scope admin: everything) exists.
// With supplied != "" (FLOWKV_ADMIN_TOKEN) that secret is stored unless it
// already is (a revoked one stays revoked; one stored before scopes is
// given scope admin); otherwise, when no token exists at all, a new one is
// generated. It returns the secret to print when a token was generated, ""
// otherwise.
func (m *Manager) EnsureAdmin(ctx context.Context, supplied string) (string, error) {
	if supplied != "" {
		_, err := m.CreateWithSecret(ctx, "admin", supplied, store.AllGrants(), ScopeAdmin)
		if errors.Is(err, store.ErrExists) {
			return "", m.upgradeAdmin(ctx, KeyOf(supplied))
		}
		return "", err
	}
	any, err := m.Any(ctx)
	if err != nil || any {
		return "", err
	}
	secret, _, err := m.Create(ctx, "admin", store.AllGrants(), ScopeAdmin)
	return secret, err
}

// upgradeAdmin gives the FLOWKV_ADMIN_TOKEN's record, when it was stored
// before scopes, scope admin whatever its name (migrating it).
func (m *Manager) upgradeAdmin(ctx context.Context, key string) error {
	e, err := m.s.FindNameKey(ctx, Namespace, key)
	if err != nil {
		return err
	}
	r, err := decode(e)
	if err != nil || r.Scopes != nil {
		return err
	}
	sc := []string{ScopeAdmin}
	r.Scopes = &sc
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := m.s.Update(ctx, Namespace, key, data, store.WriteOptions{IfVersion: e.Version}); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	_, err = m.List(ctx) // give it (and any other old token) a random ID now
	return err
}
