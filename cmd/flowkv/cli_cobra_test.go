package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// Every command and subcommand answers --help (and -h) with exit 0 and a
// usage naming each of its flags.
func TestCLIHelpEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	seen := 0
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		for _, h := range []string{"--help", "-h"} {
			r := runCLI(t, "", append(path, h)...)
			if r.code != 0 || r.out != "" || !strings.Contains(r.err, "Usage:") {
				t.Errorf("flowkv %s %s: exit %d, stdout %q, stderr %q", strings.Join(path, " "), h, r.code, r.out, r.err)
				continue
			}
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(r.err, "--"+f.Name+" ") {
					t.Errorf("flowkv %s %s does not name --%s:\n%s", strings.Join(path, " "), h, f.Name, r.err)
				}
			})
			if c.HasAvailableLocalFlags() && len(path) > 0 && !strings.Contains(r.err, "FLOWKV_FOO_BAR") {
				t.Errorf("flowkv %s %s does not say flags are environment variables:\n%s", strings.Join(path, " "), h, r.err)
			}
		}
		seen++
		for _, sub := range c.Commands() {
			walk(sub, append(path[:len(path):len(path)], sub.Name()))
		}
	}
	walk(newRoot(), nil)
	if seen < 40 {
		t.Fatalf("walked %d commands, want every one (over 40)", seen)
	}
	// A command's flags in the help of `store insert`, from the flag
	// definitions the tree was built with.
	if r := runCLI(t, "", "store", "insert", "--help"); !strings.Contains(r.err, "--ttl") || !strings.Contains(r.err, "--dsn") || strings.Contains(r.err, "--if-version") {
		t.Fatalf("store insert --help: %q", r.err)
	}
}

// `flowkv help …`, `flowkv GROUP help …` and a bare `flowkv` print help on
// stdout; a group without a subcommand prints its help and fails.
func TestCLIHelpCommand(t *testing.T) {
	for _, args := range [][]string{{}, {"help"}, {"help", "store"}} {
		if r := runCLI(t, "", args...); r.code != 0 || !strings.Contains(r.out, "insert") && !strings.Contains(r.out, "store") {
			t.Errorf("flowkv %v: %+v", args, r)
		}
	}
	for _, args := range [][]string{{"help", "store", "insert"}, {"store", "help", "insert"}} {
		if r := runCLI(t, "", args...); r.code != 0 || !strings.Contains(r.out, "--ttl") || r.err != "" {
			t.Errorf("flowkv %v: %+v", args, r)
		}
	}
	for _, group := range []string{"store", "index", "token", "script", "flow"} {
		r := runCLI(t, "", group)
		if r.code != 1 || !strings.Contains(r.out, "Available Commands") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "invalid_argument: missing subcommand") {
			t.Errorf("flowkv %s: %+v", group, r)
		}
	}
}

// Unknown commands exit 2, unknown flags 1: one line each, with the code
// word, the name, and a near command when there is one.
func TestCLIUnknownCommandAndFlag(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `flowkv: invalid_argument: unknown command "frobnicate" (see flowkv help)`},
		{[]string{"frobnicate", "--dsn", "x"}, 2, `unknown command "frobnicate"`},
		{[]string{"stor", "get"}, 2, `unknown command "stor" (did you mean store? see flowkv help)`},
		{[]string{"store", "insrt"}, 2, `flowkv store: invalid_argument: unknown subcommand "insrt" (did you mean insert? see flowkv store help)`},
		{[]string{"token", "frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{[]string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"store", "get", "a", "b", "--bogus"}, 1, "flowkv store: invalid_argument: unknown flag: --bogus"},
		{[]string{"store", "get", "a", "b", "-q"}, 1, "flowkv store: invalid_argument: unknown shorthand flag: 'q' in -q"},
		{[]string{"store", "list", "a", "--limit", "many"}, 1, `invalid_argument: invalid argument "many" for "--limit" flag`},
		{[]string{"store", "list", "a", "--limit"}, 1, "invalid_argument: flag needs an argument: --limit"},
		{[]string{"serve", "extra"}, 1, `flowkv serve: invalid_argument: serve takes no arguments`},
		{[]string{"--bogus"}, 1, "flowkv: invalid_argument: unknown flag: --bogus"},
	}
	for _, tc := range cases {
		r := runCLI(t, "", tc.args...)
		if r.code != tc.code || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, tc.want) || r.out != "" {
			t.Errorf("flowkv %v: exit %d (want %d), stdout %q, stderr %q (want %q)", tc.args, r.code, tc.code, r.out, r.err, tc.want)
		}
	}
}

