package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-rod/rod/lib/input"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// TestBrowserEditorKeyboard builds a flow without the mouse: the palette's
// items are buttons reached with Tab and pressed with Enter or Space; then
// a draft run and a one-block test, both unsaved; then the webhook trigger
// shows its box (URL once saved, write-only secret) and hides the schedule.
func TestBrowserEditorKeyboard(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/flows/new")
	tb.page().MustElement("#flow-id").MustInput("kbd")
	tb.page().MustElement("#flow-datastores").MustInput("orders")
	if tb.has("#schedule-box:not([hidden])") || tb.has("#webhook-box:not([hidden])") {
		t.Error("a manual flow shows the schedule or webhook box")
	}

	// Focus the Data Store item by keyboard and press Enter, then the
	// JavaScript item and press Space.
	tb.page().MustElement(`#palette-list button[data-type="dataStore"]`).MustFocus()
	tb.page().Keyboard.MustType(input.Enter)
	tb.waitFor(`() => document.querySelectorAll('#blocks .blockcard').length === 1`)
	if got := tb.page().MustEval(`() => document.activeElement.dataset.field || ''`).String(); got != "id" {
		t.Errorf("focus after adding a block is on %q, want the new card's id", got)
	}
	tb.page().MustElement(`#palette-list button[data-type="javascript"]`).MustFocus()
	tb.page().Keyboard.MustType(input.Space)
	tb.waitFor(`() => document.querySelectorAll('#blocks .blockcard').length === 2`)
	types := tb.page().MustEval(`() => Array.from(document.querySelectorAll('#blocks .blockcard')).map(c => c.dataset.blockType).join(',')`).String()
	if types != "dataStore,javascript" {
		t.Fatalf("blocks %s", types)
	}
	ds := tb.page().MustElement(`#blocks .blockcard[data-block-type="dataStore"]`)
	selectValue(t, ds.MustElement(`select[data-field="operation"]`), "upsert")
	ds.MustElement(`input[data-field="name"]`).MustInput("orders")
	ds.MustElement(`input[data-field="key"]`).MustInput("{{ input.id }}")
	ds.MustElement(`textarea[data-field="data"]`).MustInput(`{"n": 1}`)
	tb.setEditor(`#blocks .blockcard[data-block-type="javascript"] textarea`, "console.log('draft says', input.id);\nreturn { seen: input.id };")

	// Run the draft: unsaved, with its own input.
	tb.page().MustElement("#draft-input").MustSelectAllText().MustInput(`{"id": "D-1"}`)
	tb.submit("#run-draft")
	if got := tb.text("#run-status"); got != "succeeded" {
		t.Fatalf("draft run: %s", tb.text("main"))
	}
	if !strings.Contains(tb.text("#run-result"), "Draft run") || !strings.Contains(tb.text("#run-logs"), "draft says D-1") {
		t.Errorf("draft result: %s", tb.text("#run-result"))
	}
	if _, err := h.Engine.GetFlow(ctx, "kbd"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("the draft run saved the flow: %v", err)
	}
	if e, err := h.Store.FindNameKey(ctx, "orders", "D-1"); err != nil || string(e.Data) != `{"n":1}` {
		t.Fatalf("draft run's write: %v %s", err, e.Data)
	}
	// The form kept what was typed (both blocks, the input).
	if n := len(tb.page().MustElements("#blocks .blockcard")); n != 2 || !strings.Contains(tb.page().MustElement("#draft-input").MustProperty("value").String(), "D-1") {
		t.Fatalf("after the draft run: %d cards", n)
	}

	// Test the JavaScript block alone: the Data Store block does not run.
	tb.page().MustElement("#draft-input").MustEval(`function () { this.value = '{"id": "T-1"}' }`)
	tb.submit(`#blocks .blockcard[data-block-type="javascript"] button[data-test]`)
	if got := tb.text("#run-status"); got != "succeeded" || tb.has(`#run-result .step[data-block="dataStore"]`) || !tb.has(`#run-result .step[data-block="javascript"]`) {
		t.Fatalf("block test: %s", tb.text("#run-result"))
	}
	if _, err := h.Store.FindNameKey(ctx, "orders", "T-1"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("the block test ran the other block: %v", err)
	}

	// Webhook trigger: the schedule box goes, the webhook box comes.
	selectValue(t, tb.page().MustElement("#flow-trigger"), "webhook")
	tb.waitFor(`() => document.querySelector('#schedule-box').hidden && !document.querySelector('#webhook-box').hidden`)
	tb.page().MustElement("#flow-secret").MustInput("s3cret-value")
	tb.submit("#save-flow")
	if !tb.has("#flow-saved") {
		t.Fatalf("not saved: %s", tb.text("main"))
	}
	if n := len(tb.page().MustElements(".flash.ok")); n != 1 {
		t.Errorf("%d success messages, want one", n)
	}
	if got, want := tb.text("#webhook-url"), h.URL+"/hooks/kbd"; got != want {
		t.Errorf("webhook URL %q, want %q", got, want)
	}
	if tb.has("#schedule-box:not([hidden])") || strings.Contains(tb.p.MustHTML(), "s3cret-value") {
		t.Error("schedule box shown for a webhook flow, or the secret is in the page")
	}
	if !strings.Contains(tb.text("#secret-state"), "set") {
		t.Errorf("secret state: %s", tb.text("#secret-state"))
	}
	tb.shot("flow-webhook")
}

