package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// Quotas from the command line against a running server: token create
// sets them, the server enforces them from the token's first call, token
// list shows the month's usage against the quota once flushed, token quota
// changes them; store quota sets a namespace's and the CLI's own writes
// are held to it (one line with resource_exhausted, exit 1).
func TestCLIQuotas(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	s := startServe(t, "--dsn", dsn)
	out, code := s.runIn("token", "create", "--dsn", dsn, "--grant", "loot:write", "--name", "hammer",
		"--ops-per-month", "20", "--script-runs", "2")
	tok := tokenRE.FindString(out)
	if code != 0 || tok == "" {
		t.Fatalf("token create: %d %s", code, out)
	}
	for i := range 20 {
		if st, body := s.req("PUT", fmt.Sprintf("/v1/store/loot/k%d", i), tok, `{"data": 1}`); st != 200 {
			t.Fatalf("call %d: %d %s", i+1, st, body)
		}
	}
	if st, body := s.req("GET", "/v1/store/loot/k0", tok, ""); st != 429 || !strings.Contains(body, "resource_exhausted") {
		t.Fatalf("call 21: %d %s", st, body)
	}
	// token list shows the usage once the server has flushed it (every
	// second).
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, code = s.runIn("token", "list", "--dsn", dsn)
		if code != 0 {
			t.Fatalf("token list: %d %s", code, out)
		}
		if line := lineWith(out, "hammer"); strings.Contains(line, "20/20") && strings.Contains(line, " 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token list does not show 20/20 for hammer:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(lineWith(out, "OPS"), "SCRIPT RUNS") || !strings.Contains(lineWith(out, "admin"), "/-") {
		t.Fatalf("token list columns:\n%s", out)
	}
	out, code = s.runIn("token", "quota", "--dsn", dsn, "hammer", "--ops-per-month", "30")
	if code != 0 || !strings.Contains(out, "20/30") || !strings.Contains(out, "2 script runs") {
		t.Fatalf("token quota: %d %s", code, out)
	}
	out, code = s.runIn("token", "quota", "--dsn", dsn, "hammer")
	if code != 0 || !strings.Contains(out, "20/30") {
		t.Fatalf("token quota (show): %d %s", code, out)
	}
	out, code = s.runIn("token", "quota", "--dsn", dsn, "nosuch", "--ops-per-month", "1")
	if code == 0 || !strings.Contains(out, "not_found") {
		t.Fatalf("token quota of an unknown token: %d %s", code, out)
	}

	// The CLI's own writes are held to namespace quotas (it runs beside
	// the server here, on the same database).
	run := func(args ...string) string {
		t.Helper()
		out, code := s.runIn(append(args[:2:2], append([]string{"--dsn", dsn}, args[2:]...)...)...)
		if code != 0 {
			t.Fatalf("flowkv %s: exit %d: %s", strings.Join(args, " "), code, out)
		}
		return out
	}
	fail := func(want store.Code, args ...string) string {
		t.Helper()
		out, code := s.runIn(append(args[:2:2], append([]string{"--dsn", dsn}, args[2:]...)...)...)
		if code == 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, string(want)) {
			t.Fatalf("flowkv %s: exit %d, want one line with %s: %q", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	out = run("store", "quota", "orders", "--entries", "2", "--bytes", "10MB")
	var line struct {
		Name  string `json:"name"`
		Quota *struct {
			Entries, Bytes int64
		} `json:"quota"`
		Entries int64 `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil || line.Quota == nil || line.Quota.Entries != 2 || line.Quota.Bytes != 10_000_000 {
		t.Fatalf("store quota: %q %v", out, err)
	}
	run("store", "insert", "orders", "o-1", `{"total":1}`)
	run("store", "insert", "orders", "o-2", `{"total":1}`)
	out = fail(store.CodeResourceExhausted, "store", "insert", "orders", "o-3", `{"total":1}`)
	if !strings.Contains(out, "namespace orders: the quota of 2 entries is reached") {
		t.Fatalf("stderr %q", out)
	}
	run("store", "update", "orders", "o-1", `{"total":2}`)
	run("store", "delete", "orders", "o-2")
	run("store", "insert", "orders", "o-3", `{"total":1}`)
	out = run("store", "quota")
	if !strings.Contains(out, `"name":"orders"`) || !strings.Contains(out, `"entries":2`) {
		t.Fatalf("store quota (all): %q", out)
	}
	fail(store.CodeInvalidArgument, "store", "quota", "orders", "--bytes", "10XB")
	fail(store.CodeInvalidArgument, "store", "quota", "_flowkv.tokens", "--entries", "1")
	out = run("store", "quota", "orders", "--entries", "0", "--bytes", "0")
	if !strings.Contains(out, `"quota":null`) {
		t.Fatalf("removing the quota: %q", out)
	}
	run("store", "insert", "orders", "o-4", `{"total":1}`)
}

func lineWith(out, word string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1000": 1000, "10MB": 10_000_000, "10 MB": 10_000_000, "512kB": 512_000, "512KB": 512_000,
		"1GiB": 1 << 30, "8MiB": 8 << 20, "1.5GB": 1_500_000_000, "7b": 7,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-1", "10XB", "1e3", "99999999999TB"} {
		if _, err := parseBytes(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("%q: %v, want invalid_argument", bad, err)
		}
	}
}
