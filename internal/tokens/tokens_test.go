package tokens_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
	"github.com/flowkv/flowkv/store/sqlstore"
)

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLifecycleSQLite(t *testing.T)   { lifecycle(t, open(t, testenv.SQLiteDSN(t))) }
func TestLifecyclePostgres(t *testing.T) { lifecycle(t, open(t, testenv.PostgresDSN(t))) }

func lifecycle(t *testing.T, st store.Store) {
	ctx := context.Background()
	m := tokens.New(st)
	if any, err := m.Any(ctx); err != nil || any {
		t.Fatalf("Any on empty store: %v %v", any, err)
	}
	g, _ := store.ParseGrants([]string{"orders:write", "default:read"})
	secret, tok, err := m.Create(ctx, "ci", g)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, tokens.Prefix) || len(secret) != len(tokens.Prefix)+43 {
		t.Fatalf("secret %q: want fkv_ + 32 random bytes base64url", secret)
	}
	// The ID is random, not derived from the secret; the record's key is.
	if !strings.HasPrefix(tok.ID, tokens.IDPrefix) || len(tok.ID) != len(tokens.IDPrefix)+16 || tok.Key != tokens.KeyOf(secret) || tok.Name != "ci" {
		t.Fatalf("token %+v", tok)
	}
	if strings.Contains(tokens.KeyOf(secret), strings.TrimPrefix(tok.ID, tokens.IDPrefix)) {
		t.Fatalf("ID %s is part of the hash %s", tok.ID, tokens.KeyOf(secret))
	}
	if len(tok.Scopes) != 0 || tok.Has(tokens.ScopeFlows) {
		t.Fatalf("a token created without scopes has %v", tok.Scopes)
	}
	got, err := m.Verify(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.Grants.Level("orders") != store.Write || got.Grants.Level("default") != store.Read || got.Grants.Level("x") != store.NoAccess {
		t.Fatalf("grants %v", got.Grants)
	}
	// Stored hashed: the record holds neither the secret nor its random part.
	e, err := st.FindNameKey(ctx, tokens.Namespace, tok.Key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.Data), secret[len(tokens.Prefix):]) {
		t.Fatalf("record holds the secret: %s", e.Data)
	}
	// Wrong secrets: unknown, same ID prefix impossible to forge, empty.
	for _, bad := range []string{"", "fkv_nope", secret + "x", strings.ToUpper(secret), secret[:len(secret)-1]} {
		if _, err := m.Verify(ctx, bad); store.CodeOf(err) != store.CodeUnauthenticated {
			t.Fatalf("Verify(%q) = %v, want unauthenticated", bad, err)
		}
	}
	// A record under the right key whose hash differs fails the
	// constant-time compare (a Manager without cache: a write behind the
	// Manager's back does not bump the generation).
	nc := tokens.New(st)
	nc.SetCacheFor(-1)
	forged := strings.Replace(string(e.Data), `"hash":"`, `"hash":"00`, 1)
	if _, err := st.Upsert(ctx, tokens.Namespace, tok.Key, []byte(forged), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Verify(ctx, secret); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("Verify against a different hash: %v", err)
	}
	if _, err := st.Upsert(ctx, tokens.Namespace, tok.Key, e.Data, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Verify(ctx, secret); err != nil {
		t.Fatal(err)
	}

	if _, err := m.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, secret); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("revoked token verified: %v", err)
	}
	if _, err := m.Revoke(ctx, tok.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := m.Revoke(ctx, "nosuch"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Revoked() {
		t.Fatalf("list %+v %v", list, err)
	}

	// EnsureAdmin: tokens exist, so nothing is generated.
	if s, err := m.EnsureAdmin(ctx, ""); err != nil || s != "" {
		t.Fatalf("EnsureAdmin with tokens present: %q %v", s, err)
	}
	// A supplied admin token is stored once, idempotently.
	for range 2 {
		if s, err := m.EnsureAdmin(ctx, "supplied-admin-token-123"); err != nil || s != "" {
			t.Fatalf("EnsureAdmin(supplied): %q %v", s, err)
		}
	}
	adm, err := m.Verify(ctx, "supplied-admin-token-123")
	if err != nil || adm.Grants.Level("anything") != store.Write || adm.Grants.Level("_flowkv.tokens") != store.NoAccess || !adm.Has(tokens.ScopeAdmin) || !adm.Has(tokens.ScopeFlows) {
		t.Fatalf("supplied admin: %+v %v", adm, err)
	}
	if _, err := m.EnsureAdmin(ctx, "short"); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("short admin token: %v", err)
	}
	// Grants on reserved namespaces and empty grants are refused.
	if _, _, err := m.Create(ctx, "", store.Grants{"_flowkv.tokens": store.Write}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("reserved grant: %v", err)
	}
	if _, _, err := m.Create(ctx, "", store.Grants{}); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("empty grants: %v", err)
	}
}