// Every flag --foo-bar is also FLOWKV_FOO_BAR: the backend's --dsn, a
// command's own --ttl and --limit. A flag on the command line wins, and
// FLOWKV_DSN wins over the older DATA_STORE_DSN.
func TestCLIFlagsFromEnvironment(t *testing.T) {
	envDB, flagDB, oldDB := testenv.SQLiteDSN(t), testenv.SQLiteDSN(t), testenv.SQLiteDSN(t)
	t.Setenv("DATA_STORE_DSN", oldDB)
	t.Setenv("FLOWKV_DSN", envDB)
	t.Setenv("FLOWKV_TTL", "2h")

	env := cli{t: t}
	e := entry(t, env.run("store", "insert", "orders", "o-1", `{"total":1}`).out)
	if e.ExpiresAt == nil || time.Until(*e.ExpiresAt) < time.Hour+50*time.Minute {
		t.Fatalf("FLOWKV_TTL=2h gave expiry %v", e.ExpiresAt)
	}
	// The flag wins over the variable, for both.
	e = entry(t, env.run("store", "insert", "orders", "o-2", `{"total":2}`, "--ttl", "never", "--dsn", flagDB).out)
	if e.ExpiresAt != nil {
		t.Fatalf("--ttl never under FLOWKV_TTL=2h gave expiry %v", e.ExpiresAt)
	}
	t.Setenv("FLOWKV_TTL", "")
	for _, c := range []struct {
		dsn  string
		want []string
	}{{envDB, []string{"orders/o-1"}}, {flagDB, []string{"orders/o-2"}}, {oldDB, nil}} {
		got := keys(entries(t, runCLI(t, "", "store", "list", "orders", "--dsn", c.dsn).out))
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s holds %v, want %v", c.dsn, got, c.want)
		}
	}
	// Without FLOWKV_DSN the older variable still chooses the database.
	t.Setenv("FLOWKV_DSN", "")
	if got := keys(entries(t, env.run("store", "list", "orders").out)); len(got) != 0 {
		t.Fatalf("DATA_STORE_DSN database holds %v", got)
	}
	env.run("store", "insert", "orders", "o-3", "3")
	if got := keys(entries(t, runCLI(t, "", "store", "list", "orders", "--dsn", oldDB).out)); strings.Join(got, ",") != "orders/o-3" {
		t.Fatalf("DATA_STORE_DSN database holds %v, want o-3", got)
	}

	// A repeatable or numeric flag of one command: FLOWKV_LIMIT pages.
	t.Setenv("FLOWKV_DSN", envDB)
	env.run("store", "insert", "orders", "o-4", "4")
	t.Setenv("FLOWKV_LIMIT", "1")
	r := env.run("store", "list", "orders")
	if len(entries(t, r.out)) != 1 || !strings.Contains(r.err, "next cursor: ") {
		t.Fatalf("FLOWKV_LIMIT=1: %+v", r)
	}
	if r := env.run("store", "list", "orders", "--limit", "5"); len(entries(t, r.out)) != 2 {
		t.Fatalf("--limit 5 under FLOWKV_LIMIT=1: %+v", r)
	}

	// A bad value is invalid_argument naming the variable, and nothing runs.
	t.Setenv("FLOWKV_LIMIT", "lots")
	r = env.fail(store.CodeInvalidArgument, "store", "list", "orders")
	if !strings.Contains(r.err, `FLOWKV_LIMIT="lots"`) || r.out != "" {
		t.Fatalf("bad FLOWKV_LIMIT: %+v", r)
	}
	env.run("store", "list", "orders", "--limit", "1") // the flag given, the variable is not read
}

// The Go flag habits the CLI kept: a long flag with one dash.
func TestCLISingleDashLongFlag(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	r := runCLI(t, "", "store", "insert", "a", "k", "-7", "-dsn", dsn, "-ttl=1h")
	if r.code != 0 {
		t.Fatalf("single-dash flags: %+v", r)
	}
	if e := entry(t, r.out); string(e.Data) != "-7" || e.ExpiresAt == nil {
		t.Fatalf("stored %+v", e)
	}
}

// `flowkv completion SHELL` prints cobra's completion script; the script's
// helper completes subcommands and flags from the real command tree.
func TestCLICompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_flowkv", "zsh": "#compdef flowkv", "fish": "complete -c flowkv",
	} {
		r := runCLI(t, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: exit %d, stderr %q, script lacks %q", shell, r.code, r.err, want)
		}
	}
	r := runCLI(t, "", cobra.ShellCompRequestCmd, "store", "in")
	if r.code != 0 || !strings.Contains(r.out, "insert") {
		t.Fatalf("completing `store in`: %+v", r)
	}
	r = runCLI(t, "", cobra.ShellCompRequestCmd, "store", "insert", "--tt")
	if r.code != 0 || !strings.Contains(r.out, "--ttl") {
		t.Fatalf("completing `store insert --tt`: %+v", r)
	}
	// Flag values and arguments: a backend mode, a token scope; no file
	// names for a key, file names for an import.
	for _, tc := range []struct {
		args      []string
		want, not string
		directive string
	}{
		{[]string{"store", "get", "--mode", ""}, "aws", "", ":4"},
		{[]string{"token", "create", "--scope", ""}, "flows\t", "", ":4"},
		{[]string{"store", "get", "orders", ""}, "", "aws", ":4"},
		{[]string{"import", ""}, "", "", ":0"},
	} {
		r := runCLI(t, "", append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
		if r.code != 0 || !strings.Contains(r.out, tc.want) || tc.not != "" && strings.Contains(r.out, tc.not) || !strings.HasSuffix(strings.TrimSpace(r.out), tc.directive) {
			t.Errorf("completing %q: %+v, want %q and directive %s", tc.args, r, tc.want, tc.directive)
		}
	}
	if r := runCLI(t, "", "completion", "tcsh"); r.code == 0 || !strings.Contains(r.err, "invalid_argument") {
		t.Fatalf("completion tcsh: %+v", r)
	}
}
