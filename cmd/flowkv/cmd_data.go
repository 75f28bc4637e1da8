package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
		fmt.Fprintf(stderr, "exported %d %s\n", n, plural(n, "entry", "entries"))
		return nil
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
	lines, err := validateImport(in, spool, cfg.Limits.Normalize())
	if err != nil {
		return err
	}
	// Writing in version order lets a fresh database keep every exported
	// version exactly (a backend issues a fresh, higher version for an
	// imported one at or below a version it has already issued).
	slices.SortStableFunc(lines, func(a, b spooled) int { return cmp.Compare(a.version, b.version) })

	// Pass 2: write.
	return withStore(ctx, cfg, func(st store.Store) error {
		written, skipped, err := importSpooled(ctx, st, spool, lines)
		if err != nil {
			return err
		}
		if skipped > 0 {
			fmt.Fprintf(stderr, "%d expired %s skipped\n", skipped, plural(skipped, "entry was", "entries were"))
		}
		return printJSON(stdout, map[string]int{"imported": written})
	})
}

// importSpooled writes the validated lines to st in order: through
// store.Importer when st has it, else with Upsert (importPlain). It returns
// how many entries it wrote and how many it skipped as expired.
func importSpooled(ctx context.Context, st store.Store, spool io.ReaderAt, lines []spooled) (written, skipped int, err error) {
	imp, exact := st.(store.Importer)
	if !exact {
		fmt.Fprintln(stderr, "warning: this backend cannot restore versions and timestamps; entries are written as new ones")
	}
	limits := st.Limits()
	var buf []byte
	for _, l := range lines {
		buf = slices.Grow(buf[:0], l.n)[:l.n]
		if _, err := spool.ReadAt(buf, l.off); err != nil {
			return written, skipped, fmt.Errorf("import: spool file: %w", err)
		}
		ok := true
		e, err := parseExportLine(buf, limits)
		if err == nil {
			if exact {
				_, err = imp.Import(ctx, e)
			} else {
				ok, err = importPlain(ctx, st, e)
			}
		}
		if err != nil {
			return written, skipped, importErr(fmt.Sprintf("line %d, %s/%s (%d of %d entries written before it)", l.lineNo, e.Name, e.Key, written, len(lines)), err)
		}
		if ok {
			written++
		} else {
			skipped++
		}
	}
	return written, skipped, nil
}

// spooled locates one validated line in the spool file.
type spooled struct {
	version int64
	off     int64
	n       int
	lineNo  int
}

// validateImport reads JSONL from in, validates every line (a second entry
// for the same name and key is refused too) and copies the valid lines,
// compacted, to spool, returning where each is.
func validateImport(in io.Reader, spool io.Writer, limits store.Limits) ([]spooled, error) {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(spool, 64<<10)
	seen := map[[2]string]int{}
	var lines []spooled
	var off int64
	var buf bytes.Buffer
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, store.Errorf(store.CodeInvalidArgument, "reading line %d: %v", lineNo, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, err := parseExportLine(line, limits)
			if err != nil {
				return nil, importErr(fmt.Sprintf("line %d (nothing was written)", lineNo), err)
			}
			addr := [2]string{e.Name, e.Key}
			if first, dup := seen[addr]; dup {
				return nil, store.Errorf(store.CodeInvalidArgument, "line %d: %s/%s is already on line %d; nothing was written", lineNo, e.Name, e.Key, first)
			}
			seen[addr] = lineNo
			buf.Reset()
			if err := json.Compact(&buf, line); err != nil {
				return nil, importErr(fmt.Sprintf("line %d (nothing was written)", lineNo), err)
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return nil, fmt.Errorf("import: spool file: %w", err)
			}
			lines = append(lines, spooled{version: e.Version, off: off, n: buf.Len(), lineNo: lineNo})
			off += int64(buf.Len())
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("import: spool file: %w", err)
	}
	return lines, nil
}

// importErr prefixes err with where the import failed, keeping its code.
func importErr(where string, err error) error {
	var e *store.Error
	if errors.As(err, &e) {
		return store.Errorf(e.Code, "%s: %s", where, e.Msg)
	}
	return fmt.Errorf("%s: %w", where, err)
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
