package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
)

// The CLI tests drive runMain in-process on real databases (a fresh SQLite
// file per test, and PostgreSQL through testenv), with stdin, stdout and
// stderr swapped for buffers. They do not call t.Parallel: runMain's
// streams are package variables.

// cliMu serialises runs that swap the package's streams.
var cliMu sync.Mutex

type cliResult struct {
	out, err string
	code     int
}

// runCLI runs one command line with in as stdin.
func runCLI(t *testing.T, in string, args ...string) cliResult {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	var o, e bytes.Buffer
	oldOut, oldErr, oldIn := stdout, stderr, stdin
	stdout, stderr, stdin = &o, &e, strings.NewReader(in)
	defer func() { stdout, stderr, stdin = oldOut, oldErr, oldIn }()
	code := runMain(t.Context(), args)
	return cliResult{out: o.String(), err: e.String(), code: code}
}

// cli runs commands against one database.
type cli struct {
	t *testing.T
	// dsn, when set, is passed as --dsn; "" uses the environment.
	dsn string
	// flags are more backend flags (--mode aws …).
	flags []string
}

// args adds the backend flags after the command words (before any "--").
func (c cli) args(args []string) []string {
	flags := slices.Clone(c.flags)
	if c.dsn != "" {
		flags = append(flags, "--dsn", c.dsn)
	}
	if len(flags) == 0 {
		return args
	}
	at := min(1, len(args))
	if len(args) > 1 && (args[0] == "store" || args[0] == "index") {
		at = 2
	}
	return slices.Concat(args[:at], flags, args[at:])
}

// run runs a command line that must succeed.
func (c cli) run(args ...string) cliResult {
	c.t.Helper()
	return c.runIn("", args...)
}

// runIn runs a command line with stdin that must succeed.
func (c cli) runIn(in string, args ...string) cliResult {
	c.t.Helper()
	r := runCLI(c.t, in, c.args(args)...)
	if r.code != 0 {
		c.t.Fatalf("flowkv %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.err)
	}
	return r
}

// fail runs a command line that must fail with code: a non-zero exit and
// exactly one line on stderr holding the code word.
func (c cli) fail(code store.Code, args ...string) cliResult {
	c.t.Helper()
	return c.failIn("", code, args...)
}

func (c cli) failIn(in string, code store.Code, args ...string) cliResult {
	c.t.Helper()
	r := runCLI(c.t, in, c.args(args)...)
	if r.code == 0 {
		c.t.Fatalf("flowkv %s succeeded (stdout %q), want %s", strings.Join(args, " "), r.out, code)
	}
	if strings.Count(r.err, "\n") != 1 || !strings.HasSuffix(r.err, "\n") {
		c.t.Errorf("flowkv %s: stderr is not one line: %q", strings.Join(args, " "), r.err)
	}
	if !strings.Contains(r.err, string(code)) {
		c.t.Fatalf("flowkv %s: stderr %q does not contain %s", strings.Join(args, " "), r.err, code)
	}
	return r
}

// entry decodes one JSON entry.
func entry(t *testing.T, line string) store.Entry {
	t.Helper()
	var e store.Entry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("output %q is not an entry: %v", line, err)
	}
	return e
}

// entries decodes JSONL output.
func entries(t *testing.T, out string) []store.Entry {
	t.Helper()
	var es []store.Entry
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l != "" {
			es = append(es, entry(t, l))
		}
	}
	return es
}

func keys(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name + "/" + e.Key
	}
	return out
}

// nextCursor returns the cursor `list`/`fetch` printed on stderr, or "".
func nextCursor(t *testing.T, stderrText string) string {
	t.Helper()
	for _, l := range strings.Split(stderrText, "\n") {
		if c, ok := strings.CutPrefix(l, "next cursor: "); ok {
			return c
		}
		if l != "" {
			t.Fatalf("unexpected stderr line %q", l)
		}
	}
	return ""
}

