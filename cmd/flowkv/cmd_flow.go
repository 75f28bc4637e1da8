package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all" // register the built-in blocks
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

func newFlowCmd() *cobra.Command {
	c := group("flow SUBCOMMAND", "store, list and run flows: put, list, get, rename, delete, run, runs",
		flowPutCmd(), flowListCmd(), flowGetCmd(), flowRenameCmd(), flowDeleteCmd(), flowRunCmd(), flowRunsCmd())
	c.Long = `store, list and run flows

The flow format, blocks and expressions: docs/flows.md; ` + "`flowkv blocks`" + ` lists every
block and its fields. Every subcommand takes the backend flags (--dsn, env DATA_STORE_DSN).`
	return c
}

// withFlowEngine opens the store and runs fn with a flow engine over it.
func withFlowEngine(ctx context.Context, cfg config.Config, fn func(*blocks.Engine) error) error {
	scriptEngine() // the JavaScript block runs in this process's sandbox
	return withStore(ctx, cfg, func(st store.Store) error {
		return fn(blocks.NewEngine(st, blocks.Options{}))
	})
}

// readFlowDocument reads a flow file, or stdin for "-".
func readFlowDocument(path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, blocks.MaxFlowBytes+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "read flow %s: %v", path, err)
	}
	return b, nil
}

func printFlowJSON(v any, indent bool) error {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

func flowPositional(pos []string, what string) (string, error) {
	if len(pos) != 1 {
		return "", store.Errorf(store.CodeInvalidArgument, "want exactly one argument: %s", what)
	}
	return pos[0], nil
}

func flowPutCmd() *cobra.Command {
	c, cfg := dataLeaf("put FILE [flags]", "validate and store a flow (YAML or JSON; - reads stdin); prints {id, uuid, version}")
	fileArgs(c)
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		path, err := flowPositional(pos, "FILE")
		if err != nil {
			return err
		}
		src, err := readFlowDocument(path)
		if err != nil {
			return err
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			sf, err := e.PutFlow(ctx, src)
			if err != nil {
				return err
			}
			return printFlowJSON(map[string]any{"id": sf.Flow.ID, "uuid": sf.UUID, "version": sf.Version}, false)
		})
	})
	return c
}

// flowSummary is a line of `flow list`.
type flowSummary struct {
	ID         string   `json:"id"`
	UUID       string   `json:"uuid"`
	Trigger    string   `json:"trigger"`
	DataStores []string `json:"dataStores"`
	Blocks     []string `json:"blocks"`
	Version    int64    `json:"version"`
	UpdatedAt  string   `json:"updatedAt"`
}

func flowListCmd() *cobra.Command {
	c, cfg := dataLeaf("list [flags]", "stored flows (JSONL: id, uuid, trigger, dataStores, blocks, version, updatedAt)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) != 0 {
			return store.Errorf(store.CodeInvalidArgument, "flow list takes no arguments")
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			flows, err := e.ListFlows(ctx)
			if err != nil {
				return err
			}
			for _, sf := range flows {
				s := flowSummary{ID: sf.Flow.ID, UUID: sf.UUID, Trigger: flowTriggerText(sf.Flow.Trigger),
					DataStores: sf.Flow.DataStores, Blocks: []string{}, Version: sf.Version,
					UpdatedAt: sf.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")}
				if s.DataStores == nil {
					s.DataStores = []string{}
				}
				for _, b := range sf.Flow.Blocks {
					s.Blocks = append(s.Blocks, b.ID+":"+b.Type)
				}
				if err := printFlowJSON(s, false); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return c
}

func flowTriggerText(t blocks.Trigger) string {
	switch t.Type {
	case blocks.TriggerSchedule:
		if t.Cron != "" {
			return "schedule cron " + t.Cron
		}
		return "schedule every " + t.Every
	case "":
		return blocks.TriggerManual
	}
	return t.Type
}

func flowGetCmd() *cobra.Command {
	c, cfg := dataLeaf("get ID [flags]", "print a stored flow's document as it was put, without its webhook secret")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		id, err := flowPositional(pos, "ID")
		if err != nil {
			return err
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			sf, err := e.GetFlow(ctx, id)
			if err != nil {
				return err
			}
			src := sf.Source
			if !strings.HasSuffix(src, "\n") {
				src += "\n"
			}
			_, err = io.WriteString(stdout, src)
			return err
		})
	})
	return c
}

