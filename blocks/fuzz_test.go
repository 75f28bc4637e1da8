package blocks

import (
	"encoding/json"
	"testing"
)

// FuzzEvalExpression: any expression text either parses and evaluates to
// valid JSON, or is an error; it never panics or hangs.
func FuzzEvalExpression(f *testing.F) {
	for _, s := range []string{
		"input.a.b[0]", "'x' + input.n * 2", "steps.s ?? (input.q ? 1 : -2)", "!input || input.a == [1]",
		`input["k"].length > 3 && "}}"`, "((((1))))", "1 / 0", "-'a'", "input.n % 0", "a?.b", "1e400",
	} {
		f.Add(s)
	}
	in := json.RawMessage(`{"a":{"b":[1,"two",null]},"n":3,"q":false,"k":"text"}`)
	steps := map[string]json.RawMessage{"s": json.RawMessage(`{"ok":true}`)}
	f.Fuzz(func(t *testing.T, src string) {
		out, err := EvalExpression(src, in, steps, FlowInfo{ID: "f"})
		if err == nil && !json.Valid(out) {
			t.Fatalf("%q evaluated to invalid JSON %q", src, out)
		}
	})
}

// FuzzTemplate: any field text compiles or is refused; evaluating never panics.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{{ input.a }}", "x-{{input.n}}-{{ steps.s.ok }}", "{{", "}}{{}}", "{{ '}}' }}", "{{ \"\\\"\" }}"} {
		f.Add(s)
	}
	sc, _ := newScope(json.RawMessage(`{"a":[1],"n":2}`), map[string]json.RawMessage{"s": json.RawMessage(`{"ok":1}`)}, FlowInfo{})
	f.Fuzz(func(t *testing.T, src string) {
		n, err := compileValue(src, false)
		if err != nil {
			return
		}
		if _, err := n.eval(sc); err != nil {
			return
		}
	})
}

// FuzzParseFlow: any document is parsed and validated or refused, never a panic.
func FuzzParseFlow(f *testing.F) {
	f.Add([]byte("id: a\nblocks:\n  - {id: b, type: nosuch}\n"))
	f.Add([]byte(`{"id":"x","trigger":{"type":"schedule","cron":"* * * * *"},"blocks":[]}`))
	f.Add([]byte("id: [1]\nblocks: 3\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, err := ParseFlow(src)
		if err != nil {
			return
		}
		_ = Validate(fl)
	})
}
