package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// Quotas from the command line: `token create … --ops-per-month N
// --script-runs N`, `token quota ID|NAME [flags]`, the usage columns of
// `token list`, and `store quota [NAME] [--entries N] [--bytes B]`. The
// CLI writes the quota records; a running server applies them within 5 s.

// tokenQuotaFlags are the quota flags of token create and token quota.
type tokenQuotaFlags struct {
	fs          *pflag.FlagSet
	opsPerMonth int64
	scriptRuns  int
}

func addTokenQuotaFlags(fs *pflag.FlagSet) *tokenQuotaFlags {
	f := &tokenQuotaFlags{fs: fs}
	fs.Int64Var(&f.opsPerMonth, "ops-per-month", 0, "store operations the token may make per calendar month (UTC); 0 = unlimited")
	fs.IntVar(&f.scriptRuns, "script-runs", 0, fmt.Sprintf("scripts the token may run at once; 0 = the default (%d)", quota.DefaultScriptRuns))
	return f
}

// apply returns q with the flags given (on the command line or in the
// environment) applied, and whether any was.
func (f *tokenQuotaFlags) apply(q quota.TokenQuota) (quota.TokenQuota, bool) {
	if f.fs.Changed("ops-per-month") {
		q.OpsPerMonth = f.opsPerMonth
	}
	if f.fs.Changed("script-runs") {
		q.ScriptRuns = f.scriptRuns
	}
	return q, f.fs.Changed("ops-per-month") || f.fs.Changed("script-runs")
}

// findToken returns the token with id or, when unambiguous, name.
func findToken(ctx context.Context, tm *tokens.Manager, idOrName string) (tokens.Token, error) {
	all, err := tm.List(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	var byName []tokens.Token
	for _, t := range all {
		if t.ID == idOrName || t.ID == strings.ToLower(idOrName) {
			return t, nil
		}
		if t.Name == idOrName && idOrName != "" {
			byName = append(byName, t)
		}
	}
	switch len(byName) {
	case 0:
		return tokens.Token{}, store.Errorf(store.CodeNotFound, "no token with id or name %q", idOrName)
	case 1:
		return byName[0], nil
	}
	return tokens.Token{}, store.Errorf(store.CodeInvalidArgument, "%d tokens are named %q: use the id", len(byName), idOrName)
}

// runTokenQuota is `flowkv token quota ID|NAME [--ops-per-month N]
// [--script-runs N]`: it changes the flags given and prints the token's
// quota and usage.
func runTokenQuota(ctx context.Context, st store.Store, idOrName string, f *tokenQuotaFlags) error {
	t, err := findToken(ctx, tokens.New(st), idOrName)
	if err != nil {
		return err
	}
	q, err := quota.GetTokenQuota(ctx, st, t.ID)
	if err != nil {
		return err
	}
	if nq, changed := f.apply(q); changed {
		if err := quota.SetTokenQuota(ctx, st, t.ID, nq); err != nil {
			return err
		}
		q = nq
	}
	month := quota.Month(time.Now())
	ops, err := quota.StoredOps(ctx, st, t.ID, month)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s: %s store operations in %s; %s script runs at once\n",
		t.ID, opsOf(ops, q.OpsPerMonth), month, runsOf(q.ScriptRuns))
	return nil
}

// opsOf renders usage against a monthly quota: "12/10000" or "12/-".
func opsOf(ops, limit int64) string {
	if limit <= 0 {
		return strconv.FormatInt(ops, 10) + "/-"
	}
	return strconv.FormatInt(ops, 10) + "/" + strconv.FormatInt(limit, 10)
}

func runsOf(n int) string {
	if n <= 0 {
		return strconv.Itoa(quota.DefaultScriptRuns) + " (default)"
	}
	return strconv.Itoa(n)
}

