package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/scripting"
	"github.com/flowkv/flowkv/store"
)

func newScriptCmd() *cobra.Command {
	return group("script SUBCOMMAND", "stored JavaScript: put, run, get, list, delete",
		fileArgs(scriptCmd("put NAME FILE.js [flags]", "save a script (FILE - reads stdin); syntax is checked", 2, func(ctx context.Context, st store.Store, pos []string) error {
			src, err := readSource(pos[1])
			if err != nil {
				return err
			}
			sc, err := scriptEngine().PutScript(ctx, st, pos[0], src)
			if err != nil {
				return err
			}
			return scriptJSON(map[string]any{"name": sc.Name, "version": sc.Version, "updatedAt": sc.UpdatedAt})
		})),
		scriptCmd("get NAME [flags]", "print a saved script's source", 1, func(ctx context.Context, st store.Store, pos []string) error {
			sc, err := scripting.GetScript(ctx, st, pos[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(stdout, sc.Source)
			if err == nil && !strings.HasSuffix(sc.Source, "\n") {
				_, err = io.WriteString(stdout, "\n")
			}
			return err
		}),
		scriptCmd("list [flags]", "saved scripts (JSONL: name, version, updatedAt)", 0, func(ctx context.Context, st store.Store, _ []string) error {
			cursor := ""
			for {
				list, next, err := scripting.ListScripts(ctx, st, cursor, 0)
				if err != nil {
					return err
				}
				for _, sc := range list {
					if err := scriptJSON(map[string]any{"name": sc.Name, "version": sc.Version, "updatedAt": sc.UpdatedAt}); err != nil {
						return err
					}
				}
				if next == "" {
					return nil
				}
				cursor = next
			}
		}),
		scriptCmd("delete NAME [flags]", "delete a saved script", 1, func(ctx context.Context, st store.Store, pos []string) error {
			ok, err := scripting.DeleteScript(ctx, st, pos[0])
			if err != nil {
				return err
			}
			if !ok {
				return store.Errorf(store.CodeNotFound, "no script named %q", pos[0])
			}
			return scriptJSON(map[string]bool{"deleted": true})
		}),
		scriptRunCmd(),
	)
}

// scriptCmd returns a `flowkv script SUB` command taking n arguments that
// runs fn on the opened store.
func scriptCmd(use, short string, n int, fn func(context.Context, store.Store, []string) error) *cobra.Command {
	c, cfg := dataLeaf(use, short)
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) != n {
			return store.Errorf(store.CodeInvalidArgument, "script %s takes %d argument(s), got %d (see flowkv script %[1]s -h)", c.Name(), n, len(pos))
		}
		return withStore(ctx, *cfg, func(st store.Store) error { return fn(ctx, st, pos) })
	})
	return c
}

func scriptRunCmd() *cobra.Command {
	c, cfg := dataLeaf("run NAME | --file FILE.js [flags]", "run a saved script, or a file, and print its result as JSON")
	fs := c.Flags()
	var grants []string
	file := fs.String("file", "", "run this JavaScript file instead of a saved script")
	input := fs.String("input", "", "the script's input as JSON (- reads stdin; default null)")
	timeout := fs.Duration("timeout", scripting.DefaultTimeout, "time limit of the run")
	logs := fs.Bool("logs", false, "print the script's console lines to stderr")
	fs.StringArrayVar(&grants, "grant", nil, "namespace the script may use (repeatable; NS, NS:read, NS:write, *); default all")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		return runScriptRun(ctx, *cfg, pos, *file, *input, grants, *timeout, *logs)
	})
	return c
}

func runScriptRun(ctx context.Context, cfg config.Config, pos []string, file, input string, grants []string, timeout time.Duration, logs bool) error {
	if (file == "") == (len(pos) == 0) || len(pos) > 1 {
		return store.Errorf(store.CodeInvalidArgument, "script run takes a saved script's NAME or --file FILE.js (not both)")
	}
	var src, name string
	if file != "" {
		var err error
		if src, err = readSource(file); err != nil {
			return err
		}
		name = file
	}
	var in json.RawMessage
	if input != "" {
		raw := []byte(input)
		if input == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
			if err != nil {
				return store.Errorf(store.CodeInvalidArgument, "read input: %v", err)
			}
			raw = b
		}
		if !json.Valid(raw) {
			return store.Errorf(store.CodeInvalidArgument, "--input is not valid JSON")
		}
		in = raw
	}
	g := store.AllGrants()
	if len(grants) > 0 {
		var err error
		if g, err = store.ParseGrants(grants); err != nil {
			return err
		}
	}
	if timeout <= 0 {
		return store.Errorf(store.CodeInvalidArgument, "--timeout must be positive")
	}
	eng := scriptEngine()
	return withStore(ctx, cfg, func(st store.Store) error {
		if src == "" {
			sc, err := scripting.GetScript(ctx, st, pos[0])
			if err != nil {
				return err
			}
			src, name = sc.Source, sc.Name
		}
		res, err := eng.Run(ctx, scripting.Run{Source: src, Name: name, Input: in, Store: st, Grants: g, Timeout: timeout})
		if logs {
			for _, l := range res.Logs {
				fmt.Fprintf(stderr, "%s: %s\n", l.Level, l.Message)
			}
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", res.Value)
		return err
	})
}

// readSource reads a script file, or stdin for "-".
func readSource(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, scripting.DefaultMaxSourceBytes+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", store.Errorf(store.CodeInvalidArgument, "read %s: %v", path, err)
	}
	if len(b) > scripting.DefaultMaxSourceBytes {
		return "", store.Errorf(store.CodeTooLarge, "%s is larger than %d bytes", path, scripting.DefaultMaxSourceBytes)
	}
	return string(b), nil
}

func scriptJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
