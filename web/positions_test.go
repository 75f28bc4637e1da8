package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// JavaScript errors name the source's line and column — on line 1 too,
// where the wrapper the code is compiled in sits — through the scripts
// API and a flow's JavaScript block.
func TestJavaScriptErrorPositionsOverHTTP(t *testing.T) {
	h := newSQLite(t)
	tok := h.flowsToken("orders:write")
	line1 := "const x = null; return x.y.z;" // 29 characters; .y at 26
	line3 := "const a = 1;\nconst b = 2;\n  throw new Error('boom');"
	for _, c := range []struct{ src, want string }{
		{line1, ":1:26"},
		{line3, ":3:9"},
		{"const a = 1;\nconst b = 2;\n  const x = ;", "line 3 column 13"},
	} {
		r := h.do(http.MethodPost, "/v1/operations/scripts", tok, map[string]any{"source": c.src})
		want(t, r, http.StatusBadRequest, "invalid_argument")
		if !strings.Contains(string(r.Body), c.want) {
			t.Errorf("script %q: want %q in %s", c.src, c.want, r.Body)
		}
	}

	flow := "id: pos\ndataStores: [orders]\nblocks:\n  - id: one\n    type: javascript\n    code: |\n      const x = null; return x.y.z;\n" +
		"  - id: three\n    type: javascript\n    if: \"{{ input.three }}\"\n    code: |\n      const a = 1;\n      const b = 2;\n        throw new Error('boom');\n"
	want(t, h.do(http.MethodPut, "/v1/flows/pos", tok, flow, "Content-Type", "application/yaml"), http.StatusOK, "")
	r := h.do(http.MethodPost, "/v1/flows/pos/runs", tok, map[string]any{"input": map[string]any{}})
	want(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), "block one:1:26") {
		t.Errorf("block on line 1: want block one:1:26 in %s", r.Body)
	}
	flow = strings.Replace(flow, "const x = null; return x.y.z;", "return 1;", 1)
	want(t, h.do(http.MethodPut, "/v1/flows/pos", tok, flow, "Content-Type", "application/yaml"), http.StatusOK, "")
	r = h.do(http.MethodPost, "/v1/flows/pos/runs", tok, map[string]any{"input": map[string]any{"three": true}})
	want(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), "block three:3:9") {
		t.Errorf("block on line 3: want block three:3:9 in %s", r.Body)
	}
}
