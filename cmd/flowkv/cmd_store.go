package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

func newStoreCmd() *cobra.Command {
	return group("store SUBCOMMAND", "read and write entries: insert, upsert, update, get, delete, fetch, list, names, query, quota",
		writeCmd("insert", "NAME KEY DATA", "create an entry; already_exists if present"),
		writeCmd("upsert", "NAME KEY DATA", "create or overwrite an entry"),
		writeCmd("update", "NAME KEY DATA", "overwrite an existing entry; not_found if absent"),
		storeGetCmd(), storeDeleteCmd(), storeFetchCmd(), storeListCmd(), storeNamesCmd(), storeQueryCmd(), storeQuotaCmd(),
	)
}

const storeLong = `%s

DATA is JSON, or - to read it from stdin. Negative numbers are arguments, not
flags; anything after -- is an argument too. The backend flags choose the
database (--dsn sqlite:PATH | postgres://…, env DATA_STORE_DSN, default
sqlite:flowkv.db).`

// storeLeaf returns a `flowkv store SUB` (or `flowkv index SUB`) command with
// the backend flags.
func storeLeaf(use, short string) (*cobra.Command, *config.Config) {
	c, cfg := dataLeaf(use, short)
	c.Long = fmt.Sprintf(storeLong, short)
	return c, cfg
}

// wantArgs checks the number of positional arguments.
func wantArgs(sub string, pos []string, n int, usage string) error {
	if len(pos) != n {
		return store.Errorf(store.CodeInvalidArgument, "store %s takes %d arguments (%s), got %d", sub, n, usage, len(pos))
	}
	return nil
}

// readData returns the DATA argument: the JSON text itself, or stdin for
// "-". Stdin is read up to a bound well above the data limit (whitespace
// does not count towards it), so a runaway pipe is too_large, not memory.
func readData(arg string, limits store.Limits) (json.RawMessage, error) {
	if arg != "-" {
		return json.RawMessage(arg), nil
	}
	max := int64(limits.Normalize().MaxDataBytes)*4 + 1024
	b, err := io.ReadAll(io.LimitReader(stdin, max+1))
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "reading data from stdin: %v", err)
	}
	if int64(len(b)) > max {
		return nil, store.Errorf(store.CodeTooLarge, "data on stdin is over %d bytes", max)
	}
	return json.RawMessage(b), nil
}

// printJSON writes v as one line of JSON to w.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// printPage writes the entries as JSONL and the next cursor, if any, to stderr.
func printPage(p store.Page) error {
	for _, e := range p.Entries {
		if err := printJSON(stdout, e); err != nil {
			return err
		}
	}
	if p.NextCursor != "" {
		fmt.Fprintf(stderr, "next cursor: %s\n", p.NextCursor)
	}
	return nil
}

func writeCmd(op, args, short string) *cobra.Command {
	c, cfg := storeLeaf(op+" "+args+" [flags]", short)
	ttlText := c.Flags().String("ttl", "", "time to live: 30s, 5m, 2h, 7d, 1.5h or never (default never)")
	var ifVersion *int64
	if op != "insert" {
		ifVersion = c.Flags().Int64("if-version", 0, "write only if the entry has this version (compare-and-set), else conflict")
	}
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs(op, pos, 3, args); err != nil {
			return err
		}
		pos[1] = store.ResolveKey(pos[1]) // ["users","1"]: a Deno KV key
		ttl, err := store.ParseTTL(*ttlText)
		if err != nil {
			return err
		}
		opts := store.WriteOptions{TTL: ttl}
		if ifVersion != nil {
			if *ifVersion < 0 {
				return store.Errorf(store.CodeInvalidArgument, "--if-version must not be negative")
			}
			opts.IfVersion = *ifVersion
		}
		data, err := readData(pos[2], cfg.Limits)
		if err != nil {
			return err
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			st, err := withNamespaceQuotas(ctx, st)
			if err != nil {
				return err
			}
			var e store.Entry
			switch op {
			case "insert":
				e, err = st.Insert(ctx, pos[0], pos[1], data, opts)
			case "upsert":
				e, err = st.Upsert(ctx, pos[0], pos[1], data, opts)
			default:
				e, err = st.Update(ctx, pos[0], pos[1], data, opts)
			}
			if err != nil {
				return err
			}
			return printJSON(stdout, e)
		})
	})
	return c
}

