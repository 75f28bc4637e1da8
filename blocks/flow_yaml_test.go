package blocks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

// FourMistakes is a flow document with four mistakes, on lines 3, 6, 10
// and 12: two typos of a flow and a trigger field, an unknown operation
// and an unquoted expression (the web and CLI tests read it too).
var FourMistakes = func() string {
	b, err := os.ReadFile("testdata/four-mistakes.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// problemsOf parses and validates src and returns its problems.
func problemsOf(t *testing.T, src string) []blocks.Problem {
	t.Helper()
	f, err := blocks.ParseFlow([]byte(src))
	if err == nil {
		err = blocks.Validate(f)
	}
	var ve *blocks.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *ValidationError, got %v", err)
	}
	if store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("code %s, want invalid_argument", store.CodeOf(err))
	}
	return ve.Problems
}

func TestFlowDocumentProblemsHaveTheirPlace(t *testing.T) {
	ps := problemsOf(t, FourMistakes)
	want := []struct {
		line, col    int
		field, inMsg string
	}{
		{3, 1, "timout", `did you mean "timeout"`},
		{6, 3, "trigger.secrt", `did you mean "secret"`},
		{10, 5, "operation", `unknown value "upsertt"`},
		{12, 10, "key", `quote the expression: key: "{{ input.id }}"`},
	}
	if len(ps) != len(want) {
		t.Fatalf("%d problems, want %d: %+v", len(ps), len(want), ps)
	}
	for i, w := range want {
		p := ps[i]
		if p.Line != w.line || p.Column != w.col || p.Field != w.field || !strings.Contains(p.Message, w.inMsg) {
			t.Errorf("problem %d: %+v, want line %d:%d field %s with %q", i, p, w.line, w.col, w.field, w.inMsg)
		}
	}
	// The error's text names each place too (the CLI prints it).
	_, err := blocks.ParseFlow([]byte(FourMistakes))
	for _, at := range []string{"line 3:1", "line 6:3", "line 10:5", "line 12:10"} {
		if !strings.Contains(err.Error(), at) {
			t.Errorf("error lacks %s: %v", at, err)
		}
	}
}

func TestFlowDocumentProblemCases(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line, col int
		inMsg     string
	}{
		{"top-level typo", "id: a\ndataStore: [orders]\nblocks:\n  - {id: x, type: javascript, code: return 1}\n", 2, 1, `unknown flow field "dataStore" — did you mean "dataStores"?`},
		{"block field typo", "id: a\ndataStores: [o]\nblocks:\n  - id: x\n    type: dataStore\n    operation: findNameKey\n    name: o\n    key: k\n    onErorr: continue\n", 9, 5, `did you mean "onError"?`},
		{"type typo", "id: a\nblocks:\n  - id: x\n    tpye: javascript\n", 3, 5, `is "tpye" a typo of type?`},
		{"bad indent on line 6", "id: x\ndataStores: [o]\nblocks:\n  - id: a\n    type: dataStore\n   name: o\n    key: k\n", 6, 4, "check this line's indentation"},
		{"deeper indent on line 6", "id: x\ndataStores: [o]\nblocks:\n  - id: a\n    type: dataStore\n      name: o\n    key: k\n", 6, 7, "indentation"},
		{"empty", "", 0, 0, "the flow document is empty"},
		{"blank", " \n\n", 0, 0, "the flow document is empty"},
		{"only comments", "# a flow\n", 0, 0, "empty"},
		{"a list", "- id: x\n", 1, 1, "a flow must be a mapping"},
		{"two documents", "id: a\n---\nid: b\n", 2, 1, "more than one YAML document"},
		{"JSON syntax", "{\"id\": \"a\",\n \"blocks\": [}\n", 2, 13, "not valid JSON"},
		{"JSON typo", "{\"id\": \"a\",\n \"timeot\": \"5s\", \"blocks\": [{\"id\": \"x\", \"type\": \"javascript\", \"code\": \"return 1\"}]}", 2, 2, `did you mean "timeout"`},
		{"unquoted data template", "id: a\ndataStores: [o]\nblocks:\n  - id: x\n    type: dataStore\n    name: o\n    key: k\n    data: {{ input }}\n", 8, 11, `quote the expression: data: "{{ input }}"`},
		{"dataStores not a list", "id: a\ndataStores: orders\nblocks:\n  - {id: x, type: javascript, code: return 1}\n", 2, 13, "want a list of namespaces"},
		{"infinite number", "id: a\ndataStores: [o]\nblocks:\n  - {id: x, type: dataStore, operation: fetch, name: o, limit: .inf}\n", 4, 64, "not a JSON number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := problemsOf(t, c.src)
			for _, p := range ps {
				if strings.Contains(p.Message, c.inMsg) {
					if p.Line != c.line || p.Column != c.col {
						t.Errorf("%q at %d:%d, want %d:%d", p.Message, p.Line, p.Column, c.line, c.col)
					}
					return
				}
			}
			t.Errorf("no problem with %q: %+v", c.inMsg, ps)
		})
	}
}