// doneWhen is the scenario for a new user.
func doneWhen(t *testing.T, c cli) {
	r := c.run("store", "insert", "orders", "o-1", `{"total":12}`)
	e := entry(t, r.out)
	if e.Name != "orders" || e.Key != "o-1" || string(e.Data) != `{"total":12}` || e.Version <= 0 || e.ExpiresAt != nil || e.CreatedAt.IsZero() {
		t.Fatalf("insert printed %+v", e)
	}
	if strings.Count(r.out, "\n") != 1 {
		t.Errorf("insert printed more than one line: %q", r.out)
	}

	c.fail(store.CodeAlreadyExists, "store", "insert", "orders", "o-1", `{"total":13}`)

	r = c.run("store", "fetch", "--data", `{"total":12}`)
	if got := entries(t, r.out); len(got) != 1 || got[0].Key != "o-1" || got[0].Version != e.Version {
		t.Fatalf("fetch --data found %v", keys(got))
	}
	// Key order and number spelling do not matter.
	r = c.run("store", "fetch", "--data", ` { "total" : 12.0 } `)
	if got := entries(t, r.out); len(got) != 1 {
		t.Fatalf("fetch --data with 12.0 found %v", keys(got))
	}
	r = c.run("store", "fetch", "--data", `{"total":13}`)
	if r.out != "" {
		t.Fatalf("fetch --data 13 found %q", r.out)
	}

	c.fail(store.CodeNotFound, "store", "update", "orders", "missing", `{}`)
	c.fail(store.CodeTooLarge, "store", "insert", "orders", strings.Repeat("k", 257), `{}`)
	// 256 bytes is the limit itself.
	c.run("store", "insert", "orders", strings.Repeat("k", 256), `{}`)

	// The failed insert did not change the entry.
	r = c.run("store", "get", "orders", "o-1")
	if got := entry(t, r.out); string(got.Data) != `{"total":12}` || got.Version != e.Version {
		t.Fatalf("after the failed insert: %+v", got)
	}
}

func TestCLIDoneWhenDefaultSQLite(t *testing.T) {
	// Nothing configured: the embedded default sqlite:flowkv.db in the
	// working directory.
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("DATA_STORE_DSN", "")
	t.Setenv("DATA_STORE_MODE", "")
	doneWhen(t, cli{t: t})
	if _, err := os.Stat(filepath.Join(dir, "flowkv.db")); err != nil {
		t.Fatalf("the default database was not created: %v", err)
	}
}

func TestCLIDoneWhenEnvDSN(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	t.Setenv("DATA_STORE_DSN", dsn)
	c := cli{t: t}
	c.run("store", "insert", "orders", "o-1", `{"total":12}`)
	// The same database through the flag.
	r := cli{t: t, dsn: dsn}.run("store", "get", "orders", "o-1")
	if entry(t, r.out).Key != "o-1" {
		t.Fatalf("get through --dsn: %q", r.out)
	}
	// The flag wins over the environment.
	other := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	other.fail(store.CodeNotFound, "store", "get", "orders", "o-1")
}

func TestCLIPostgres(t *testing.T) {
	c := cli{t: t, dsn: testenv.PostgresDSN(t)}
	doneWhen(t, c)
	ttlExpiry(t, c)
	listPaging(t, c)
	queryCLI(t, c)
	// An SQLite export imports into PostgreSQL and back out unchanged.
	src := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	fillForExport(t, src)
	roundTrip(t, src, c, false)
}

func TestCLIDynamoDB(t *testing.T) {
	ep := testenv.DynamoEndpoint(t)
	table := testenv.UniqueName("flowkv_cli_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: ep, Table: table})
		if err != nil {
			return
		}
		_, _ = s.Client().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table})
		_ = s.Close()
	})
	c := cli{t: t, flags: []string{"--mode", "aws", "--aws-endpoint", ep, "--aws-table", table}}
	doneWhen(t, c)
	ttlExpiry(t, c)
	listPaging(t, c)
	queryCLI(t, c)
	src := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	fillForExport(t, src)
	roundTrip(t, src, c, false)
}

func TestCLITTL(t *testing.T) {
	ttlExpiry(t, cli{t: t, dsn: testenv.SQLiteDSN(t)})
}