func TestEnsureAdminGeneratesOnce(t *testing.T) {
	st := open(t, testenv.SQLiteDSN(t))
	m := tokens.New(st)
	ctx := context.Background()
	s1, err := m.EnsureAdmin(ctx, "")
	if err != nil || s1 == "" {
		t.Fatalf("first: %q %v", s1, err)
	}
	s2, err := m.EnsureAdmin(ctx, "")
	if err != nil || s2 != "" {
		t.Fatalf("second start generated again: %q %v", s2, err)
	}
	tok, err := m.Verify(ctx, s1)
	if err != nil || tok.Name != "admin" || tok.Grants.Level("orders") != store.Write || !tok.Has(tokens.ScopeAdmin) {
		t.Fatalf("admin %+v %v", tok, err)
	}
}

// With a verification cache, revoking through the same Manager still takes
// effect at once; another process's revocation waits for the generation
// read (here an hour away).
func TestCacheFor(t *testing.T) {
	st := open(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	m := tokens.New(st)
	m.SetCacheFor(time.Hour)
	other := tokens.New(st)
	g := store.Grants{"a": store.Read}
	s1, t1, err := m.Create(ctx, "one", g)
	if err != nil {
		t.Fatal(err)
	}
	s2, t2, err := m.Create(ctx, "two", g)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{s1, s2} {
		if _, err := m.Verify(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Revoke(ctx, t1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, s1); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("revoked through the caching manager, still valid: %v", err)
	}
	if _, err := m.Verify(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke(ctx, t2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, s2); err != nil {
		t.Fatalf("cached verification not used: %v", err)
	}
	other.SetCacheFor(-1)
	if _, err := other.Verify(ctx, s2); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("uncached manager accepts a revoked token: %v", err)
	}
	if _, err := m.Verify(ctx, "fkv_unknown_token_value_123"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("unknown token: %v", err)
	}
}

// readCounter counts the point reads that reach a real store.
type readCounter struct {
	store.Store
	n atomic.Int64
}

func (r *readCounter) FindNameKey(ctx context.Context, name, key string) (store.Entry, error) {
	r.n.Add(1)
	return r.Store.FindNameKey(ctx, name, key)
}

// A cached verification reads nothing: 2,000 verifications of one token
// under an hour's bound read the store twice (the generation, the record);
// with the cache off, once each.
func TestCacheReadsNothing(t *testing.T) {
	rc := &readCounter{Store: open(t, testenv.SQLiteDSN(t))}
	ctx := context.Background()
	m := tokens.New(rc)
	m.SetCacheFor(time.Hour)
	secret, _, err := m.Create(ctx, "hot", store.Grants{"a": store.Read})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		if _, err := m.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := rc.n.Load(); n != 2 {
		t.Fatalf("%d store reads for 2000 cached verifications, want 2", n)
	}
	// A wrong secret under the same record key is still refused from the
	// cache (the hash is compared), so the cache cannot be used to guess.
	if _, err := m.ByKey(ctx, tokens.KeyOf(secret)); err != nil {
		t.Fatal(err)
	}
	off := tokens.New(rc)
	off.SetCacheFor(-1)
	rc.n.Store(0)
	for range 100 {
		if _, err := off.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := rc.n.Load(); n != 100 {
		t.Fatalf("%d store reads for 100 uncached verifications, want 100", n)
	}
}

// ByKey (the web UI's sessions keep the record key, never the secret):
// the live token, unauthenticated once revoked or for anything else.
func TestByKey(t *testing.T) {
	st := open(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	m := tokens.New(st)
	secret, tok, err := m.Create(ctx, "ui", store.Grants{"a": store.Write})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ByKey(ctx, tok.Key)
	if err != nil || got.ID != tok.ID || got.Grants.Level("a") != store.Write {
		t.Fatalf("ByKey = %+v, %v", got, err)
	}
	for _, k := range []string{"", "0000000000000000", tok.Key + "0", secret, "../../etc/passwd"} {
		if _, err := m.ByKey(ctx, k); store.CodeOf(err) != store.CodeUnauthenticated {
			t.Errorf("ByKey(%q) = %v, want unauthenticated", k, err)
		}
	}
	if _, err := tokens.New(st).Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, func() error { _, err := m.ByKey(ctx, tok.Key); return err })
}

// A revocation by another process (its own connection pool on the same
// database, as the CLI or another server has) reaches a Manager with the
// default bound: its next verifications are refused. The wait is generous
// (a loaded machine); that it happens within the bound is the design, not
// asserted here.
func TestRevocationAcrossProcessesSQLite(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	revocationAcross(t, open(t, dsn), open(t, dsn))
}

func TestRevocationAcrossProcessesPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	revocationAcross(t, open(t, dsn), open(t, dsn))
}

// Two clients of one DynamoDB table (two servers on DynamoDB).
func TestRevocationAcrossProcessesDynamo(t *testing.T) {
	ep := testenv.DynamoEndpoint(t)
	table := testenv.UniqueName("flowkv_t_")
	openDynamo := func() *dynamostore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: ep, Table: table})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	a, b := openDynamo(), openDynamo()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.DeleteTable(ctx)
		_ = a.Close()
		_ = b.Close()
	})
	revocationAcross(t, a, b)
}

