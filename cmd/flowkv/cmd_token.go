package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

func init() {
	register(command{
		name:    "token",
		summary: "manage HTTP API tokens: token create --grant NS:read|write [--scope flows|admin] [--name L] [--ops-per-month N] [--script-runs N], token list, token revoke ID, token quota ID [--ops-per-month N] [--script-runs N]",
		run:     runToken,
	})
}

// grantList collects a repeated string flag.
type grantList []string

func (m *grantList) String() string     { return strings.Join(*m, ",") }
func (m *grantList) Set(v string) error { *m = append(*m, v); return nil }

func runToken(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return store.Errorf(store.CodeInvalidArgument, "usage: flowkv token create|list|revoke|quota (see flowkv token create -h)")
	}
	sub, args := args[0], args[1:]
	cfg := config.FromEnv()
	fs := newFlags("token " + sub)
	cfg.StoreFlags(fs)
	var grants, scopes grantList
	var name string
	var quotaFlags *tokenQuotaFlags
	switch sub {
	case "create":
		fs.Var(&grants, "grant", "namespace:read or namespace:write (* = every namespace); repeatable")
		fs.Var(&scopes, "scope", "flows (save, run and delete flows; manage scripts and run inline source) or admin (everything); repeatable")
		fs.StringVar(&name, "name", "", "a label shown by token list")
		quotaFlags = addTokenQuotaFlags(fs)
	case "quota":
		quotaFlags = addTokenQuotaFlags(fs)
	case "list", "revoke":
	default:
		return store.Errorf(store.CodeInvalidArgument, "unknown token command %q (want create, list, revoke or quota)", sub)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		if len(pos) > 0 {
			return store.Errorf(store.CodeInvalidArgument, "token create takes no arguments, only --grant and --name (got %q)", pos[0])
		}
		sc, err := tokens.ParseScopes(scopes)
		if err != nil {
			return err
		}
		if len(grants) == 0 && !slices.Contains(sc, tokens.ScopeAdmin) {
			return store.Errorf(store.CodeInvalidArgument, "token create needs at least one --grant namespace:read|write (or --scope admin)")
		}
		g, err := store.ParseGrants(grants)
		if err != nil {
			return err
		}
		return withStore(ctx, cfg, func(st store.Store) error {
			secret, t, err := tokens.New(st).Create(ctx, name, g, sc...)
			if err != nil {
				return err
			}
			if q, set := quotaFlags.apply(quota.TokenQuota{}); set {
				if err := quota.SetTokenQuota(ctx, st, t.ID, q); err != nil {
					return err
				}
			}
			fmt.Fprintln(stdout, secret)
			sc := "no scope"
			if len(t.Scopes) > 0 {
				sc = "scopes " + strings.Join(t.Scopes, " ")
			}
			fmt.Fprintf(stderr, "token %s created with grants %s and %s; the token above is shown only this once\n",
				t.ID, strings.Join(t.Grants.Strings(), " "), sc)
			return nil
		})
	case "list":
		if len(pos) > 0 {
			return store.Errorf(store.CodeInvalidArgument, "token list takes no arguments")
		}
		return withStore(ctx, cfg, func(st store.Store) error {
			ts, err := tokens.New(st).List(ctx)
			if err != nil {
				return err
			}
			quotas, ops, err := tokenUsage(ctx, st)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tSCOPES\tCREATED\tSTATUS\tOPS "+quota.Month(time.Now())+"\tSCRIPT RUNS")
			for _, t := range ts {
				status := "active"
				if t.RevokedAt != nil {
					status = "revoked " + t.RevokedAt.Format(time.RFC3339)
				}
				n := t.Name
				if n == "" {
					n = "-"
				}
				q := quotas[t.ID]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, n, strings.Join(t.Grants.Strings(), ","), scopeText(t.Scopes),
					t.CreatedAt.Format(time.RFC3339), status, opsOf(ops[t.ID], q.OpsPerMonth), runsOf(q.ScriptRuns))
			}
			return tw.Flush()
		})
	case "quota":
		if len(pos) != 1 {
			return store.Errorf(store.CodeInvalidArgument, "usage: flowkv token quota ID|NAME [--ops-per-month N] [--script-runs N]")
		}
		return withStore(ctx, cfg, func(st store.Store) error { return runTokenQuota(ctx, st, pos[0], quotaFlags) })
	default: // revoke
		if len(pos) != 1 {
			return store.Errorf(store.CodeInvalidArgument, "usage: flowkv token revoke ID (tok_…, or the hash-prefix ID of a token made before random IDs, or a unique name; see flowkv token list)")
		}
		return withStore(ctx, cfg, func(st store.Store) error {
			t, err := tokens.New(st).Revoke(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked token %s\n", t.ID)
			return nil
		})
	}
}

// scopeText shows scopes in token list ("-" for none).
func scopeText(scopes []string) string {
	if len(scopes) == 0 {
		return "-"
	}
	return strings.Join(scopes, ",")
}