func ttlExpiry(t *testing.T, c cli) {
	r := c.run("store", "insert", "ttl", "short", `"soon gone"`, "--ttl", "1s")
	e := entry(t, r.out)
	if e.ExpiresAt == nil {
		t.Fatalf("--ttl 1s printed no expiresAt: %q", r.out)
	}
	if d := e.ExpiresAt.Sub(e.UpdatedAt); d < time.Second-time.Millisecond || d > time.Second+time.Millisecond {
		t.Fatalf("--ttl 1s: expiresAt is %v after updatedAt", d)
	}
	long := entry(t, c.run("store", "upsert", "ttl", "long", `"stays"`, "--ttl", "2h").out)
	if long.ExpiresAt == nil || long.ExpiresAt.Sub(long.UpdatedAt).Round(time.Second) != 2*time.Hour {
		t.Fatalf("--ttl 2h printed %+v", long)
	}
	c.run("store", "upsert", "ttl", "forever", `"no ttl"`)

	time.Sleep(1500 * time.Millisecond)

	c.fail(store.CodeNotFound, "store", "get", "ttl", "short")
	for _, args := range [][]string{
		{"store", "fetch", "--name", "ttl"},
		{"store", "fetch", "--key", "short"},
		{"store", "fetch", "--data", `"soon gone"`},
		{"store", "list", "ttl"},
		{"store", "list", "ttl", "--prefix", "sh"},
	} {
		r := c.run(args...)
		for _, e := range entries(t, r.out) {
			if e.Key == "short" {
				t.Errorf("flowkv %s returned the expired entry", strings.Join(args, " "))
			}
		}
	}
	got := keys(entries(t, c.run("store", "list", "ttl").out))
	if !slices.Equal(got, []string{"ttl/forever", "ttl/long"}) {
		t.Errorf("list ttl = %v, want forever and long", got)
	}
	// An expired entry can be inserted again.
	c.run("store", "insert", "ttl", "short", `"back"`)
}

func TestCLIListPaging(t *testing.T) {
	listPaging(t, cli{t: t, dsn: testenv.SQLiteDSN(t)})
}

func listPaging(t *testing.T, c cli) {
	var want []string
	for i := 1; i <= 7; i++ {
		k := fmt.Sprintf("k%02d", i)
		c.run("store", "insert", "pages", k, fmt.Sprint(i))
		want = append(want, "pages/"+k)
	}
	c.run("store", "insert", "pages", "other", `0`)
	c.run("store", "insert", "pages2", "k01", `0`)

	var got []string
	cursor, pages := "", 0
	for {
		args := []string{"store", "list", "pages", "--prefix", "k", "--limit", "3"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		r := c.run(args...)
		page := entries(t, r.out)
		if len(page) > 3 {
			t.Fatalf("page of %d entries with --limit 3", len(page))
		}
		got = append(got, keys(page)...)
		pages++
		cursor = nextCursor(t, r.err)
		if cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatalf("list does not end: %v", got)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("list pages = %v, want %v", got, want)
	}
	if pages != 3 {
		t.Errorf("7 entries in pages of 3 took %d pages", pages)
	}

	// fetch pages by cursor and by offset too.
	r := c.run("store", "fetch", "--name", "pages", "--key-prefix", "k", "--limit", "4")
	first := keys(entries(t, r.out))
	cur := nextCursor(t, r.err)
	if len(first) != 4 || cur == "" {
		t.Fatalf("fetch first page %v, cursor %q", first, cur)
	}
	r = c.run("store", "fetch", "--name", "pages", "--key-prefix", "k", "--limit", "4", "--cursor", cur)
	if rest := keys(entries(t, r.out)); !slices.Equal(append(first, rest...), want) || nextCursor(t, r.err) != "" {
		t.Fatalf("fetch by cursor = %v then %v", first, rest)
	}
	r = c.run("store", "fetch", "--name", "pages", "--key-prefix", "k", "--limit", "2", "--offset", "5")
	if got := keys(entries(t, r.out)); !slices.Equal(got, want[5:7]) {
		t.Fatalf("fetch --offset 5 = %v", got)
	}
	c.fail(store.CodeInvalidArgument, "store", "list", "pages", "--cursor", "not-a-cursor")
	c.fail(store.CodeInvalidArgument, "store", "list", "pages", "--limit", "1001")

	// names counts each namespace.
	r = c.run("store", "names")
	var counts = map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var nc store.NameCount
		if err := json.Unmarshal([]byte(l), &nc); err != nil {
			t.Fatalf("names line %q: %v", l, err)
		}
		counts[nc.Name] = nc.Count
	}
	if counts["pages"] != 8 || counts["pages2"] != 1 {
		t.Fatalf("names = %v", counts)
	}
}

