package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

func newTokenCmd() *cobra.Command {
	return group("token SUBCOMMAND", "manage HTTP API tokens: create, list, revoke, quota",
		tokenCreateCmd(), tokenListCmd(), tokenRevokeCmd(), tokenQuotaCmd())
}

func tokenCreateCmd() *cobra.Command {
	c, cfg := dataLeaf("create --grant NS:read|NS:write [flags]",
		"create a token; prints its secret on stdout (shown only this once) and its ID on stderr")
	var grants, scopes []string
	c.Flags().StringArrayVar(&grants, "grant", nil, "namespace:read or namespace:write (* = every namespace); repeatable")
	c.Flags().StringArrayVar(&scopes, "scope", nil, "flows (save, run and delete flows; manage scripts and run inline source) or admin (everything); repeatable")
	name := c.Flags().String("name", "", "a label shown by token list")
	quotaFlags := addTokenQuotaFlags(c.Flags())
	c.RunE = runE(func(ctx context.Context, pos []string) error {
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
		return withStore(ctx, *cfg, func(st store.Store) error {
			secret, t, err := tokens.New(st).Create(ctx, *name, g, sc...)
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
	})
	return c
}

func tokenListCmd() *cobra.Command {
	c, cfg := dataLeaf("list [flags]", "tokens, oldest first: ID, name, grants, scopes, creation, status, this month's operations and quotas")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return store.Errorf(store.CodeInvalidArgument, "token list takes no arguments")
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
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
	})
	return c
}

func tokenRevokeCmd() *cobra.Command {
	c, cfg := dataLeaf("revoke ID|NAME [flags]", "revoke a token by its tok_… ID, the hash-prefix ID of an older token, or a unique name")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) != 1 {
			return store.Errorf(store.CodeInvalidArgument, "usage: flowkv token revoke ID (tok_…, or the hash-prefix ID of a token made before random IDs, or a unique name; see flowkv token list)")
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			t, err := tokens.New(st).Revoke(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked token %s\n", t.ID)
			return nil
		})
	})
	return c
}

func tokenQuotaCmd() *cobra.Command {
	c, cfg := dataLeaf("quota ID|NAME [flags]", "change the flags given of a token's quota (0 = unlimited / the default); print its quota and this month's usage")
	quotaFlags := addTokenQuotaFlags(c.Flags())
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) != 1 {
			return store.Errorf(store.CodeInvalidArgument, "usage: flowkv token quota ID|NAME [--ops-per-month N] [--script-runs N]")
		}
		return withStore(ctx, *cfg, func(st store.Store) error { return runTokenQuota(ctx, st, pos[0], quotaFlags) })
	})
	return c
}

// scopeText shows scopes in token list ("-" for none).
func scopeText(scopes []string) string {
	if len(scopes) == 0 {
		return "-"
	}
	return strings.Join(scopes, ",")
}