func revocationAcross(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	ma, mb := tokens.New(a), tokens.New(b)
	if ma.CacheBound() != tokens.DefaultCacheBound {
		t.Fatalf("default bound %v", ma.CacheBound())
	}
	g := store.Grants{"a": store.Read}
	s1, t1, err := ma.Create(ctx, "one", g)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := ma.Create(ctx, "two", g)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{s1, s2} {
		if _, err := ma.Verify(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mb.Revoke(ctx, t1.ID); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, func() error { _, err := ma.Verify(ctx, s1); return err })
	// The other token is untouched.
	if _, err := ma.Verify(ctx, s2); err != nil {
		t.Fatalf("a token nobody revoked: %v", err)
	}
}

// waitRefused polls f until it returns unauthenticated (failing after a
// generous minute).
func waitRefused(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if store.CodeOf(err) == store.CodeUnauthenticated {
			return
		}
		if err != nil && store.CodeOf(err) != store.CodeUnauthenticated {
			t.Fatalf("want unauthenticated, got %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a revoked token is still accepted after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Scopes: parsed strictly, stored, shown by List; admin implies flows and
// write on every namespace, even with no grant given.
func TestScopes(t *testing.T) {
	st := open(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	m := tokens.New(st)
	g := store.Grants{"orders": store.Write}
	if _, _, err := m.Create(ctx, "x", g, "root"); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Fatalf("unknown scope: %v", err)
	}
	s, tok, err := m.Create(ctx, "flows", g, "flows", "FLOWS")
	if err != nil || len(tok.Scopes) != 1 || !tok.Has(tokens.ScopeFlows) || tok.Has(tokens.ScopeAdmin) {
		t.Fatalf("flows token %+v %v", tok, err)
	}
	if v, err := m.Verify(ctx, s); err != nil || !v.Has(tokens.ScopeFlows) || v.Grants.Level("other") != store.NoAccess {
		t.Fatalf("verified flows token %+v %v", v, err)
	}
	s, tok, err = m.Create(ctx, "root", nil, tokens.ScopeAdmin)
	if err != nil || !tok.Has(tokens.ScopeFlows) || tok.Grants.Level("anything") != store.Write {
		t.Fatalf("admin token %+v %v", tok, err)
	}
	if v, err := m.Verify(ctx, s); err != nil || !v.Has(tokens.ScopeAdmin) || v.Grants.Level("anything") != store.Write {
		t.Fatalf("verified admin %+v %v", v, err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 2 || list[0].Scopes[0] != "flows" || list[1].Scopes[0] != "admin" {
		t.Fatalf("list %+v %v", list, err)
	}
}

// Records written before random IDs and scopes: the first use (or a
// listing) gives them a random ID and their scopes, stored; revoke accepts
// the old hash-prefix ID and the new one.
func TestLegacyRecordsMigrate(t *testing.T) {
	st := open(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	legacy := func(name, secret string, grants ...string) {
		t.Helper()
		h := sha256.Sum256([]byte(secret))
		rec, _ := json.Marshal(map[string]any{
			"id": tokens.KeyOf(secret), "name": name, "hash": hex.EncodeToString(h[:]),
			"grants": grants, "createdAt": time.Now().UTC(), "revokedAt": nil,
		})
		if _, err := st.Insert(ctx, tokens.Namespace, tokens.KeyOf(secret), rec, store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	legacy("admin", "fkv_old_admin_secret_0001", "*:write")
	legacy("ops", "fkv_old_wildcard_writer_02", "*:write")
	legacy("reader", "fkv_old_reader_secret_0003", "orders:read", "*:read")
	legacy("env", "supplied-admin-token-456", "*:write")

	m := tokens.New(st)
	for _, c := range []struct {
		secret string
		scopes string
	}{
		{"fkv_old_admin_secret_0001", "admin"},
		{"fkv_old_wildcard_writer_02", "flows"},
		{"fkv_old_reader_secret_0003", ""},
	} {
		tok, err := m.Verify(ctx, c.secret)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(tok.Scopes, ",") != c.scopes || !strings.HasPrefix(tok.ID, tokens.IDPrefix) {
			t.Fatalf("%s: %+v, want scopes %q and a random ID", c.secret, tok, c.scopes)
		}
		// Stored: a second manager (no cache) sees the same ID.
		again, err := tokens.New(st).Verify(ctx, c.secret)
		if err != nil || again.ID != tok.ID {
			t.Fatalf("ID not stored: %s then %s (%v)", tok.ID, again.ID, err)
		}
		e, _ := st.FindNameKey(ctx, tokens.Namespace, tokens.KeyOf(c.secret))
		if !strings.Contains(string(e.Data), `"scopes":`) || !strings.Contains(string(e.Data), tok.ID) {
			t.Fatalf("record not migrated: %s", e.Data)
		}
	}
	// FLOWKV_ADMIN_TOKEN stored before scopes becomes admin whatever its name.
	if _, err := m.EnsureAdmin(ctx, "supplied-admin-token-456"); err != nil {
		t.Fatal(err)
	}
	if tok, err := m.Verify(ctx, "supplied-admin-token-456"); err != nil || !tok.Has(tokens.ScopeAdmin) {
		t.Fatalf("supplied admin after migration: %+v %v", tok, err)
	}
	// Revoke by the old ID and by the new one.
	if _, err := m.Revoke(ctx, tokens.KeyOf("fkv_old_reader_secret_0003")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, "fkv_old_reader_secret_0003"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("revoked by old id: %v", err)
	}
	ops, _ := m.Verify(ctx, "fkv_old_wildcard_writer_02")
	if _, err := m.Revoke(ctx, strings.ToUpper(ops.ID[:4])+ops.ID[4:]); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, "fkv_old_wildcard_writer_02"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("revoked by new id: %v", err)
	}
	if _, err := m.Revoke(ctx, "tok_0000000000000000"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("unknown random id: %v", err)
	}
}
