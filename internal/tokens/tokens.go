// Package tokens manages the HTTP API's access tokens: random secrets shown
// once, stored only as SHA-256 hashes in the reserved namespace
// _flowkv.tokens of the raw (unguarded) store, so they work on every backend.
// A token carries store.Grants; a revoked token fails verification at once
// because every verification reads the store (unless SetCacheFor trades
// that for speed).
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

// Token is a token's record (never its secret).
type Token struct {
	// ID identifies the token in list and revoke: the first 16 hex digits
	// of the secret's SHA-256, which is also the record's key.
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Grants    store.Grants `json:"-"`
	CreatedAt time.Time    `json:"createdAt"`
	// RevokedAt is set once the token is revoked.
	RevokedAt *time.Time `json:"revokedAt"`
}

// Revoked reports whether t has been revoked.
func (t Token) Revoked() bool { return t.RevokedAt != nil }

// record is the stored JSON of a token.
type record struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hash      string     `json:"hash"`
	Grants    []string   `json:"grants"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt"`
}

// Manager creates, verifies, lists and revokes tokens. It is safe for
// concurrent use.
type Manager struct {
	s   store.Store
	now func() time.Time
	// parsed caches decoded records by ID at an entry version (versions are
	// never reused), so Verify still reads the store on every call, and
	// sees a revocation at once, but decodes a record only when it changed.
	parsed sync.Map // id -> parsedRecord
	nCache atomic.Int64

	// verified remembers successful verifications when CacheFor > 0.
	cacheFor time.Duration
	verified sync.Map // [32]byte hash -> verifiedAt
	nVerif   atomic.Int64
}

type verifiedAt struct {
	tok Token
	at  time.Time
}

// SetCacheFor makes Verify trust a successful verification for d without
// reading the store again (0, the default, reads it on every call).
// Revoking through this Manager takes effect at once; a revocation by
// another process (flowkv token revoke) takes effect within d. Call it
// before the Manager is used.
func (m *Manager) SetCacheFor(d time.Duration) { m.cacheFor = max(d, 0) }

type parsedRecord struct {
	version int64
	hash    []byte
	tok     Token
}

// maxCached bounds the decoded-record cache.
const maxCached = 10000

// New returns a Manager over the raw store s (not a WithGrants view: grants
// never cover reserved namespaces).
func New(s store.Store) *Manager {
	return &Manager{s: s, now: func() time.Time { return time.Now().UTC() }}
}

