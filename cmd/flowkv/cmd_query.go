package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/store"
)

// whereSymbols are the operators a --where condition may be written with,
// longest first where one starts another.
var whereSymbols = []struct{ sym, op string }{
	{">=", "gte"}, {"<=", "lte"}, {"!=", "ne"}, {"^=", "startsWith"}, {"*=", "contains"},
	{"=", "eq"}, {"<", "lt"}, {">", "gt"},
}

// parseWhere reads one --where: FIELD SYMBOL VALUE (status=paid,
// total>=10, name^=A, tags*=red, status!=void) or FIELD OP VALUE with an
// operator word (status in ["paid","open"], email exists, email exists
// false). VALUE is JSON when it parses as JSON, else a string.
func parseWhere(s string) (store.Condition, error) {
	bad := func() (store.Condition, error) {
		return store.Condition{}, store.Errorf(store.CodeInvalidArgument,
			"--where %q: write FIELD=VALUE, FIELD>=VALUE (also != < <= > ^= startsWith *= contains) or 'FIELD OP VALUE' (OP eq, ne, lt, lte, gt, gte, in, contains, startsWith, exists)", s)
	}
	field, rest, ok := splitField(s)
	if !ok {
		return bad()
	}
	var op, val string
	for _, w := range whereSymbols {
		if strings.HasPrefix(strings.TrimLeft(rest, " "), w.sym) {
			op, val = w.op, strings.TrimSpace(strings.TrimLeft(rest, " ")[len(w.sym):])
			break
		}
	}
	if op == "" {
		word, v, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		for _, o := range store.Operators {
			if word == string(o) {
				op, val = word, v
			}
		}
		if op == "" || strings.TrimSpace(field) == "" {
			return bad()
		}
		if op == string(store.OpExists) && strings.TrimSpace(val) == "" {
			val = "true"
		}
	}
	field = strings.TrimSpace(field)
	if field == "" {
		return bad()
	}
	return store.Condition{Field: field, Op: store.Operator(op), Value: jsonOrString(val)}, nil
}

// splitField finds where the field ends: at the first operator symbol or
// space outside a bracketed part (["a=b"]).
func splitField(s string) (field, rest string, ok bool) {
	inBracket, inStr, esc := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case inBracket:
			if c == '"' {
				inStr = true
			} else if c == ']' {
				inBracket = false
			}
		case c == '[':
			inBracket = true
		case strings.IndexByte("=<>!^* ", c) >= 0:
			return s[:i], s[i:], i > 0
		}
	}
	return "", "", false
}

// jsonOrString is v as JSON when it is a JSON value, else as a string.
func jsonOrString(v string) json.RawMessage {
	t := strings.TrimSpace(v)
	if t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(v)
	return b
}

// parseOrder reads --order values: FIELD or -FIELD (descending), several
// separated by commas outside brackets.
func parseOrder(vals []string) []store.Order {
	var out []store.Order
	for _, v := range vals {
		for _, part := range splitCommas(v) {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			o := store.Order{Field: part}
			if f, ok := strings.CutPrefix(part, "-"); ok {
				o = store.Order{Field: f, Desc: true}
			} else if f, ok := strings.CutPrefix(part, "+"); ok {
				o.Field = f
			}
			out = append(out, o)
		}
	}
	return out
}

func splitCommas(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func storeQueryCmd() *cobra.Command {
	c, cfg := storeLeaf("query NAME [flags]", "search one namespace by fields of data (JSONL; next cursor and count on stderr)")
	fs := c.Flags()
	var where, order []string
	fs.StringArrayVar(&where, "where", nil, "a condition: status=paid, total>=10, 'tags contains red', 'email exists' (repeat for more)")
	anyOf := fs.Bool("any", false, "match entries meeting any condition (default: all)")
	fs.StringArrayVar(&order, "order", nil, "sort by a field, -field for largest first (repeat or separate by commas)")
	limit := fs.Int("limit", 0, "page size (default 100, at most 1000)")
	cursor := fs.String("cursor", "", "continue after a previous page (its next cursor)")
	count := fs.Bool("count", false, "print the number of matching entries on stderr")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if err := wantArgs("query", pos, 1, "NAME"); err != nil {
			return err
		}
		q := store.Query{Name: pos[0], OrderBy: parseOrder(order), Limit: *limit, Cursor: *cursor, Count: *count}
		if *anyOf {
			q.Match = store.MatchAny
		}
		for _, w := range where {
			c, err := parseWhere(w)
			if err != nil {
				return err
			}
			q.Where = append(q.Where, c)
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			p, err := st.Query(ctx, q)
			if err != nil {
				return err
			}
			if err := printPage(store.Page{Entries: p.Entries, NextCursor: p.NextCursor}); err != nil {
				return err
			}
			if p.Count != nil {
				fmt.Fprintf(stderr, "count: %d\n", *p.Count)
			}
			return nil
		})
	})
	return c
}

func newIndexCmd() *cobra.Command {
	return group("index SUBCOMMAND", "declared indexes for search by field: create, delete, list",
		indexCmd("create", "declare an index on FIELD (a path into data: status, customer.email) and build it for the existing entries; queries on FIELD use it"),
		indexCmd("delete", `remove an index (queries keep their answers, read without it); prints {"deleted":true|false}`),
		indexCmd("list", "the declared indexes, of NAME or of every namespace (JSONL)"),
	)
}

func indexCmd(sub, short string) *cobra.Command {
	use := sub + " NAME FIELD [flags]"
	if sub == "list" {
		use = "list [NAME] [flags]"
	}
	c, cfg := storeLeaf(use, short)
	c.Long = short
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if sub == "list" {
			if len(pos) > 1 {
				return store.Errorf(store.CodeInvalidArgument, "index list takes at most NAME, got %d arguments", len(pos))
			}
			name := ""
			if len(pos) == 1 {
				name = pos[0]
			}
			return withStore(ctx, *cfg, func(st store.Store) error {
				ixs, err := st.Indexes(ctx, name)
				if err != nil {
					return err
				}
				for _, ix := range ixs {
					if err := printJSON(stdout, ix); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if len(pos) != 2 {
			return store.Errorf(store.CodeInvalidArgument, "index %s takes NAME FIELD, got %d arguments", sub, len(pos))
		}
		return withStore(ctx, *cfg, func(st store.Store) error {
			if sub == "delete" {
				ok, err := st.DropIndex(ctx, pos[0], pos[1])
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]bool{"deleted": ok})
			}
			ix, err := st.CreateIndex(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			return printJSON(stdout, ix)
		})
	})
	return c
}
