package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/scripting"
	"github.com/flowkv/flowkv/store"
)

func init() {
	register(command{
		name:    "script",
		summary: "stored JavaScript: script put NAME FILE.js, script run NAME|--file FILE.js [--input JSON] [--grant NS]…, get, list, delete",
		run:     runScript,
	})
}

// scriptGrants collects repeated --grant flags.
type scriptGrants []string

func (g *scriptGrants) String() string     { return strings.Join(*g, ",") }
func (g *scriptGrants) Set(v string) error { *g = append(*g, v); return nil }

const scriptUsage = `usage:
  flowkv script put NAME FILE.js          save a script (FILE - reads stdin); syntax is checked
  flowkv script run NAME [flags]          run a saved script, print its result as JSON
  flowkv script run --file FILE.js [flags]
  flowkv script get NAME                  print a saved script's source
  flowkv script list                      saved scripts (JSONL: name, version, updatedAt)
  flowkv script delete NAME               delete a saved script

run flags:
  --input JSON     the script's input (- reads stdin; default null)
  --grant NS       namespaces the script may use, repeatable (NS, NS:read, NS:write, *);
                   default: all namespaces
  --timeout 5s     time limit
  --logs           print the script's console lines to stderr
plus the backend flags (--dsn sqlite:PATH | postgres://…, env DATA_STORE_DSN).`

func runScript(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := newFlags("script")
	cfg.StoreFlags(fs)
	var grants scriptGrants
	file := fs.String("file", "", "run this JavaScript file instead of a saved script")
	input := fs.String("input", "", "the script's input as JSON (- reads stdin)")
	timeout := fs.Duration("timeout", scripting.DefaultTimeout, "time limit of the run")
	logs := fs.Bool("logs", false, "print console lines to stderr")
	fs.Var(&grants, "grant", "namespace the script may use (repeatable; NS, NS:read, NS:write, *); default all")
	fs.Usage = func() { fmt.Fprintln(stderr, scriptUsage) }
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, scriptUsage)
		return store.Errorf(store.CodeInvalidArgument, "missing subcommand (put, run, get, list, delete)")
	}
	sub, pos := pos[0], pos[1:]
	want := map[string]int{"put": 2, "get": 1, "list": 0, "delete": 1}
	if n, ok := want[sub]; ok && len(pos) != n {
		return store.Errorf(store.CodeInvalidArgument, "script %s takes %d argument(s), got %d (see flowkv script -h)", sub, n, len(pos))
	}
	switch sub {
	case "put":
		src, err := readSource(pos[1])
		if err != nil {
			return err
		}
		return withStore(ctx, cfg, func(st store.Store) error {
			sc, err := scriptEngine().PutScript(ctx, st, pos[0], src)
			if err != nil {
				return err
			}
			return scriptJSON(map[string]any{"name": sc.Name, "version": sc.Version, "updatedAt": sc.UpdatedAt})
		})
	case "get":
		return withStore(ctx, cfg, func(st store.Store) error {
			sc, err := scripting.GetScript(ctx, st, pos[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(stdout, sc.Source)
			if err == nil && !strings.HasSuffix(sc.Source, "\n") {
				_, err = io.WriteString(stdout, "\n")
			}
			return err
		})
	case "list":
		return withStore(ctx, cfg, func(st store.Store) error {
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
		})
	case "delete":
		return withStore(ctx, cfg, func(st store.Store) error {
			ok, err := scripting.DeleteScript(ctx, st, pos[0])
			if err != nil {
				return err
			}
			if !ok {
				return store.Errorf(store.CodeNotFound, "no script named %q", pos[0])
			}
			return scriptJSON(map[string]bool{"deleted": true})
		})
	case "run":
		return runScriptRun(ctx, cfg, pos, *file, *input, grants, *timeout, *logs)
	}
	return store.Errorf(store.CodeInvalidArgument, "unknown subcommand %q (put, run, get, list, delete)", sub)
}

func runScriptRun(ctx context.Context, cfg config.Config, pos []string, file, input string, grants scriptGrants, timeout time.Duration, logs bool) error {
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
