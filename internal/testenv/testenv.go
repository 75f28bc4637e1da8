// Package testenv gives tests the real servers they need (PostgreSQL,
// DynamoDB Local) and decides what happens when one is missing: a skip on a
// developer's machine, a failure under CI=true.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for creating test databases
)

// CI reports whether tests run under CI=true, where a missing server fails.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t, or fails it under CI, because a server it needs is absent.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// UniqueName returns prefix followed by a random lowercase hex suffix.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// SQLiteDSN returns the DSN of a fresh SQLite database file in t's temp dir.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "flowkv.db")
}

// PostgresBase is the server tests use: FLOWKV_TEST_POSTGRES, else the
// local trust-auth server.
func PostgresBase() string {
	if v := os.Getenv("FLOWKV_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresDSN creates a fresh database on the test server for t, dropped
// when t ends, and returns its DSN. Packages run in parallel, so each test
// gets its own database.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := PostgresBase()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		Missing(t, "PostgreSQL at %s is not reachable: %v", redact(base), err)
		return ""
	}
	name := UniqueName("flowkv_t_")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", redact(base), err)
	}
	u.Path = "/" + name
	return u.String()
}

// DynamoEndpoint returns the DynamoDB Local endpoint from
// FLOWKV_TEST_DYNAMO_ENDPOINT (make test starts one and sets it), or skips /
// fails when it is not set.
func DynamoEndpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("FLOWKV_TEST_DYNAMO_ENDPOINT")
	if ep == "" {
		Missing(t, "FLOWKV_TEST_DYNAMO_ENDPOINT is not set (make test starts DynamoDB Local)")
	}
	return ep
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return strings.TrimSpace(dsn)
}