func TestCLIWritesAndErrors(t *testing.T) {
	c := cli{t: t, dsn: testenv.SQLiteDSN(t)}

	// DATA from stdin with "-".
	r := c.runIn("{\n  \"b\": [1, 2],\n  \"a\": \"<&>\"\n}\n", "store", "insert", "docs", "d-1", "-")
	e := entry(t, r.out)
	if string(e.Data) != `{"a":"<&>","b":[1,2]}` {
		t.Fatalf("data from stdin stored as %s", e.Data)
	}
	if !strings.Contains(r.out, `"<&>"`) {
		t.Errorf("output escapes HTML characters: %q", r.out)
	}
	c.failIn("", store.CodeInvalidArgument, "store", "upsert", "docs", "d-2", "-")
	c.failIn("{", store.CodeInvalidArgument, "store", "upsert", "docs", "d-2", "-")
	// A runaway pipe is refused without reading it all (bound: 4×limit + 1 KiB).
	c.failIn(`"`+strings.Repeat("x", 2000)+`"`, store.CodeTooLarge, "store", "upsert", "docs", "d-2", "-", "--max-data-bytes", "100")

	// upsert creates then overwrites with a higher version; update needs the entry.
	u1 := entry(t, c.run("store", "upsert", "docs", "d-2", `1`).out)
	u2 := entry(t, c.run("store", "upsert", "docs", "d-2", `2`).out)
	if u2.Version <= u1.Version || !u2.CreatedAt.Equal(u1.CreatedAt) || string(u2.Data) != "2" {
		t.Fatalf("upsert twice: %+v then %+v", u1, u2)
	}
	u3 := entry(t, c.run("store", "update", "docs", "d-2", `3`, "--if-version", fmt.Sprint(u2.Version)).out)
	if u3.Version <= u2.Version || string(u3.Data) != "3" {
		t.Fatalf("update: %+v", u3)
	}
	c.fail(store.CodeConflict, "store", "update", "docs", "d-2", `4`, "--if-version", fmt.Sprint(u2.Version))
	c.fail(store.CodeConflict, "store", "delete", "docs", "d-2", "--if-version", fmt.Sprint(u2.Version))

	// A write without --ttl clears an earlier TTL.
	withTTL := entry(t, c.run("store", "upsert", "docs", "d-3", `1`, "--ttl", "7d").out)
	if withTTL.ExpiresAt == nil || withTTL.ExpiresAt.Sub(withTTL.UpdatedAt).Round(time.Hour) != 7*24*time.Hour {
		t.Fatalf("--ttl 7d: %+v", withTTL)
	}
	if cleared := entry(t, c.run("store", "update", "docs", "d-3", `2`).out); cleared.ExpiresAt != nil {
		t.Fatalf("update without --ttl kept expiresAt %v", cleared.ExpiresAt)
	}

	// delete reports whether it deleted.
	if r := c.run("store", "delete", "docs", "d-2"); r.out != "{\"deleted\":true}\n" {
		t.Fatalf("delete printed %q", r.out)
	}
	if r := c.run("store", "delete", "docs", "d-2"); r.out != "{\"deleted\":false}\n" {
		t.Fatalf("second delete printed %q", r.out)
	}
	c.fail(store.CodeNotFound, "store", "get", "docs", "d-2")

	// Argument errors: one line with invalid_argument, non-zero exit.
	bad := [][]string{
		{"store"},
		{"store", "frobnicate"},
		{"store", "insert", "docs", "k"},
		{"store", "insert", "docs", "k", "1", "extra"},
		{"store", "get", "docs"},
		{"store", "insert", "docs", "k", "{bad json"},
		{"store", "insert", "docs", "k", "1", "--ttl", "5 parsecs"},
		{"store", "insert", "docs", "k", "1", "--ttl", "-5s"},
		{"store", "insert", "docs", "k", "1", "--nope"},
		{"store", "fetch", "--data", ""},
		{"store", "fetch", "--data", "{"},
		{"store", "fetch", "--offset", "-1"},
		{"store", "fetch", "stray"},
		{"store", "insert", "", "k", "1"},
		{"store", "insert", "docs", "a\tb", "1"},
		{"store", "update", "docs", "k", "1", "--if-version", "-1"},
		{"store", "names", "extra"},
		{"export", "--name", "a\x00"},
	}
	for _, args := range bad {
		c.fail(store.CodeInvalidArgument, args...)
	}
	c.fail(store.CodeTooLarge, "store", "insert", strings.Repeat("n", 129), "k", "1")
	c.fail(store.CodeTooLarge, "store", "insert", "docs", "k", `"`+strings.Repeat("x", 100)+`"`, "--max-data-bytes", "50")

	// Negative numbers are arguments, not flags; "--" ends the flags.
	if got := entry(t, c.run("store", "insert", "docs", "neg", "-5", "--ttl", "1h").out); string(got.Data) != "-5" || got.ExpiresAt == nil {
		t.Fatalf("negative number stored as %+v", got)
	}
	if got := entry(t, c.run("store", "upsert", "docs", "-1", "-2.5e-3").out); got.Key != "-1" || string(got.Data) != "-0.0025" {
		t.Fatalf("negative key and data stored as %+v", got)
	}
	if got := entry(t, c.run("store", "insert", "docs", "--", "-x", `"-y"`).out); got.Key != "-x" {
		t.Fatalf("-- then -x stored as %+v", got)
	}
	c.fail(store.CodeInvalidArgument, "store", "upsert", "docs", "k", "1", "--ttl", "-5s")

	// An unknown command exits non-zero with one line; help exits 0.
	if r := runCLI(t, "", "frobnicate"); r.code == 0 || !strings.Contains(r.err, "invalid_argument") {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := runCLI(t, "", "store", "help"); r.code != 0 || !strings.Contains(r.out, "insert") {
		t.Fatalf("store help: %+v", r)
	}
	if r := runCLI(t, "", "store", "insert", "-h"); r.code != 0 || !strings.Contains(r.err, "-ttl") {
		t.Fatalf("store insert -h: %+v", r)
	}

	// An unreachable database is one line too (unavailable, not a panic).
	r = runCLI(t, "", "store", "get", "docs", "d-1", "--dsn", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if r.code == 0 || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "unavailable") {
		t.Fatalf("unreachable database: %+v", r)
	}
	r = runCLI(t, "", "store", "get", "docs", "d-1", "--dsn", "mysql://x")
	if r.code == 0 || !strings.Contains(r.err, "invalid_argument") {
		t.Fatalf("unsupported DSN: %+v", r)
	}
}

func TestCLIMigrate(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	c := cli{t: t, dsn: dsn}
	for range 2 { // applying twice is a no-op
		if r := c.run("migrate"); !strings.Contains(r.out, "up to date") {
			t.Fatalf("migrate printed %q", r.out)
		}
	}
	c.run("store", "insert", "m", "k", "1")
	c.run("migrate")
	if r := c.run("store", "get", "m", "k"); entry(t, r.out).Key != "k" {
		t.Fatalf("entry lost by migrate: %q", r.out)
	}
}

// fillForExport writes entries covering what an export must carry.
func fillForExport(t *testing.T, c cli) {
	c.run("store", "insert", "a", "1", `{"x":1}`)
	c.run("store", "upsert", "a", "1", `{"x":2}`) // version > 1, createdAt != updatedAt
	c.run("store", "insert", "a", "2", `[1,"two",null]`, "--ttl", "2h")
	c.run("store", "insert", "a", "gone", `0`)
	c.run("store", "delete", "a", "gone")
	c.run("store", "insert", "b", "ключ é 🙂", `{"html":"<&>","big":123456789012345678901234567890}`)
	c.run("store", "insert", "b", "n", `-1.5e-7`)
	for i := range 5 {
		c.run("store", "insert", "c", fmt.Sprintf("k%d", i), fmt.Sprint(i))
	}
	// A reserved namespace is never exported by default.
	c.run("store", "insert", "_flowkv.secret", "t", `"token hash"`)
}

// exported reads an export into entries keyed by name/key.
func exported(t *testing.T, c cli, args ...string) map[string]store.Entry {
	t.Helper()
	r := c.run(append([]string{"export"}, args...)...)
	out := map[string]store.Entry{}
	for _, e := range entries(t, r.out) {
		out[e.Name+"/"+e.Key] = e
	}
	if !strings.Contains(r.err, fmt.Sprintf("exported %d entr", len(out))) {
		t.Errorf("export stderr %q, want a count of %d", r.err, len(out))
	}
	return out
}

// roundTrip exports src, imports into dst, and checks dst exports the same;
// into a fresh database even the versions stay equal.
func roundTrip(t *testing.T, src, dst cli, fresh bool) {
	dump := src.run("export").out
	before := exported(t, src)
	if len(before) != 9 {
		t.Fatalf("export has %d entries, want 9: %v", len(before), slices.Sorted(mapKeys(before)))
	}
	if _, ok := before["_flowkv.secret/t"]; ok {
		t.Fatal("export includes a reserved namespace")
	}
	if _, ok := before["a/gone"]; ok {
		t.Fatal("export includes a deleted entry")
	}
	r := dst.runIn(dump, "import")
	if r.out != "{\"imported\":9}\n" {
		t.Fatalf("import printed %q (stderr %q)", r.out, r.err)
	}
	after := exported(t, dst)
	for k, e := range after { // dst may hold other namespaces
		if e.Name != "a" && e.Name != "b" && e.Name != "c" {
			delete(after, k)
		}
	}
	sameEntries(t, before, after)
	if fresh {
		for k, b := range before {
			if a := after[k]; a.Version != b.Version {
				t.Errorf("%s: version %d in a fresh database, exported %d", k, a.Version, b.Version)
			}
		}
	}
}

func mapKeys(m map[string]store.Entry) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// sameEntries checks after holds before's entries with equal data, flowUuid,
// expiry and timestamps, and versions not lower.
func sameEntries(t *testing.T, before, after map[string]store.Entry) {
	t.Helper()
	if len(after) != len(before) {
		t.Fatalf("%d entries after, %d before", len(after), len(before))
	}
	for k, b := range before {
		a, ok := after[k]
		if !ok {
			t.Errorf("%s missing after import", k)
			continue
		}
		if string(a.Data) != string(b.Data) || a.FlowUUID != b.FlowUUID {
			t.Errorf("%s: data %s / flow %q, was %s / %q", k, a.Data, a.FlowUUID, b.Data, b.FlowUUID)
		}
		if (a.ExpiresAt == nil) != (b.ExpiresAt == nil) || (a.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt)) {
			t.Errorf("%s: expiresAt %v, was %v", k, a.ExpiresAt, b.ExpiresAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
			t.Errorf("%s: timestamps %v/%v, were %v/%v", k, a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt)
		}
		if a.Version < b.Version {
			t.Errorf("%s: version went back from %d to %d", k, b.Version, a.Version)
		}
	}
}

func TestCLIExportImport(t *testing.T) {
	src := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	fillForExport(t, src)
	dst := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	roundTrip(t, src, dst, true)
	before := exported(t, src)

	// --name exports one namespace.
	if only := exported(t, src, "--name", "c"); len(only) != 5 {
		t.Fatalf("export --name c has %d entries", len(only))
	}
	// Importing again (from a file argument) keeps everything and never
	// lowers a version.
	file := filepath.Join(t.TempDir(), "dump.jsonl")
	if err := os.WriteFile(file, []byte(src.run("export").out), 0o600); err != nil {
		t.Fatal(err)
	}
	dst.run("import", file)
	sameEntries(t, before, exported(t, dst))

	// Into a database where the entry had higher versions than the export:
	// the imported version is above them.
	busy := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	var last store.Entry
	for i := range 30 {
		last = entry(t, busy.run("store", "upsert", "a", "1", fmt.Sprint(i)).out)
	}
	if last.Version <= before["a/1"].Version {
		t.Fatalf("setup: version %d not above exported %d", last.Version, before["a/1"].Version)
	}
	busy.runIn(src.run("export", "--name", "a").out, "import")
	got := entry(t, busy.run("store", "get", "a", "1").out)
	if got.Version <= last.Version || string(got.Data) != `{"x":2}` || !got.CreatedAt.Equal(before["a/1"].CreatedAt) {
		t.Fatalf("import over a busier entry: %+v (had version %d)", got, last.Version)
	}
	// Later writes keep growing the version.
	if next := entry(t, busy.run("store", "upsert", "a", "1", `"x"`).out); next.Version <= got.Version {
		t.Fatalf("write after import: version %d, import gave %d", next.Version, got.Version)
	}

	// An imported expiry is honoured: an entry exported with a TTL that has
	// since passed is invisible after import.
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	expired := `{"name":"old","key":"k","data":1,"version":3,"expiresAt":"` + past + `","createdAt":"2020-01-01T00:00:00Z","updatedAt":"2020-01-02T00:00:00Z"}` + "\n"
	fresh := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	fresh.runIn(expired, "import")
	fresh.fail(store.CodeNotFound, "store", "get", "old", "k")
	// A minimal line (name, key, data) imports with fresh timestamps.
	fresh.runIn(`{"name":"min","key":"k","data":{"b":1,"a":2}}`+"\n\n", "import")
	if got := entry(t, fresh.run("store", "get", "min", "k").out); string(got.Data) != `{"a":2,"b":1}` || got.Version <= 0 || got.CreatedAt.IsZero() {
		t.Fatalf("minimal import: %+v", got)
	}
}

func TestCLIImportValidatesFirst(t *testing.T) {
	good := `{"name":"a","key":"1","data":1}` + "\n" + `{"name":"a","key":"2","data":2}` + "\n"
	cases := []struct {
		name, third string
		code        store.Code
		msg         string
	}{
		{"not JSON", `{"name":`, store.CodeInvalidArgument, "line 3"},
		{"not an object", `[1,2]`, store.CodeInvalidArgument, "line 3"},
		{"missing data", `{"name":"a","key":"3"}`, store.CodeInvalidArgument, "line 3"},
		{"missing key", `{"name":"a","data":1}`, store.CodeInvalidArgument, "line 3"},
		{"key too long", `{"name":"a","key":"` + strings.Repeat("k", 257) + `","data":1}`, store.CodeTooLarge, "line 3"},
		{"bad data", `{"name":"a","key":"3","data":"\u0000`, store.CodeInvalidArgument, "line 3"},
		{"negative version", `{"name":"a","key":"3","data":1,"version":-1}`, store.CodeInvalidArgument, "line 3"},
		{"bad time", `{"name":"a","key":"3","data":1,"createdAt":"yesterday"}`, store.CodeInvalidArgument, "line 3"},
		{"two values", `{"name":"a","key":"3","data":1} {"name":"a","key":"4","data":1}`, store.CodeInvalidArgument, "line 3"},
		{"duplicate", `{"name":"a","key":"1","data":9}`, store.CodeInvalidArgument, "already on line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := cli{t: t, dsn: testenv.SQLiteDSN(t)}
			r := dst.failIn(good+c.third+"\n"+`{"name":"a","key":"5","data":5}`+"\n", c.code, "import")
			if !strings.Contains(r.err, c.msg) {
				t.Fatalf("import error %q does not say %q", r.err, c.msg)
			}
			if r := dst.run("store", "names"); r.out != "" {
				t.Fatalf("a failed import wrote entries: %q", r.out)
			}
		})
	}
	dst := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	dst.fail(store.CodeInvalidArgument, "import", filepath.Join(t.TempDir(), "missing.jsonl"))
	dst.fail(store.CodeInvalidArgument, "import", "a", "b")
	if r := dst.runIn("", "import"); r.out != "{\"imported\":0}\n" {
		t.Fatalf("empty import printed %q", r.out)
	}
}