func flowRenameCmd() *cobra.Command {
	c, cfg := dataLeaf("rename ID NEW-ID [flags]", "rename a stored flow; it keeps its UUID and run history; prints {id, uuid, version}")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) != 2 {
			return store.Errorf(store.CodeInvalidArgument, "want ID NEW-ID")
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			sf, err := e.RenameFlow(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			return printFlowJSON(map[string]any{"id": sf.Flow.ID, "uuid": sf.UUID, "version": sf.Version}, false)
		})
	})
	return c
}

func flowDeleteCmd() *cobra.Command {
	c, cfg := dataLeaf("delete ID [flags]", `delete a stored flow; prints {"deleted":true|false}`)
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		id, err := flowPositional(pos, "ID")
		if err != nil {
			return err
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			ok, err := e.DeleteFlow(ctx, id)
			if err != nil {
				return err
			}
			return printFlowJSON(map[string]bool{"deleted": ok}, false)
		})
	})
	return c
}

func flowRunCmd() *cobra.Command {
	c, cfg := dataLeaf("run ID | --file FILE [flags]", "run a stored flow, or a flow file without storing it; prints the run as JSON, exits 1 when it fails")
	input := c.Flags().String("input", "", "the flow's input as JSON (- reads stdin); default null")
	file := c.Flags().String("file", "", "run this flow file (YAML or JSON) without storing it")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		var src []byte
		var id string
		switch {
		case *file != "" && len(pos) == 0:
			var err error
			if src, err = readFlowDocument(*file); err != nil {
				return err
			}
		case *file == "" && len(pos) == 1:
			id = pos[0]
		default:
			return store.Errorf(store.CodeInvalidArgument, "want a stored flow ID or --file FILE (not both)")
		}
		in := json.RawMessage(*input)
		if *input == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return store.Errorf(store.CodeInvalidArgument, "read input: %v", err)
			}
			in = b
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			var r *blocks.Run
			var err error
			if src != nil {
				r, err = e.RunDocument(ctx, src, blocks.RunRequest{Input: in})
			} else {
				r, err = e.RunFlow(ctx, id, blocks.RunRequest{Input: in})
			}
			if r != nil {
				if perr := printFlowJSON(r, true); perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				return err
			}
			if r.Status != blocks.StatusSucceeded {
				code, msg := store.CodeUnavailable, "the run failed"
				if r.Error != nil {
					code, msg = r.Error.Code, r.Error.Message
					if r.Error.Block != "" {
						msg = "block " + r.Error.Block + ": " + msg
					}
				}
				return store.Errorf(code, "run %s of %s failed: %s", r.ID, r.Flow, msg)
			}
			return nil
		})
	})
	return c
}

func flowRunsCmd() *cobra.Command {
	c, cfg := dataLeaf("runs ID [flags]", "recorded runs of a flow, newest first (JSONL; next cursor on stderr)")
	limit := c.Flags().Int("limit", 20, "runs per page")
	cursor := c.Flags().String("cursor", "", "continue after a previous page (its next cursor)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		id, err := flowPositional(pos, "FLOW")
		if err != nil {
			return err
		}
		return withFlowEngine(ctx, *cfg, func(e *blocks.Engine) error {
			p, err := e.Runs(ctx, id, *cursor, *limit)
			if err != nil {
				return err
			}
			for _, r := range p.Runs {
				if err := printFlowJSON(r, false); err != nil {
					return err
				}
			}
			if p.NextCursor != "" {
				fmt.Fprintln(stderr, "next cursor:", p.NextCursor)
			}
			return nil
		})
	})
	return c
}