// TestEditorAddBlockWithoutJavaScript posts the flow form to /flow/add as
// a browser without JavaScript does (the palette buttons submit the flow
// form): the page comes back with the block appended and every field
// typed so far kept, nothing saved; an unknown type is a 400.
func TestEditorAddBlockWithoutJavaScript(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signIn(h.Admin)
	if st, _ := c.get("/flows/new"); st != http.StatusOK {
		t.Fatal(st)
	}
	form := url.Values{"id": {"nojs"}, "dataStores": {"orders"}, "trigger": {"manual"}, "add": {"dataStore"}, "draftInput": {`{"x": 1}`}}
	st, body, _ := c.post("/flow/add", form)
	if st != http.StatusOK || strings.Count(body, `class="blockcard`) != 1 || !strings.Contains(body, `data-block-type="dataStore"`) {
		t.Fatalf("add to an empty flow: %d %d cards", st, strings.Count(body, `class="blockcard`))
	}
	card := regexpFind(t, body, `name="card" value="([^"]+)"`)
	// Fill the card and add a second block of the same type.
	form = url.Values{"id": {"nojs"}, "dataStores": {"orders"}, "trigger": {"manual"}, "card": {card},
		"b." + card + ".type": {"dataStore"}, "b." + card + ".id": {"dataStore"}, "b." + card + ".operation": {"findName"},
		"b." + card + ".name": {"orders"}, "add": {"dataStore"}, "draftInput": {`{"x": 1}`}}
	st, body, _ = c.post("/flow/add", form)
	if st != http.StatusOK || strings.Count(body, `class="blockcard`) != 2 {
		t.Fatalf("second add: %d, %d cards", st, strings.Count(body, `class="blockcard`))
	}
	if !strings.Contains(body, `value="dataStore1"`) || !strings.Contains(body, `value="orders"`) || !strings.Contains(body, `{&#34;x&#34;: 1}`) {
		t.Errorf("the form's values or the new block's unique id are lost")
	}
	if _, err := h.Engine.GetFlow(context.Background(), "nojs"); store.CodeOf(err) != store.CodeNotFound {
		t.Errorf("adding a block saved the flow: %v", err)
	}
	if st, _, _ := c.post("/flow/add", url.Values{"id": {"nojs"}, "add": {"<script>"}}); st != http.StatusBadRequest {
		t.Errorf("unknown type: %d", st)
	}
	// Without the CSRF token nothing happens.
	if st, _, _ := c.post("/flow/add", url.Values{"_csrf": {"forged"}, "id": {"nojs"}, "add": {"dataStore"}}); st != http.StatusForbidden {
		t.Errorf("forged add: %d", st)
	}
}