// Attacks on the parser: a "billion laughs" alias bomb and a document
// nested 10,000 deep are refused with a clear error instead of expanding
// or recursing (the web tests check the server keeps serving meanwhile).
func TestFlowDocumentBombs(t *testing.T) {
	for _, c := range []struct{ name, src, inMsg string }{
		{"billion laughs", BillionLaughs(), "expands to more than"},
		{"10k-deep brackets", "id: x\nblocks: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", "nested deeper than"},
		{"10k-deep mappings", "id: x\nblocks: " + strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000) + "\n", "nested deeper than"},
		{"self-referencing alias", "id: x\ndataStores: [o]\nblocks:\n  - id: a\n    type: dataStore\n    name: o\n    key: k\n    data: &r [*r]\n", "nested deeper than"},
		{"deep indentation", DeepIndentation(300), "nested deeper than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := blocks.ParseFlow([]byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.inMsg) || store.CodeOf(err) != store.CodeInvalidArgument {
				t.Fatalf("want invalid_argument with %q, got %.300v", c.inMsg, err)
			}
		})
	}
}

// BillionLaughs is a flow whose block data is 9^9 strings by aliases.
func BillionLaughs() string {
	var b strings.Builder
	b.WriteString("id: bomb\ndataStores: [o]\nlol:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "  %s: &%s [%s]\n", n, n, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", "))
		prev = n
	}
	b.WriteString("blocks:\n  - id: x\n    type: dataStore\n    name: o\n    key: k\n    data: *i\n")
	return b.String()
}

// DeepIndentation is a flow whose data nests n mappings by indentation.
func DeepIndentation(n int) string {
	var b strings.Builder
	b.WriteString("id: deep\ndataStores: [o]\nblocks:\n  - id: x\n    type: dataStore\n    name: o\n    key: k\n    data:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%sa:\n", strings.Repeat(" ", 6+i))
	}
	return b.String()
}

// FuzzParseFlowProblems: any document is accepted or refused with invalid_argument
// (every problem placed inside the document); parsing never panics.
func FuzzParseFlowProblems(f *testing.F) {
	for _, s := range []string{FourMistakes, BillionLaughs(), "id: a\nblocks:\n  - {id: x, type: javascript, code: return 1}\n",
		"{\"id\": \"a\"}", "a: &a [*a]", "<<: {id: a}", "key: {{ x }}", "- [", "id: !!binary aGk=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, err := blocks.ParseFlow([]byte(src))
		if err == nil {
			return
		}
		if c := store.CodeOf(err); c != store.CodeInvalidArgument && c != store.CodeTooLarge {
			t.Fatalf("code %s: %v", c, err)
		}
		var ve *blocks.ValidationError
		if errors.As(err, &ve) {
			lines := strings.Count(src, "\n") + 1
			for _, p := range ve.Problems {
				if p.Line < 0 || p.Line > lines {
					t.Fatalf("problem at line %d of %d: %+v", p.Line, lines, p)
				}
			}
		}
	})
}

// A key expression that evaluates to null fails the block naming the
// expression and the path that was missing, not just "required".
func TestNullKeyNamesTheMissingPath(t *testing.T) {
	e, _ := newEngine(t)
	doc := "id: k\ndataStores: [o]\nblocks:\n  - id: save\n    type: dataStore\n    operation: upsert\n    name: o\n    key: \"{{ input.user.id }}\"\n    data: 1\n"
	for _, c := range []struct{ input, want string }{
		{`{"user": {}}`, `field key: "{{ input.user.id }}" is null: input.user.id is missing`},
		{`{}`, `field key: "{{ input.user.id }}" is null: input.user is missing`},
		{`null`, `field key: "{{ input.user.id }}" is null: input is missing`},
	} {
		r, err := e.RunDocument(context.Background(), []byte(doc), blocks.RunRequest{Input: json.RawMessage(c.input)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != blocks.StatusFailed || r.Error == nil || !strings.Contains(r.Error.Message, c.want) {
			t.Errorf("input %s: want %q, got %+v", c.input, c.want, r.Error)
		}
	}
}
