package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowkv/flowkv/internal/backend"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

func init() {
	register(command{
		name:    "migrate",
		summary: "bring the configured database's schema up to date",
		run:     runMigrate,
	})
	register(command{
		name:    "export",
		summary: "write all entries (or one namespace's) as JSONL to stdout",
		run:     runExport,
	})
	register(command{
		name:    "import",
		summary: "restore entries from an export (JSONL on stdin or a file)",
		run:     runImport,
	})
}

func runMigrate(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := newFlags("migrate")
	cfg.StoreFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("migrate", pos, 0, "only flags"); err != nil {
		return err
	}
	if err := backend.Migrate(ctx, cfg); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "schema is up to date")
	return nil
}

func runExport(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := newFlags("export")
	cfg.StoreFlags(fs)
	name := fs.String("name", "", "export only this namespace (default: every namespace except flowkv's reserved _flowkv.*)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("export", pos, 0, "only flags"); err != nil {
		return err
	}
	if *name != "" {
		if err := cfg.Limits.Normalize().ValidateName(*name); err != nil {
			return err
		}
	}
	return withStore(ctx, cfg, func(st store.Store) error {
		names := []string{*name}
		if *name == "" {
			all, err := st.Names(ctx)
			if err != nil {
				return err
			}
			names = names[:0]
			for _, nc := range all {
				names = append(names, nc.Name)
			}
		}
		w := bufio.NewWriterSize(stdout, 64<<10)
		n := 0
		for _, ns := range names {
			c, err := exportNamespace(ctx, st, w, ns)
			n += c
			if err != nil {
				return fmt.Errorf("export %s after %d entries: %w", ns, n, err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		fmt.Fprintf(stderr, "exported %d entries\n", n)
		return nil
	})
}

// exportNamespace writes every live entry of ns to w, page by page with
// cursors, and returns how many it wrote.
func exportNamespace(ctx context.Context, st store.Store, w io.Writer, ns string) (int, error) {
	n, cursor := 0, ""
	limit := st.Limits().MaxListLimit
	for {
		p, err := st.List(ctx, ns, "", cursor, limit)
		if err != nil {
			return n, err
		}
		for _, e := range p.Entries {
			if err := printJSON(w, e); err != nil {
				return n, err
			}
			n++
		}
		if p.NextCursor == "" || len(p.Entries) == 0 {
			return n, nil
		}
		cursor = p.NextCursor
	}
}

// exportLine is one line of an export: store.Entry's JSON. Name, key and
// data are required; the rest is restored when present.
type exportLine struct {
	Name      *string         `json:"name"`
	Key       *string         `json:"key"`
	Data      json.RawMessage `json:"data"`
	Version   int64           `json:"version"`
	FlowUUID  string          `json:"flowUuid"`
	ExpiresAt *time.Time      `json:"expiresAt"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// parseExportLine decodes and validates one export line against limits.
func parseExportLine(line []byte, limits store.Limits) (store.Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	var l exportLine
	if err := dec.Decode(&l); err != nil {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "not an exported entry: %v", err)
	}
	if dec.More() {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "more than one JSON value on the line")
	}
	if l.Name == nil || l.Key == nil || l.Data == nil {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "an entry needs name, key and data")
	}
	if err := limits.ValidateNameKey(*l.Name, *l.Key); err != nil {
		return store.Entry{}, err
	}
	data, err := limits.PrepareData(l.Data)
	if err != nil {
		return store.Entry{}, err
	}
	if l.Version < 0 {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "version must not be negative")
	}
	return store.Entry{
		Name: *l.Name, Key: *l.Key, Data: data, Version: l.Version, FlowUUID: l.FlowUUID,
		ExpiresAt: l.ExpiresAt, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
	}, nil
}

func runImport(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := newFlags("import")
	cfg.StoreFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return store.Errorf(store.CodeInvalidArgument, "import takes at most one argument (a file; default stdin)")
	}
	in := stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return store.Errorf(store.CodeInvalidArgument, "open %s: %v", pos[0], err)
		}
		defer f.Close()
		in = f
	}

	// Pass 1: validate every line before writing anything, keeping the
	// valid lines in a spool file (stdin cannot be read twice).
	spool, err := os.CreateTemp("", "flowkv-import-*.jsonl")
	if err != nil {
		return fmt.Errorf("import: spool file: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	count, err := validateImport(in, spool, cfg.Limits.Normalize())
	if err != nil {
		return err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import: spool file: %w", err)
	}

	// Pass 2: write.
	return withStore(ctx, cfg, func(st store.Store) error {
		imp, exact := st.(store.Importer)
		if !exact {
			fmt.Fprintln(stderr, "warning: this backend cannot restore versions and timestamps; entries are written as new ones")
		}
		r := bufio.NewReaderSize(spool, 64<<10)
		limits := st.Limits()
		written, skipped := 0, 0
		for {
			line, rerr := r.ReadBytes('\n')
			if len(line) > 0 {
				ok := true
				e, err := parseExportLine(line, limits)
				if err == nil {
					if exact {
						_, err = imp.Import(ctx, e)
					} else {
						ok, err = importPlain(ctx, st, e)
					}
				}
				if err != nil {
					return importErr(fmt.Sprintf("entry %s/%s (%d of %d written before it)", e.Name, e.Key, written, count), err)
				}
				if ok {
					written++
				} else {
					skipped++
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("import: spool file: %w", rerr)
			}
		}
		if skipped > 0 {
			fmt.Fprintf(stderr, "%d expired entries were skipped\n", skipped)
		}
		return printJSON(stdout, map[string]int{"imported": written})
	})
}

// validateImport reads JSONL from in, validates every line (a second entry
// for the same name and key is refused too) and copies the valid lines,
// compacted, to spool. It returns the number of entries.
func validateImport(in io.Reader, spool io.Writer, limits store.Limits) (int, error) {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(spool, 64<<10)
	seen := map[[2]string]int{}
	count := 0
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return 0, store.Errorf(store.CodeInvalidArgument, "import: reading line %d: %v", lineNo, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, err := parseExportLine(line, limits)
			if err != nil {
				return 0, importErr(fmt.Sprintf("line %d", lineNo), err)
			}
			addr := [2]string{e.Name, e.Key}
			if first, dup := seen[addr]; dup {
				return 0, store.Errorf(store.CodeInvalidArgument, "import: line %d: %s/%s is already on line %d; nothing was written", lineNo, e.Name, e.Key, first)
			}
			seen[addr] = lineNo
			var buf bytes.Buffer
			if err := json.Compact(&buf, line); err != nil {
				return 0, importErr(fmt.Sprintf("line %d", lineNo), err)
			}
			buf.WriteByte('\n')
			if _, err := w.Write(buf.Bytes()); err != nil {
				return 0, fmt.Errorf("import: spool file: %w", err)
			}
			count++
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("import: spool file: %w", err)
	}
	return count, nil
}

// importErr prefixes err with where the import failed, keeping its code.
func importErr(where string, err error) error {
	var e *store.Error
	if errors.As(err, &e) {
		return store.Errorf(e.Code, "import: %s: %s", where, e.Msg)
	}
	return fmt.Errorf("import: %s: %w", where, err)
}

// importPlain writes e with Upsert on a backend without store.Importer:
// the remaining TTL is kept, version and timestamps are new. An entry that
// has already expired is skipped (false).
func importPlain(ctx context.Context, st store.Store, e store.Entry) (bool, error) {
	var ttl time.Duration
	if e.ExpiresAt != nil {
		ttl = time.Until(*e.ExpiresAt)
		if ttl <= 0 {
			return false, nil
		}
	}
	_, err := st.Upsert(ctx, e.Name, e.Key, e.Data, store.WriteOptions{TTL: ttl, FlowUUID: e.FlowUUID})
	return true, err
}