func hashOf(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// IDOf returns the ID of the token whose secret is secret.
func IDOf(secret string) string {
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

// Create makes a token with grants g and returns its secret (to show once)
// and record. Empty grants are invalid_argument.
func (m *Manager) Create(ctx context.Context, name string, g store.Grants) (string, Token, error) {
	for range 3 {
		secret, err := Generate()
		if err != nil {
			return "", Token{}, err
		}
		t, err := m.CreateWithSecret(ctx, name, secret, g)
		if errors.Is(err, store.ErrExists) {
			continue // an ID collision: draw again
		}
		return secret, t, err
	}
	return "", Token{}, store.Errorf(store.CodeUnavailable, "could not draw a unique token")
}

// CreateWithSecret stores a token whose secret the caller chose (the admin
// token from FLOWKV_ADMIN_TOKEN). already_exists if it is already stored.
func (m *Manager) CreateWithSecret(ctx context.Context, name, secret string, g store.Grants) (Token, error) {
	if len(secret) < MinSuppliedLength {
		return Token{}, store.Errorf(store.CodeInvalidArgument, "a token must be at least %d characters", MinSuppliedLength)
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
	h := hashOf(secret)
	r := record{
		ID:        IDOf(secret),
		Name:      name,
		Hash:      hex.EncodeToString(h[:]),
		Grants:    g.Strings(),
		CreatedAt: m.now(),
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Token{}, err
	}
	if _, err := m.s.Insert(ctx, Namespace, r.ID, data, store.WriteOptions{}); err != nil {
		return Token{}, err
	}
	return r.token()
}

func (r record) token() (Token, error) {
	g, err := store.ParseGrants(r.Grants)
	if err != nil {
		return Token{}, err
	}
	return Token{ID: r.ID, Name: r.Name, Grants: g, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}, nil
}

func decode(e store.Entry) (record, error) {
	var r record
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return record{}, store.Errorf(store.CodeUnavailable, "token record %s is damaged", e.Key)
	}
	return r, nil
}

var errBadToken = store.Errorf(store.CodeUnauthenticated, "the token is not valid")

// Verify returns the token whose secret is secret, or unauthenticated when
// it is unknown or revoked. The stored hash is compared in constant time.
// It reads the store on every call unless SetCacheFor was given a duration.
// Store failures keep their own code (a database outage is not a bad token).
func (m *Manager) Verify(ctx context.Context, secret string) (Token, error) {
	if secret == "" || len(secret) > 1024 {
		return Token{}, errBadToken
	}
	h := hashOf(secret)
	if m.cacheFor > 0 {
		if v, ok := m.verified.Load(h); ok && time.Since(v.(verifiedAt).at) < m.cacheFor {
			return v.(verifiedAt).tok, nil
		}
	}
	t, err := m.verify(ctx, h)
	if err == nil && m.cacheFor > 0 {
		if m.nVerif.Add(1) > maxCached {
			m.verified.Clear()
			m.nVerif.Store(0)
		}
		m.verified.Store(h, verifiedAt{tok: t, at: time.Now()})
	}
	return t, err
}

func (m *Manager) verify(ctx context.Context, h [sha256.Size]byte) (Token, error) {
	e, err := m.s.FindNameKey(ctx, Namespace, hex.EncodeToString(h[:8]))
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, errBadToken
	}
	if err != nil {
		return Token{}, err
	}
	pr, err := m.parse(e)
	if err != nil {
		return Token{}, err
	}
	if subtle.ConstantTimeCompare(pr.hash, h[:]) != 1 {
		return Token{}, errBadToken
	}
	if pr.tok.RevokedAt != nil {
		return Token{}, store.Errorf(store.CodeUnauthenticated, "the token has been revoked")
	}
	return pr.tok, nil
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
	t, err := r.token()
	if err != nil {
		return parsedRecord{}, err
	}
	pr := parsedRecord{version: e.Version, hash: hash, tok: t}
	if m.nCache.Add(1) > maxCached {
		m.parsed.Clear()
		m.nCache.Store(0)
	}
	m.parsed.Store(e.Key, pr)
	return pr, nil
}

// List returns every token (revoked ones included), oldest first.
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
			t, err := r.token()
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

// Revoke revokes the token with id (or, when unambiguous, a unique token
// name). not_found when there is none; revoking twice is not an error.
func (m *Manager) Revoke(ctx context.Context, idOrName string) (Token, error) {
	e, err := m.s.FindNameKey(ctx, Namespace, strings.ToLower(idOrName))
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
		if _, err := m.s.Update(ctx, Namespace, e.Key, data, store.WriteOptions{IfVersion: e.Version}); err != nil {
			return Token{}, err
		}
	}
	if hash, err := hex.DecodeString(r.Hash); err == nil && len(hash) == sha256.Size {
		m.verified.Delete([sha256.Size]byte(hash))
	}
	return r.token()
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
		return m.s.FindNameKey(ctx, Namespace, found[0].ID)
	}
	return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "%d tokens are named %q: revoke by id", len(found), name)
}

// EnsureAdmin makes sure an admin token (write on every namespace) exists.
// With supplied != "" (FLOWKV_ADMIN_TOKEN) that secret is stored unless it
// already is (a revoked one stays revoked); otherwise, when no token exists
// at all, a new one is generated. It returns the secret to print when a
// token was generated, "" otherwise.
func (m *Manager) EnsureAdmin(ctx context.Context, supplied string) (string, error) {
	if supplied != "" {
		_, err := m.CreateWithSecret(ctx, "admin", supplied, store.AllGrants())
		if errors.Is(err, store.ErrExists) {
			return "", nil
		}
		return "", err
	}
	any, err := m.Any(ctx)
	if err != nil || any {
		return "", err
	}
	secret, _, err := m.Create(ctx, "admin", store.AllGrants())
	return secret, err
}
