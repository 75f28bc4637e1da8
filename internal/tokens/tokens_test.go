package tokens_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
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
	if tok.ID != tokens.IDOf(secret) || tok.Name != "ci" {
		t.Fatalf("token %+v", tok)
	}
	got, err := m.Verify(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.Grants.Level("orders") != store.Write || got.Grants.Level("default") != store.Read || got.Grants.Level("x") != store.NoAccess {
		t.Fatalf("grants %v", got.Grants)
	}
	// Stored hashed: the record holds neither the secret nor its random part.
	e, err := st.FindNameKey(ctx, tokens.Namespace, tok.ID)
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
	// constant-time compare.
	forged := strings.Replace(string(e.Data), `"hash":"`, `"hash":"00`, 1)
	if _, err := st.Upsert(ctx, tokens.Namespace, tok.ID, []byte(forged), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, secret); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("Verify against a different hash: %v", err)
	}
	if _, err := st.Upsert(ctx, tokens.Namespace, tok.ID, e.Data, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, secret); err != nil {
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
	if err != nil || adm.Grants.Level("anything") != store.Write || adm.Grants.Level("_flowkv.tokens") != store.NoAccess {
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
	if err != nil || tok.Name != "admin" || tok.Grants.Level("orders") != store.Write {
		t.Fatalf("admin %+v %v", tok, err)
	}
}

// With a verification cache, revoking through the same Manager still takes
// effect at once; another process's revocation waits for the cache.
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
	if _, err := other.Revoke(ctx, t2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, s2); err != nil {
		t.Fatalf("cached verification not used: %v", err)
	}
	if _, err := other.Verify(ctx, s2); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("uncached manager accepts a revoked token: %v", err)
	}
	if _, err := m.Verify(ctx, "fkv_unknown_token_value_123"); store.CodeOf(err) != store.CodeUnauthenticated {
		t.Fatalf("unknown token: %v", err)
	}
}
