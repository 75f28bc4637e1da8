package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/migrations"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/store/storetest"
)

func openWith(dsn func(t *testing.T) string) storetest.Opener {
	return func(t *testing.T, l store.Limits) store.Store {
		t.Helper()
		return open(t, dsn, l)
	}
}

// openCapped forces the transactional write path (taken when an entries
// cap is set) with a cap no test reaches.
func openCapped(dsn func(t *testing.T) string) storetest.Opener {
	return func(t *testing.T, l store.Limits) store.Store {
		t.Helper()
		if l.MaxEntriesPerName == 0 {
			l.MaxEntriesPerName = 1 << 40
		}
		return open(t, dsn, l)
	}
}

// open returns a fresh store; the reaper stays idle so the suite sees
// that reads filter expired entries themselves.
func open(t *testing.T, dsn func(t *testing.T) string, l store.Limits) store.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), dsn(t), sqlstore.Options{Limits: l, ReapInterval: time.Hour})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openWith(func(t *testing.T) string { return testenv.SQLiteDSN(t) }))
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openWith(func(t *testing.T) string { return testenv.PostgresDSN(t) }))
}

// The same suite through the transactional write path.
func TestSQLiteTxPath(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openCapped(func(t *testing.T) string { return testenv.SQLiteDSN(t) }))
}

func TestPostgresTxPath(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openCapped(func(t *testing.T) string { return testenv.PostgresDSN(t) }))
}

func dsns(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return testenv.SQLiteDSN(t) },
		"postgres": func(t *testing.T) string { return testenv.PostgresDSN(t) },
	}
}

// The reaper deletes expired entries in batches and counts them.
func TestReaper(t *testing.T) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, dsn(t), sqlstore.Options{ReapInterval: 50 * time.Millisecond, ReapBatch: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := 0; i < 5; i++ {
				if _, err := s.Insert(ctx, "r", fmt.Sprint(i), []byte(`1`), store.WriteOptions{TTL: 200 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Insert(ctx, "r", "keep", []byte(`1`), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for s.Reaped() < 5 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if got := s.Reaped(); got != 5 {
				t.Fatalf("reaped %d entries, want 5", got)
			}
			if n, err := s.Reap(ctx); err != nil || n != 0 {
				t.Fatalf("second reap: %d, %v", n, err)
			}
			if _, err := s.FindNameKey(ctx, "r", "keep"); err != nil {
				t.Fatalf("the reaper deleted a live entry: %v", err)
			}
		})
	}
}

// Migrations run once, are recorded, and concurrent starts agree.
func TestMigrations(t *testing.T) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d := dsn(t)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := sqlstore.Open(ctx, d, sqlstore.Options{})
					if err == nil {
						err = s.Close()
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent open: %v", err)
				}
			}
			if err := sqlstore.Migrate(ctx, d); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
			s, err := sqlstore.Open(ctx, d, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Dialect() != name {
				t.Fatalf("dialect %q", s.Dialect())
			}
			got, err := s.Migrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all, _ := migrations.For(name)
			if len(got) != len(all) || got[0] != "001_entries" {
				t.Fatalf("recorded migrations %v, files %d", got, len(all))
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "sqlite::memory:", "sqlite:a?b"} {
		if _, err := sqlstore.Open(ctx, dsn, sqlstore.Options{}); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("open %q: %v, want invalid_argument", dsn, err)
		}
	}
	// An unreachable server is unavailable, and the message holds no password.
	_, err := sqlstore.Open(ctx, "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", sqlstore.Options{})
	if store.CodeOf(err) != store.CodeUnavailable || strings.Contains(store.Message(err), "secret") {
		t.Errorf("unreachable postgres: %v (message %q)", err, store.Message(err))
	}
	// sqlite: creates the file and its directories on first use.
	dir := t.TempDir()
	s, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "a", "b", "kv.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "n", "k", []byte(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "a", "b", "kv.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindNameKey(ctx, "n", "k"); store.CodeOf(err) != store.CodeUnavailable {
		t.Errorf("use after close: %v, want unavailable", err)
	}
}
