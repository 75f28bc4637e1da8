package ui

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// axeSource returns axe-core's axe.min.js: FLOWKV_AXE, set by
// scripts/setup-axe.sh. Without it the test skips (fails under CI=true).
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FLOWKV_AXE")
	if p == "" {
		testenv.Missing(t, "FLOWKV_AXE is not set (source scripts/setup-axe.sh)")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		testenv.Missing(t, "axe-core: %v", err)
	}
	return string(b)
}

// axeViolation is one rule axe-core found broken on a page.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core on the page (injected through the DevTools protocol,
// as browser extensions and CI tools do) and returns its violations of
// impact serious or critical.
func (tb *tab) axe(src string) []axeViolation {
	tb.t.Helper()
	tb.page().MustEval(`function (src) { if (!window.axe) { (0, eval)(src) } }`, src)
	res := tb.page().MustEval(`async function () {
		const r = await axe.run(document, { resultTypes: ["violations"] });
		return JSON.stringify(r.violations);
	}`).String()
	var all []axeViolation
	if err := json.Unmarshal([]byte(res), &all); err != nil {
		tb.t.Fatalf("axe result: %v", err)
	}
	var out []axeViolation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" || strings.HasPrefix(v.ID, "landmark-") {
			out = append(out, v)
		} else {
			tb.t.Logf("%s: %s %s (%s) on %d element(s)", tb.url(), v.Impact, v.ID, v.Help, len(v.Nodes))
		}
	}
	return out
}

// TestAccessibility runs axe-core on every page of the store browser and
// the flow editor, signed in as the admin (and the sign-in page signed
// out), and fails on any serious or critical violation: contrast, names of
// controls and editors, landmarks, labels.
func TestAccessibility(t *testing.T) {
	src := axeSource(t)
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	seedOrders(t, h.Store, 3)
	doc := `{"id": "hook", "dataStores": ["orders"], "trigger": {"type": "webhook"},
		"blocks": [
			{"id": "save", "type": "dataStore", "operation": "upsert", "name": "orders", "key": "{{ input.id }}", "data": {"seen": true}},
			{"id": "js", "type": "javascript", "code": "console.log('hi'); return 1;"}
		]}`
	if _, err := h.Engine.PutFlow(ctx, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	run, err := h.Engine.RunFlow(ctx, "hook", blocks.RunRequest{Input: json.RawMessage(`{"id": "x-1"}`), Trigger: blocks.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	pages := []string{"/login"}
	check := func(path string) {
		t.Helper()
		if path == "" {
			path = strings.TrimPrefix(tb.url(), h.URL) + " (after a POST)"
		} else if path != "/login" {
			tb.open(path)
		}
		for _, v := range tb.axe(src) {
			var where []string
			for i, n := range v.Nodes {
				if i == 5 {
					where = append(where, "…")
					break
				}
				tgt, _ := json.Marshal(n.Target)
				where = append(where, string(tgt))
			}
			t.Errorf("%s: %s %s (%s) on %d element(s): %s", path, v.Impact, v.ID, v.Help, len(v.Nodes), strings.Join(where, " "))
		}
	}
	tb.open("/login")
	check("/login")
	tb.signIn(h.Admin)
	pages = append(pages[:0],
		"/namespaces",
		"/entries?name=orders",
		"/entries?name=orders&f=n&op=gt&v=0",
		"/entry?name=orders&key=order-001",
		"/entry/delete?name=orders&key=order-001",
		"/new?name=orders",
		"/import",
		"/flows",
		"/flows/new",
		"/flow?id=hook",
		"/flow/delete?id=hook",
		"/run?flow="+run.FlowUUID+"&id="+run.ID,
	)
	for _, p := range pages {
		check(p)
	}
	// Pages that answer a form: a run's result (with its logs), a draft
	// run, an entry that disappeared while edited.
	tb.open("/flow?id=hook")
	tb.setEditor("#run-input", `{"id": "x-2"}`)
	tb.submit("#run-flow")
	check("")
	tb.open("/flow?id=hook")
	tb.submit("#run-draft")
	check("")
	tb.open("/entry?name=orders&key=order-002")
	if _, err := h.Store.Delete(ctx, "orders", "order-002", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.submit("#save")
	check("")
}