func storeGetCmd() *cobra.Command {
	c, cfg := storeLeaf("get NAME KEY [flags]", "print one entry; not_found if absent")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("get", pos, 2, "NAME KEY"); err != nil {
			return err
		}
		pos[1] = store.ResolveKey(pos[1]) // ["users","1"]: a Deno KV key
		return withStore(ctx, *cfg, func(st store.Store) error {
			e, err := st.FindNameKey(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			return printJSON(stdout, e)
		})
	})
	return c
}

func storeDeleteCmd() *cobra.Command {
	c, cfg := storeLeaf("delete NAME KEY [flags]", `delete an entry; prints {"deleted":true|false}`)
	ifVersion := c.Flags().Int64("if-version", 0, "delete only if the entry has this version, else conflict")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("delete", pos, 2, "NAME KEY"); err != nil {
			return err
		}
		pos[1] = store.ResolveKey(pos[1]) // ["users","1"]: a Deno KV key
		if *ifVersion < 0 {
			return store.Errorf(store.CodeInvalidArgument, "--if-version must not be negative")
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			deleted, err := st.Delete(ctx, pos[0], pos[1], store.DeleteOptions{IfVersion: *ifVersion})
			if err != nil {
				return err
			}
			return printJSON(stdout, map[string]bool{"deleted": deleted})
		})
	})
	return c
}

func storeFetchCmd() *cobra.Command {
	c, cfg := storeLeaf("fetch [flags]", "filtered listing across namespaces (JSONL; next cursor on stderr)")
	fs := c.Flags()
	var q store.FetchQuery
	fs.StringVar(&q.Name, "name", "", "only this namespace")
	fs.StringVar(&q.Key, "key", "", "only this key")
	fs.StringVar(&q.KeyPrefix, "key-prefix", "", "only keys starting with this")
	fs.StringVar(&q.FlowUUID, "flow-uuid", "", "only entries last written by this flow")
	data := fs.String("data", "", "only entries whose data equals this JSON (key order and whitespace do not matter)")
	fs.IntVar(&q.Limit, "limit", 0, "page size (default 100, at most 1000)")
	fs.IntVar(&q.Offset, "offset", 0, "skip this many entries (cursors are faster)")
	fs.StringVar(&q.Cursor, "cursor", "", "continue after a previous page (its next cursor)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("fetch", pos, 0, "only flags"); err != nil {
			return err
		}
		if fs.Changed("data") {
			if strings.TrimSpace(*data) == "" {
				return store.Errorf(store.CodeInvalidArgument, "--data must be a JSON value")
			}
			q.Data = json.RawMessage(*data)
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			p, err := st.Fetch(ctx, q)
			if err != nil {
				return err
			}
			return printPage(p)
		})
	})
	return c
}

func storeListCmd() *cobra.Command {
	c, cfg := storeLeaf("list NAME [flags]", "key-prefix scan of one namespace (JSONL; next cursor on stderr)")
	prefix := c.Flags().String("prefix", "", "only keys starting with this")
	cursor := c.Flags().String("cursor", "", "continue after a previous page (its next cursor)")
	limit := c.Flags().Int("limit", 0, "page size (default 100, at most 1000)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("list", pos, 1, "NAME"); err != nil {
			return err
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			p, err := st.List(ctx, pos[0], *prefix, *cursor, *limit)
			if err != nil {
				return err
			}
			return printPage(p)
		})
	})
	return c
}

func storeNamesCmd() *cobra.Command {
	c, cfg := storeLeaf("names [flags]", "namespaces with their entry counts and declared indexes (JSONL)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("names", pos, 0, "none"); err != nil {
			return err
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			names, err := st.Names(ctx)
			if err != nil {
				return err
			}
			ixs, err := st.Indexes(ctx, "")
			if err != nil {
				return err
			}
			fields := map[string][]string{}
			for _, ix := range ixs {
				fields[ix.Name] = append(fields[ix.Name], ix.Field)
			}
			for _, n := range names {
				line := struct {
					store.NameCount
					Indexes []string `json:"indexes,omitempty"`
				}{n, fields[n.Name]}
				if err := printJSON(stdout, line); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return c
}