// TestEditorReadOnlyToken: a token that can read a flow's namespaces but
// has no scope flows sees the flow without New, Save, Run, Delete, the
// palette or the draft controls, and its forged posts are refused.
func TestEditorReadOnlyToken(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.Engine.PutFlow(ctx, []byte(logFlow)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Engine.RunFlow(ctx, "logs", blocks.RunRequest{Input: json.RawMessage(`{"id": "RO"}`)}); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"no scope":         h.token("orders:read"),
		"flows, read only": h.scopedToken([]string{tokens.ScopeFlows}, "orders:read"),
	} {
		t.Run(name, func(t *testing.T) {
			tb := h.tab(t, b.MustIncognito()) // its own cookies
			tb.signIn(tok)
			tb.open("/flows")
			wantNew := strings.HasPrefix(name, "flows")
			if tb.has("#new-flow") != wantNew {
				t.Errorf("New flow shown: %v, want %v", tb.has("#new-flow"), wantNew)
			}
			tb.open("/flow?id=logs")
			for _, sel := range []string{"#save-flow", "#run-flow", "#delete-flow", "#palette-list", "#run-draft", "[data-test]", "[data-remove]"} {
				if tb.has(sel) {
					t.Errorf("%s shown to a token that cannot use it", sel)
				}
			}
			if !tb.has("#read-only-note") || !tb.has("#run-history tbody tr") {
				t.Errorf("read-only page: %s", tb.text("main"))
			}
			tb.shot("flow-read-only")
			c := h.client()
			c.signIn(tok)
			for _, p := range []string{"/flow/save", "/flow/run", "/flow/delete", "/flow/add", "/flow/draft"} {
				if st, _, _ := c.post(p, url.Values{"id": {"logs"}, "original": {"logs"}, "add": {"dataStore"}}); st != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", p, st)
				}
			}
			if _, err := h.Engine.GetFlow(ctx, "logs"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBrowserDeleteFlow deletes a flow from the editor after a
// confirmation page; its webhook then answers 404 and the list no longer
// shows it.
func TestBrowserDeleteFlow(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.Engine.PutFlow(ctx, []byte(logFlow)); err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/flow?id=logs")
	tb.submit("#delete-flow")
	if !tb.has("#confirm-delete-flow") {
		t.Fatalf("no confirmation: %s", tb.text("main"))
	}
	if _, err := h.Engine.GetFlow(ctx, "logs"); err != nil {
		t.Fatalf("the confirmation page deleted the flow: %v", err)
	}
	tb.shot("flow-delete")
	tb.submit("#confirm-delete-flow")
	if !strings.Contains(tb.url(), "/flows") || !strings.Contains(tb.text("main"), "Flow deleted.") || tb.has(`a.flowlink`) {
		t.Fatalf("after delete at %s: %s", tb.url(), tb.text("main"))
	}
	if _, err := h.Engine.GetFlow(ctx, "logs"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("flow still there: %v", err)
	}
}

// TestEditorKeepsLineEndings: a browser sends textareas with CRLF line
// endings; saving from the editor stores the code with the endings it had
// (LF stays LF, CRLF stays CRLF) — it used to turn LF code into CRLF.
func TestEditorKeepsLineEndings(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lf := "const a = 1;\nreturn a;"
	crlf := "const b = 2;\r\nreturn b;"
	for _, tc := range []struct{ id, code string }{{"lf", lf}, {"crlf", crlf}} {
		doc, _ := json.Marshal(map[string]any{"id": tc.id, "blocks": []any{map[string]any{"id": "js", "type": "javascript", "code": tc.code}}})
		if _, err := h.Engine.PutFlow(ctx, doc); err != nil {
			t.Fatal(err)
		}
		c := h.client()
		c.signIn(h.Admin)
		c.get("/flow?id=" + tc.id)
		// What the browser posts: the textarea's value with CRLF.
		posted := strings.ReplaceAll(strings.ReplaceAll(tc.code, "\r\n", "\n"), "\n", "\r\n")
		st, body, _ := c.post("/flow/save", url.Values{"original": {tc.id}, "id": {tc.id}, "trigger": {"manual"}, "card": {"c1"},
			"b.c1.type": {"javascript"}, "b.c1.id": {"js"}, "b.c1.code": {posted}})
		if st != http.StatusSeeOther {
			t.Fatalf("save %s: %d %s", tc.id, st, body)
		}
		sf, err := h.Engine.GetFlow(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := sf.Flow.Blocks[0].Fields["code"]; got != tc.code {
			t.Errorf("%s: stored code %q, want %q", tc.id, got, tc.code)
		}
	}
}

// TestBrowserEditorSource: the editor shows the source as saved (YAML
// with comments) and saves an edit of it as typed — comments and CRLF
// line endings kept, where saving the form would store JSON; a source
// that fails validation is shown again with its problems and the text.
func TestBrowserEditorSource(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	yaml := "# counts page views\r\nid: views\r\ndataStores: [orders]\r\nblocks:\r\n  - id: js # the only block\r\n    type: javascript\r\n    code: |\r\n      return 1;\r\n"
	if _, err := h.Engine.PutFlow(ctx, []byte(yaml)); err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/flow?id=views")
	tb.page().MustElement("#flow-source summary").MustClick()
	got := tb.page().MustElement("#source-text").MustProperty("value").String()
	if !strings.Contains(got, "# counts page views") || !strings.Contains(got, "# the only block") {
		t.Fatalf("source shown: %q", got)
	}
	tb.page().MustElement("#source-text").MustEval(`function () { this.value = this.value.replace("counts page views", "counts views, edited") }`)
	tb.submit("#save-source")
	if !tb.has("#flow-saved") {
		t.Fatalf("source not saved: %s", tb.text("main"))
	}
	sf, err := h.Engine.GetFlow(ctx, "views")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(yaml, "counts page views", "counts views, edited", 1)
	if sf.Source != want {
		t.Fatalf("stored source %q, want %q", sf.Source, want)
	}
	// A refused source keeps the text and lists the problems.
	tb.page().MustElement("#flow-source summary").MustClick()
	tb.page().MustElement("#source-text").MustEval(`function () { this.value = this.value.replace("type: javascript", "type: nosuchblock") }`)
	tb.submit("#save-source")
	if !tb.has("#flow-problems") || !strings.Contains(tb.page().MustElement("#source-text").MustProperty("value").String(), "nosuchblock") {
		t.Fatalf("refused source: %s", tb.text("main"))
	}
	if sf2, _ := h.Engine.GetFlow(ctx, "views"); sf2.Source != want {
		t.Fatal("a refused source was stored")
	}
}

// TestBrowserRenameFlow changes a flow's id in the editor and saves: the
// flow keeps its UUID and its run history under the new id, and no second
// flow appears. (On an engine that cannot rename, the change is refused
// with a message next to the id, and nothing is created.)
func TestBrowserRenameFlow(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	sf, err := h.Engine.PutFlow(ctx, []byte(logFlow))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Engine.RunFlow(ctx, "logs", blocks.RunRequest{Input: json.RawMessage(`{"id": "before-rename"}`)}); err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/flow?id=logs")
	tb.page().MustElement("#flow-id").MustSelectAllText().MustInput("logs-renamed")
	tb.submit("#save-flow")
	list, err := h.Engine.ListFlows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d flows after a rename, want 1", len(list))
	}
	if _, ok := any(h.Engine).(flowRenamer); !ok {
		if !strings.Contains(tb.text(`#flow-problems, .field.bad, main`), "rename") || list[0].Flow.ID != "logs" {
			t.Fatalf("an engine without rename: %s", tb.text("main"))
		}
		return
	}
	if !tb.has("#flow-saved") || list[0].Flow.ID != "logs-renamed" || list[0].UUID != sf.UUID {
		t.Fatalf("renamed flow: %+v, page %s", list[0], tb.text("main"))
	}
	if !strings.Contains(tb.url(), "id=logs-renamed") || !tb.has("#run-history tbody tr") {
		t.Fatalf("the run history did not follow the rename: %s", tb.text("main"))
	}
}
