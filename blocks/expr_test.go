package blocks

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEvalExpression(t *testing.T) {
	t.Parallel()
	input := json.RawMessage(`{"id":"o-1","n":5,"user":{"name":"Ann","tags":["a","b"]},"empty":"","weird key":1,"big":9007199254740993}`)
	steps := map[string]json.RawMessage{"lookup": json.RawMessage(`{"data":{"count":3},"version":2}`), "none": json.RawMessage(`null`)}
	flow := FlowInfo{ID: "f", UUID: "u-1", RunID: "r-1"}
	cases := []struct{ expr, want string }{
		{"input.id", `"o-1"`},
		{"input", `{"big":9007199254740993,"empty":"","id":"o-1","n":5,"user":{"name":"Ann","tags":["a","b"]},"weird key":1}`},
		{"input.big", `9007199254740993`},
		{"input.user.tags[1]", `"b"`},
		{"input.user.tags.length", `2`},
		{"input.user.name.length", `3`},
		{"input['weird key']", `1`},
		{`input["user"]["name"]`, `"Ann"`},
		{"input.missing", `null`},
		{"input.missing.deeper.still", `null`},
		{"input?.user?.name", `"Ann"`},
		{"input.user.tags[5]", `null`},
		{"steps.lookup.data.count + 1", `4`},
		{"steps.none == null", `true`},
		{"steps.none.data", `null`},
		{"flow.id + ':' + flow.runId", `"f:r-1"`},
		{"flow.uuid", `"u-1"`},
		{"'session:' + input.id", `"session:o-1"`},
		{"input.n * 2 - 1", `9`},
		{"input.n / 2", `2.5`},
		{"input.n % 3", `2`},
		{"-input.n", `-5`},
		{"(1 + 2) * 3", `9`},
		{"1 + 2 * 3", `7`},
		{"input.n > 3 && input.n <= 5", `true`},
		{"input.n >= 6 || 'fallback'", `"fallback"`},
		{"input.empty || 'default'", `"default"`},
		{"input.empty ?? 'default'", `""`},
		{"input.missing ?? 'default'", `"default"`},
		{"!input.missing", `true`},
		{"!!input.user", `true`},
		{"input.n == 5.0", `true`},
		{"input.n === 5", `true`},
		{"input.n != '5'", `true`},
		{"input.user.tags == ['a','b']", `false`}, // no array literals: parse error checked below
		{"input.n > 3 ? 'big' : 'small'", `"big"`},
		{"'a' < 'b'", `true`},
		{"true", `true`},
		{"null", `null`},
		{"1.5e3", `1500`},
		{`"quote \" and \\ and }}"`, `"quote \" and \\ and }}"`},
	}
	for _, c := range cases {
		got, err := EvalExpression(c.expr, input, steps, flow)
		if c.expr == "input.user.tags == ['a','b']" {
			if err == nil {
				t.Errorf("%s: want a parse error (no array literals)", c.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
}

func TestEvalExpressionRefusesEscapes(t *testing.T) {
	t.Parallel()
	bad := []string{
		"", "   ", "process.env", "env.HOME", "require('fs')", "input.constructor('x')",
		"this", "globalThis", "Function('return 1')", "input.id(", "input.", "input[", "1 +",
		"input.n = 3", "a; b", "`template`", "input.n > 3 ?", "'unterminated",
		strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200),
		strings.Repeat("!", 200) + "true",
		strings.Repeat("a", maxExprLen+1),
	}
	for _, src := range bad {
		if _, err := EvalExpression(src, json.RawMessage(`{"n":1}`), nil, FlowInfo{}); err == nil {
			t.Errorf("%.40q: want an error", src)
		}
	}
	// Runtime type errors are errors, not panics.
	for _, src := range []string{"input - 1", "input.n / 0", "input < 3", "-input"} {
		if _, err := EvalExpression(src, json.RawMessage(`{"n":1}`), nil, FlowInfo{}); err == nil {
			t.Errorf("%s: want an error", src)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	sc, err := newScope(json.RawMessage(`{"id":7,"o":{"a":1},"s":"x","nil":null}`), nil, FlowInfo{ID: "f"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ src, want string }{
		{"{{ input.o }}", `{"a":1}`},           // whole field keeps its type
		{"  {{input.id}}  ", `7`},              // surrounding space still whole
		{"order-{{ input.id }}", `"order-7"`},  // embedded interpolates
		{"{{ input.o }}!", `"{\"a\":1}!"`},     // objects as compact JSON
		{"[{{ input.nil }}]", `"[]"`},          // null as ""
		{"{{ input.s }}{{ input.s }}", `"xx"`}, // two templates are text
		{"no templates", `"no templates"`},
		{"{{ '{{' }} literal", `"{{ literal"`},
		{"{{ '}}' }}", `"}}"`},
	}
	for _, c := range cases {
		n, err := compileValue(c.src, false)
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		v, err := n.eval(sc)
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		got, _ := json.Marshal(v)
		if string(got) != c.want {
			t.Errorf("%q = %s, want %s", c.src, got, c.want)
		}
	}
	// Templates inside JSON values are expanded member by member; code is not.
	n, err := compileValue(map[string]any{"k": "{{ input.id }}", "l": []any{"{{ input.s }}", "lit"}, "m": json.Number("1")}, false)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := n.eval(sc)
	if got, _ := json.Marshal(v); string(got) != `{"k":7,"l":["x","lit"],"m":1}` {
		t.Errorf("nested = %s", got)
	}
	code, _ := compileValue("return '{{ input.id }}'", true)
	if v, _ := code.eval(sc); v != "return '{{ input.id }}'" {
		t.Errorf("code was expanded: %v", v)
	}
	if _, err := compileValue("{{ input.id ", false); err == nil {
		t.Error("unclosed template: want an error")
	}
}

func TestTruthy(t *testing.T) {
	t.Parallel()
	for _, v := range []any{nil, false, "", json.Number("0")} {
		if truthy(v) {
			t.Errorf("%v is truthy", v)
		}
	}
	for _, v := range []any{true, "0", json.Number("1"), []any{}, map[string]any{}} {
		if !truthy(v) {
			t.Errorf("%v is falsy", v)
		}
	}
}

func TestRepeatedReferencesAreBounded(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	in := map[string]any{"s": big}
	list := make([]any, 40)
	for i := range list {
		list[i] = in
	}
	v := Values{"data": list}
	if _, err := v.JSON("data"); err == nil {
		t.Fatal("40 MiB of repeated references encoded without error")
	}
	if _, err := (Values{"data": in}).JSON("data"); err != nil {
		t.Fatalf("1 MiB value: %v", err)
	}
}