// TestCLIImportDryRun: --dry-run counts what an import would do and writes
// nothing; refused lines make it fail with their line; a real import then
// leaves unchanged entries alone.
func TestCLIImportDryRun(t *testing.T) {
	dst := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	dst.run("store", "insert", "a", "same", "1")
	dst.run("store", "insert", "a", "diff", "1")
	file := `{"name":"a","key":"same","data":1}` + "\n" + `{"name":"a","key":"diff","data":2}` + "\n" + `{"name":"a","key":"new","data":3}` + "\n"
	if r := dst.runIn(file, "import", "--dry-run"); r.out != `{"changed":1,"expired":0,"invalid":0,"new":1,"unchanged":1}`+"\n" {
		t.Fatalf("dry run printed %q", r.out)
	}
	dst.fail(store.CodeNotFound, "store", "get", "a", "new")
	r := dst.failIn(file+`{"name":"a"}`+"\n", store.CodeInvalidArgument, "import", "--dry-run")
	if !strings.Contains(r.err, "line 4") || !strings.Contains(r.out, `"invalid":1`) || !strings.Contains(r.out, `"problems":["line 4: an entry needs name, key and data"]`) {
		t.Fatalf("dry run with a bad line: %q / %q", r.out, r.err)
	}
	before := entry(t, dst.run("store", "get", "a", "same").out)
	if r := dst.runIn(file, "import"); r.out != `{"imported":2}`+"\n" || !strings.Contains(r.err, "1 unchanged entry was skipped") {
		t.Fatalf("import printed %q / %q", r.out, r.err)
	}
	if after := entry(t, dst.run("store", "get", "a", "same").out); after.Version != before.Version {
		t.Fatalf("unchanged entry rewritten: version %d -> %d", before.Version, after.Version)
	}
}

