package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/internal/backend"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dump"
)

func newMigrateCmd() *cobra.Command {
	c, cfg := dataLeaf("migrate [flags]", "bring the configured database's schema up to date")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("migrate", pos, 0, "only flags"); err != nil {
			return err
		}
		if err := backend.Migrate(ctx, *cfg); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	})
	return c
}

func newExportCmd() *cobra.Command {
	c, cfg := dataLeaf("export [flags]", "write all entries (or one namespace's) as JSONL to stdout")
	name := c.Flags().String("name", "", "export only this namespace (default: every namespace except flowkv's reserved _flowkv.*)")
	c.RunE = runE(func(ctx context.Context, pos []string) error { return runExport(ctx, *cfg, pos, *name) })
	return c
}

func runExport(ctx context.Context, cfg config.Config, pos []string, name string) error {
	if err := wantArgs("export", pos, 0, "only flags"); err != nil {
		return err
	}
	var names []string
	if name != "" {
		if err := cfg.Limits.Normalize().ValidateName(name); err != nil {
			return err
		}
		names = []string{name}
	}
	return withStore(ctx, cfg, func(st store.Store) error {
		w := dump.NewWriter(stdout)
		if err := dump.Export(ctx, st, w, names...); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		fmt.Fprintf(stderr, "exported %d %s\n", w.Count(), plural(w.Count(), "entry", "entries"))
		return nil
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newImportCmd() *cobra.Command {
	c, cfg := dataLeaf("import [FILE] [flags]", "restore entries from an export (JSONL on stdin or a file)")
	fileArgs(c)
	dryRun := c.Flags().Bool("dry-run", false, "report what the import would create, change and leave alone, writing nothing")
	c.RunE = runE(func(ctx context.Context, pos []string) error { return runImport(ctx, *cfg, pos, *dryRun) })
	return c
}

func runImport(ctx context.Context, cfg config.Config, pos []string, dryRun bool) error {
	if len(pos) > 1 {
		return store.Errorf(store.CodeInvalidArgument, "import takes at most one argument (a file; default stdin)")
	}
	// The whole file is validated before anything is written, so it is read
	// twice: a file argument directly, stdin through a spool file.
	var src *os.File
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return store.Errorf(store.CodeInvalidArgument, "open %s: %v", pos[0], err)
		}
		defer f.Close()
		src = f
	} else {
		spool, err := os.CreateTemp("", "flowkv-import-*.jsonl")
		if err != nil {
			return fmt.Errorf("import: spool file: %w", err)
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		if _, err := io.Copy(spool, stdin); err != nil {
			return store.Errorf(store.CodeInvalidArgument, "reading stdin: %v", err)
		}
		src = spool
	}
	info, err := src.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return withStore(ctx, cfg, func(st store.Store) error {
		// The CLI holds the database itself: it restores flowUuids as an
		// admin would (docs/design.md, Access).
		o := dump.Options{Limits: st.Limits(), KeepFlowUUID: true}
		if dryRun {
			sum, err := dump.DryRun(ctx, st, io.NewSectionReader(src, 0, info.Size()), o)
			if err != nil {
				return err
			}
			out := map[string]any{"new": sum.New, "changed": sum.Changed, "unchanged": sum.Unchanged, "expired": sum.Expired, "invalid": sum.Invalid}
			if sum.Indexes > 0 {
				out["indexes"] = sum.Indexes
			}
			if len(sum.Problems) > 0 {
				msgs := make([]string, len(sum.Problems))
				for i, p := range sum.Problems {
					msgs[i] = p.Message()
				}
				out["problems"] = msgs
			}
			if err := printJSON(stdout, out); err != nil {
				return err
			}
			if sum.Invalid > 0 {
				first := sum.Problems[0]
				return store.Errorf(store.CodeOf(first.Err), "%d invalid %s, the first: %s", sum.Invalid, plural(sum.Invalid, "line", "lines"), first.Message())
			}
			return nil
		}
		if _, exact := st.(store.Importer); !exact {
			fmt.Fprintln(stderr, "warning: this backend cannot restore versions and timestamps; entries are written as new ones")
		}
		sum, err := dump.Apply(ctx, st, src, info.Size(), o)
		if err != nil {
			return err
		}
		if sum.Unchanged > 0 {
			fmt.Fprintf(stderr, "%d unchanged %s skipped\n", sum.Unchanged, plural(sum.Unchanged, "entry was", "entries were"))
		}
		if sum.Expired > 0 {
			fmt.Fprintf(stderr, "%d expired %s skipped\n", sum.Expired, plural(sum.Expired, "entry was", "entries were"))
		}
		out := map[string]int{"imported": sum.Written}
		if sum.Indexes > 0 {
			out["indexes"] = sum.Indexes
		}
		return printJSON(stdout, out)
	})
}
