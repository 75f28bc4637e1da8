package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
)

// logFlow is a flow whose JavaScript block logs and fails on input.fail.
const logFlow = `{"id": "logs", "dataStores": ["orders"], "blocks": [
	{"id": "save", "type": "dataStore", "operation": "upsert", "name": "orders", "key": "{{ input.id }}", "data": {"v": 1}},
	{"id": "check", "type": "javascript", "code": "console.log('checking', input.id);\nif (input.fail) throw new Error('asked to fail');\nreturn { ok: input.id };"}
]}`

// TestBrowserRunPage runs a flow from the editor, sees the run's console
// logs there, opens the run's page from the run history (input, each
// block, output, logs), filters the history by status, and finds a failed
// run's error on its page.
func TestBrowserRunPage(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	if _, err := h.Engine.PutFlow(context.Background(), []byte(logFlow)); err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/flow?id=logs")
	tb.setEditor("#run-input", `{"id": "R-1"}`)
	tb.submit("#run-flow")
	if got := tb.text("#run-status"); got != "succeeded" {
		t.Fatalf("run: %s", tb.text("#run-result"))
	}
	if logs := tb.text("#run-result #run-logs"); !strings.Contains(logs, "checking R-1") {
		t.Fatalf("the editor does not show the run's logs: %q", logs)
	}
	tb.setEditor("#run-input", `{"id": "R-2", "fail": true}`)
	tb.submit("#run-flow")
	if got := tb.text("#run-status"); got != "failed" {
		t.Fatalf("failing run: %s", tb.text("#run-result"))
	}

	// The history filters by status and links to each run.
	tb.open("/flow?id=logs")
	if n := len(tb.page().MustElements("#run-history tbody tr")); n != 2 {
		t.Fatalf("history has %d runs, want 2", n)
	}
	tb.submit(`#run-filter a[href*="runs=failed"]`)
	if n := len(tb.page().MustElements("#run-history tbody tr")); n != 1 || !strings.Contains(tb.text("#run-history"), "failed") {
		t.Fatalf("failed filter: %s", tb.text("#run-history"))
	}
	tb.submit("#run-history tbody tr a.runlink")
	tb.shot("run-failed")
	if !strings.Contains(tb.url(), "/run?") || tb.text("#run-status") != "failed" {
		t.Fatalf("run page at %s: %s", tb.url(), tb.text("main"))
	}
	if got := tb.text("#run-error"); !strings.Contains(got, "asked to fail") || !strings.Contains(got, "check") {
		t.Errorf("run error %q", got)
	}
	if got := tb.text("#run-input"); !strings.Contains(got, `"R-2"`) {
		t.Errorf("run input %q", got)
	}
	if !tb.has(`#run-blocks .step[data-block="save"]`) || !strings.Contains(tb.text(`#run-blocks .step[data-block="check"]`), "failed") {
		t.Errorf("blocks: %s", tb.text("#run-blocks"))
	}
	if !strings.Contains(tb.text("#run-logs"), "checking R-2") {
		t.Errorf("logs: %s", tb.text("#run-logs"))
	}
	tb.submit("#run-flow-link")
	if !strings.Contains(tb.url(), "/flow?id=logs") {
		t.Errorf("flow link went to %s", tb.url())
	}
	tb.open("/flow?id=logs&runs=succeeded")
	tb.submit("#run-history tbody tr a.runlink")
	if tb.text("#run-status") != "succeeded" || !strings.Contains(tb.text("#run-output"), `"R-1"`) {
		t.Errorf("succeeded run page: %s", tb.text("main"))
	}
}

// TestRunPageAccess: a run's page needs read on every namespace its flow
// declared; a token without it gets 403 and no run data, an unknown run
// 404, and a guessed/garbage id never reaches another flow's runs.
func TestRunPageAccess(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.Engine.PutFlow(ctx, []byte(logFlow)); err != nil {
		t.Fatal(err)
	}
	run, err := h.Engine.RunFlow(ctx, "logs", blocks.RunRequest{Input: json.RawMessage(`{"id": "secret-input"}`)})
	if err != nil {
		t.Fatal(err)
	}
	path := runURL(run.FlowUUID, run.ID)
	owner := h.client()
	owner.signIn(h.token("orders:read"))
	if st, body := owner.get(path); st != http.StatusOK || !strings.Contains(body, "secret-input") {
		t.Fatalf("reader: %d", st)
	}
	other := h.client()
	other.signIn(h.token("sessions"))
	if st, body := other.get(path); st != http.StatusForbidden || strings.Contains(body, "secret-input") {
		t.Fatalf("token without read on orders: %d, leaks input: %v", st, strings.Contains(body, "secret-input"))
	}
	for _, p := range []string{
		runURL(run.FlowUUID, "01234567-89ab-7def-8123-456789abcdef"),
		runURL("../../x", run.ID),
		"/run?flow=" + run.FlowUUID + "&id=..%2F..%2F",
	} {
		if st, _ := owner.get(p); st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, st)
		}
	}
	// The server still serves the owner afterwards.
	if st, _ := owner.get(path); st != http.StatusOK {
		t.Errorf("after the probes: %d", st)
	}
}

// TestBrowserWebhookRunPage: a webhook run's page, opened by its id alone
// (/run?id=, as GET /v1/runs/{id}), shows the request the flow saw
// (method, query, headers, never the secret) and a JavaScript error at its
// line and column in the block's code.
func TestBrowserWebhookRunPage(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	doc := `{"id": "hooked", "dataStores": ["orders"], "trigger": {"type": "webhook", "secret": "hook-secret-1"}, "blocks": [
		{"id": "js", "type": "javascript", "code": "console.log('from', request.query.source);\nnull.boom;\nreturn 1;"}]}`
	if _, err := h.Engine.PutFlow(ctx, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	run, err := h.Engine.StartHook(ctx, "hooked", blocks.HookCall{Input: json.RawMessage(`{"a": 1}`), Secret: "hook-secret-1",
		Request: &blocks.Request{Method: "POST", Path: "/hooks/hooked", Query: map[string]any{"source": "crm"}, Headers: map[string]string{"x-note": "hi"}}})
	if err != nil && run == nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/run?id=" + run.ID)
	tb.shot("run-webhook")
	if got := tb.text("#run-status"); got != "failed" {
		t.Fatalf("status %q: %s", got, tb.text("main"))
	}
	req := tb.text("#run-request")
	if !strings.Contains(req, `"crm"`) || !strings.Contains(req, `"x-note"`) || strings.Contains(tb.p.MustHTML(), "hook-secret-1") {
		t.Errorf("request shown: %s", req)
	}
	if got := tb.text("#run-error"); !strings.Contains(got, "line 2") {
		t.Errorf("error without its position: %q", got)
	}
	if !strings.Contains(tb.text("#run-logs"), "from crm") {
		t.Errorf("logs: %s", tb.text("#run-logs"))
	}
}
