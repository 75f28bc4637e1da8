package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

func init() {
	register(command{
		name:    "store",
		summary: "read and write entries: insert, upsert, update, get, delete, fetch, list, names, quota",
		run:     runStore,
	})
}

// storeSub is one `flowkv store SUB` command.
type storeSub struct {
	usage, summary string
	run            func(ctx context.Context, args []string) error
}

var storeSubs = map[string]storeSub{
	"insert": {"NAME KEY DATA [--ttl 30s|5m|2h|7d]", "create an entry; already_exists if present", writeCmd("insert")},
	"upsert": {"NAME KEY DATA [--ttl …] [--if-version V]", "create or overwrite an entry", writeCmd("upsert")},
	"update": {"NAME KEY DATA [--ttl …] [--if-version V]", "overwrite an existing entry; not_found if absent", writeCmd("update")},
	"get":    {"NAME KEY", "print one entry; not_found if absent", runStoreGet},
	"delete": {"NAME KEY [--if-version V]", `delete an entry; prints {"deleted":true|false}`, runStoreDelete},
	"fetch":  {"[--name N] [--key K] [--key-prefix P] [--data JSON] [--flow-uuid U] [--limit N] [--offset N | --cursor C]", "filtered listing across namespaces (JSONL)", runStoreFetch},
	"list":   {"NAME [--prefix P] [--cursor C] [--limit N]", "key-prefix scan of one namespace (JSONL; next cursor on stderr)", runStoreList},
	"names":  {"", "namespaces with their entry counts and declared indexes (JSONL)", runStoreNames},
	"query":  {"NAME [--where 'status=paid']… [--any] [--order -total]… [--limit N] [--cursor C] [--count]", "search one namespace by fields of data (JSONL; next cursor and count on stderr)", runStoreQuery},
	"quota":  {"[NAME] [--entries N] [--bytes B]", "set a namespace's quota (0 = no limit); print quotas and usage (JSONL)", runStoreQuota},
}

func runStore(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		storeUsage(stdout)
		if len(args) == 0 {
			return store.Errorf(store.CodeInvalidArgument, "missing subcommand (insert, upsert, update, get, delete, fetch, list, names, query, quota)")
		}
		return flag.ErrHelp
	}
	sub, ok := storeSubs[args[0]]
	if !ok {
		return store.Errorf(store.CodeInvalidArgument, "unknown subcommand %q (see flowkv store help)", args[0])
	}
	return sub.run(ctx, args[1:])
}

func storeUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: flowkv store SUBCOMMAND [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(storeSubs))
	for n := range storeSubs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := storeSubs[n]
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(n+" "+s.usage), s.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "DATA is JSON, or - to read it from stdin. Every subcommand takes the backend")
	fmt.Fprintln(w, "flags (--dsn sqlite:PATH | postgres://…, env DATA_STORE_DSN, default sqlite:flowkv.db);")
	fmt.Fprintln(w, "run `flowkv store SUBCOMMAND -h` for them.")
}

// storeFlagSet returns a flag set for `flowkv store sub` with the backend
// flags registered on a config read from the environment.
func storeFlagSet(sub string) (*flag.FlagSet, *config.Config) {
	cfg := config.FromEnv()
	fs := newFlags("store " + sub)
	cfg.StoreFlags(fs)
	return fs, &cfg
}

// parseArgs is parseFlags that also takes negative numbers as positional
// arguments (`flowkv store upsert counters c -1`): an argument like -5 or
// -1.5e3 that is not the value of the flag before it is DATA, KEY or NAME,
// not an unknown flag. Anything after "--" is positional as well.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	subst := map[string]string{}
	in := slices.Clone(args)
	for i, a := range args {
		if a == "--" {
			break
		}
		if negativeNumber(a) && !(i > 0 && takesValue(fs, args[i-1])) {
			ph := fmt.Sprintf("\x00arg%d", i)
			subst[ph] = a
			in[i] = ph
		}
	}
	pos, err := parseFlags(fs, in)
	for i, p := range pos {
		if v, ok := subst[p]; ok {
			pos[i] = v
		}
	}
	return pos, err
}

// negativeNumber reports whether a looks like a negative number (-5, -.5).
func negativeNumber(a string) bool {
	return len(a) > 1 && a[0] == '-' && (a[1] >= '0' && a[1] <= '9' || a[1] == '.')
}

// takesValue reports whether arg is a flag of fs that consumes the next
// argument as its value (-ttl 5m, not -ttl=5m, not a bool flag).
func takesValue(fs *flag.FlagSet, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(arg, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
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

func writeCmd(op string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		fs, cfg := storeFlagSet(op)
		ttlText := fs.String("ttl", "", "time to live: 30s, 5m, 2h, 7d, 1.5h or never (default never)")
		var ifVersion *int64
		if op != "insert" {
			ifVersion = fs.Int64("if-version", 0, "write only if the entry has this version (compare-and-set), else conflict")
		}
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if err := wantArgs(op, pos, 3, "NAME KEY DATA"); err != nil {
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
	}
}

func runStoreGet(ctx context.Context, args []string) error {
	fs, cfg := storeFlagSet("get")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
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
}

func runStoreDelete(ctx context.Context, args []string) error {
	fs, cfg := storeFlagSet("delete")
	ifVersion := fs.Int64("if-version", 0, "delete only if the entry has this version, else conflict")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
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
}

func runStoreFetch(ctx context.Context, args []string) error {
	fs, cfg := storeFlagSet("fetch")
	var q store.FetchQuery
	fs.StringVar(&q.Name, "name", "", "only this namespace")
	fs.StringVar(&q.Key, "key", "", "only this key")
	fs.StringVar(&q.KeyPrefix, "key-prefix", "", "only keys starting with this")
	fs.StringVar(&q.FlowUUID, "flow-uuid", "", "only entries last written by this flow")
	fs.Func("data", "only entries whose data equals this JSON (key order and whitespace do not matter)", func(s string) error {
		q.Data = json.RawMessage(s)
		return nil
	})
	fs.IntVar(&q.Limit, "limit", 0, "page size (default 100, at most 1000)")
	fs.IntVar(&q.Offset, "offset", 0, "skip this many entries (cursors are faster)")
	fs.StringVar(&q.Cursor, "cursor", "", "continue after a previous page (its next cursor)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("fetch", pos, 0, "only flags"); err != nil {
		return err
	}
	if q.Data != nil && strings.TrimSpace(string(q.Data)) == "" {
		return store.Errorf(store.CodeInvalidArgument, "--data must be a JSON value")
	}
	return withStore(ctx, *cfg, func(st store.Store) error {
		p, err := st.Fetch(ctx, q)
		if err != nil {
			return err
		}
		return printPage(p)
	})
}

func runStoreList(ctx context.Context, args []string) error {
	fs, cfg := storeFlagSet("list")
	prefix := fs.String("prefix", "", "only keys starting with this")
	cursor := fs.String("cursor", "", "continue after a previous page (its next cursor)")
	limit := fs.Int("limit", 0, "page size (default 100, at most 1000)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
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
}

func runStoreNames(ctx context.Context, args []string) error {
	fs, cfg := storeFlagSet("names")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
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
}