// tokenUsage reads what token list shows: every token's quota and this
// month's stored operations.
func tokenUsage(ctx context.Context, st store.Store) (map[string]quota.TokenQuota, map[string]int64, error) {
	qs, err := quota.TokenQuotas(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	ops, err := quota.StoredOpsByToken(ctx, st, quota.Month(time.Now()))
	return qs, ops, err
}

// bytesFlag is a byte count: 10000000, 10MB, 10 MB, 512kB, 1GiB.
type bytesFlag struct{ n int64 }

func (b *bytesFlag) String() string { return strconv.FormatInt(b.n, 10) }
func (b *bytesFlag) Type() string   { return "bytes" }
func (b *bytesFlag) Set(v string) error {
	n, err := parseBytes(v)
	b.n = n
	return err
}

// parseBytes reads a byte count with an optional unit: decimal kB/KB, MB,
// GB, TB (powers of 1000) or binary KiB, MiB, GiB, TiB (powers of 1024).
func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	if err != nil || mult == 0 || f*mult > math.MaxInt64 {
		return 0, store.Errorf(store.CodeInvalidArgument, "bytes: want a size like 10000000, 10MB or 8MiB, got %q", v)
	}
	return int64(f * mult), nil
}

// withNamespaceQuotas returns st with namespace quotas enforced: the
// CLI's writes are held to them like the server's.
func withNamespaceQuotas(ctx context.Context, st store.Store) (store.Store, error) {
	m, err := quota.Open(ctx, st, quota.Options{NoBackground: true})
	if err != nil {
		return nil, err
	}
	return m.Namespaces(st), nil
}

// nsQuotaLine is one line of store quota's output.
type nsQuotaLine struct {
	Name    string                `json:"name"`
	Quota   *quota.NamespaceQuota `json:"quota"`
	Entries int64                 `json:"entries"`
	Bytes   int64                 `json:"bytes"`
}

// storeQuotaCmd is `flowkv store quota [NAME] [--entries N] [--bytes B]`:
// with flags it changes NAME's quota (0 removes a limit); it prints the
// quota and the usage counted now (JSONL; every namespace with a quota
// when NAME is left out).
func storeQuotaCmd() *cobra.Command {
	c, cfg := storeLeaf("quota [NAME] [flags]", "set a namespace's quota (0 = no limit); print quotas and usage (JSONL)")
	entries := c.Flags().Int64("entries", 0, "live entries the namespace may hold; 0 = no limit")
	var bytes bytesFlag
	c.Flags().Var(&bytes, "bytes", "bytes the namespace may store (keys + canonical JSON data): 10000000, 10MB, 8MiB; 0 = no limit")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		return storeQuota(ctx, *cfg, pos, c.Flags(), *entries, bytes.n)
	})
	return c
}

func storeQuota(ctx context.Context, cfg config.Config, pos []string, fs *pflag.FlagSet, entries, bytes int64) error {
	set := map[string]bool{"entries": fs.Changed("entries"), "bytes": fs.Changed("bytes")}
	if len(pos) > 1 || (len(pos) == 0 && (set["entries"] || set["bytes"])) {
		return store.Errorf(store.CodeInvalidArgument, "usage: flowkv store quota [NAME] [--entries N] [--bytes B]")
	}
	return withStore(ctx, cfg, func(st store.Store) error {
		all, err := quota.NamespaceQuotas(ctx, st)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(all))
		if len(pos) == 1 {
			name := pos[0]
			if set["entries"] || set["bytes"] {
				q := all[name]
				if set["entries"] {
					q.Entries = entries
				}
				if set["bytes"] {
					q.Bytes = bytes
				}
				if err := quota.SetNamespaceQuota(ctx, st, name, q); err != nil {
					return err
				}
				if q.IsZero() {
					delete(all, name)
				} else {
					all[name] = q
				}
			}
			names = append(names, name)
		} else {
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
		}
		enc := json.NewEncoder(stdout)
		for _, n := range names {
			line := nsQuotaLine{Name: n}
			if q, ok := all[n]; ok {
				line.Quota = &q
			}
			if line.Entries, line.Bytes, err = quota.Count(ctx, st, n); err != nil {
				return err
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	})
}
