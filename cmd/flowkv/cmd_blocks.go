package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all" // register the built-in blocks
	"github.com/flowkv/flowkv/store"
)

func newBlocksCmd() *cobra.Command {
	c := leaf("blocks [TYPE]... [flags]", "list every block type a flow can use, with its fields (--json for the specs)")
	asJSON := c.Flags().Bool("json", false, "print the block specs as JSON (what the web editor renders)")
	c.RunE = runE(func(_ context.Context, pos []string) error { return printBlocks(pos, *asJSON) })
	return c
}

func printBlocks(pos []string, asJSON bool) error {
	specs := blocks.Specs()
	if len(pos) > 0 {
		var picked []blocks.Spec
		for _, want := range pos {
			spec, _, ok := blocks.Lookup(want)
			if !ok {
				return store.Errorf(store.CodeNotFound, "no block type %q", want)
			}
			picked = append(picked, spec)
		}
		specs = picked
	}
	if asJSON {
		b, err := json.MarshalIndent(map[string]any{"common": blocks.CommonFields, "blocks": specs}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	fmt.Fprintln(stdout, "Every block has these fields:")
	writeBlockFields(stdout, blocks.CommonFields)
	for _, s := range specs {
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "%s (type: %s)\n", s.Label, s.Type)
		fmt.Fprintf(stdout, "  %s\n", s.Description)
		if s.Output != "" {
			fmt.Fprintf(stdout, "  Output: %s\n", s.Output)
		}
		writeBlockFields(stdout, s.Fields)
	}
	return nil
}

func writeBlockFields(w io.Writer, fields []blocks.Field) {
	for _, f := range fields {
		var tags []string
		tags = append(tags, string(f.Type))
		if f.Required {
			tags = append(tags, "required")
		}
		if len(f.RequiredWhen) > 0 {
			tags = append(tags, "required when "+blockConditionsText(f.RequiredWhen))
		}
		if f.Default != nil {
			d, _ := json.Marshal(f.Default)
			tags = append(tags, "default "+string(d))
		}
		fmt.Fprintf(w, "  %-13s %s — %s\n", f.Name, f.Label, strings.Join(tags, ", "))
		if f.Help != "" {
			fmt.Fprintf(w, "      %s\n", f.Help)
		}
		if len(f.Options) > 0 {
			for _, o := range f.Options {
				line := fmt.Sprintf("      %-17s %s", o.Value, o.Label)
				if o.Help != "" {
					line += ": " + o.Help
				}
				fmt.Fprintln(w, line)
			}
		}
		if len(f.ShowWhen) > 0 {
			fmt.Fprintf(w, "      shown when %s\n", blockConditionsText(f.ShowWhen))
		}
	}
}

func blockConditionsText(cs []blocks.Condition) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Field + " is " + strings.Join(c.In, "|")
	}
	return strings.Join(parts, " and ")
}