// TestCLIExportPages exports more entries than one page holds (1000), so
// export has to follow cursors, and imports them in one go.
func TestCLIExportPages(t *testing.T) {
	var dump strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&dump, `{"name":"bulk","key":"k%05d","data":{"i":%d}}`+"\n", i, i)
	}
	src := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	if r := src.runIn(dump.String(), "import"); r.out != "{\"imported\":2500}\n" {
		t.Fatalf("import printed %q", r.out)
	}
	got := entries(t, src.run("export").out)
	if len(got) != 2500 {
		t.Fatalf("export has %d entries, want 2500", len(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("k%05d", i); e.Key != want || string(e.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("entry %d is %s %s, want %s", i, e.Key, e.Data, want)
		}
	}
}

// TestCLIDenoKeys: a key given as a JSON array of Deno KV parts names the
// entry a Deno client keeps under that key; a flat key that only looks
// like one stays flat.
func TestCLIDenoKeys(t *testing.T) {
	c := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	c.run("store", "upsert", "users", `["users", "1"]`, `{"name":"Ada"}`)
	b, _ := store.PackTuple([]any{"users", "1"})
	e := entry(t, c.run("store", "get", "users", `["users","1"]`).out)
	if e.Key != store.TupleKey(b) || string(e.Data) != `{"name":"Ada"}` {
		t.Fatalf("get by JSON-array key: %+v", e)
	}
	c.run("store", "insert", "users", "[draft", `1`)
	if e := entry(t, c.run("store", "get", "users", "[draft").out); e.Key != "[draft" {
		t.Fatalf("flat key: %+v", e)
	}
	if out := c.run("store", "delete", "users", `["users","1"]`).out; !strings.Contains(out, `"deleted":true`) {
		t.Fatalf("delete by JSON-array key: %s", out)
	}
	c.fail(store.CodeNotFound, "store", "get", "users", `["users","1"]`)
}
