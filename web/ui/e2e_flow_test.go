package ui

import (
	"context"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

// TestBrowserFlowEditor builds a flow by dragging a Data Store block from
// the palette, configures it, sees validation problems next to the field,
// saves, runs it, and finds the stored entry in the store browser.
func TestBrowserFlowEditor(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	tb := h.tab(t, b)
	tb.signIn(h.Admin)

	tb.open("/flows")
	tb.shot("flows-empty")
	tb.submit("#new-flow")
	tb.page().MustElement("#flow-id").MustInput("remember-order")
	tb.page().MustElement("#flow-datastores").MustInput("orders")

	// Drag the Data Store block from the palette onto the flow.
	item := tb.page().MustElement(`#palette-list li[data-type="dataStore"]`)
	tb.dragTo(item, tb.page().MustElement("#blocks"), false)
	tb.waitFor(`() => !!document.querySelector('#blocks .blockcard[data-block-type="dataStore"]')`)
	card := tb.page().MustElement(`#blocks .blockcard[data-block-type="dataStore"]`)

	// Choosing the operation shows exactly its fields.
	visible := func() string {
		return card.MustEval(`function () { return Array.from(this.querySelectorAll('.field')).filter(f => !f.hidden).map(f => f.dataset.name).join(',') }`).String()
	}
	selectValue(t, card.MustElement(`select[data-field="operation"]`), "findNameKey")
	if got := visible(); strings.Contains(got, "data") || !strings.Contains(got, "key") || strings.Contains(got, "timeoutUnit") {
		t.Errorf("findNameKey shows %s", got)
	}
	selectValue(t, card.MustElement(`select[data-field="operation"]`), "upsert")
	if got := visible(); !strings.Contains(got, "data") || !strings.Contains(got, "timeoutUnit") || strings.Contains(got, "keyPrefix") {
		t.Errorf("upsert shows %s", got)
	}
	// The namespace field offers the flow's dataStores.
	opts := tb.page().MustEval(`() => Array.from(document.querySelectorAll('#ds-options option')).map(o => o.value).join(',')`).String()
	if opts != "orders" {
		t.Errorf("namespace suggestions %q, want orders", opts)
	}
	card.MustElement(`input[data-field="name"]`).MustInput("orders")
	card.MustElement(`textarea[data-field="data"]`).MustInput(`{"hello": "flow", "id": "{{ input.id }}"}`)
	selectValue(t, card.MustElement(`select[data-field="timeoutUnit"]`), "days")
	tb.shot("flow-editor")

	// Save without a key: the problem is shown next to the key field.
	tb.submit("#save-flow")
	if !tb.has(`.blockcard .field.bad[data-name="key"] .problem`) {
		t.Fatalf("no problem next to the key field: %s", tb.text("main"))
	}
	if !tb.has(`.blockcard .field.bad[data-name="timeoutValue"] .problem`) {
		t.Errorf("no problem next to timeoutValue: %s", tb.text("main"))
	}
	tb.shot("flow-problems")
	card = tb.page().MustElement(`#blocks .blockcard[data-block-type="dataStore"]`)
	card.MustElement(`input[data-field="key"]`).MustInput("{{ input.id }}")
	card.MustElement(`input[data-field="timeoutValue"]`).MustSelectAllText().MustInput("7")
	tb.submit("#save-flow")
	if !tb.has("#flow-saved") {
		t.Fatalf("flow not saved: %s", tb.text("main"))
	}
	sf, err := h.Engine.GetFlow(ctx, "remember-order")
	if err != nil || len(sf.Flow.Blocks) != 1 || sf.Flow.Blocks[0].Fields["operation"] != "upsert" {
		t.Fatalf("stored flow: %+v %v", sf.Flow, err)
	}

	// Run it with an input.
	tb.setEditor("#run-input", `{"id": "A-17"}`)
	tb.submit("#run-flow")
	tb.shot("flow-run")
	if got := tb.text("#run-status"); got != "succeeded" {
		t.Fatalf("run status %q: %s", got, tb.text("#run-result"))
	}
	if !tb.has(`#run-result .step[data-block="dataStore"]`) || !tb.has("#run-history tbody tr") {
		t.Fatalf("run result or history missing: %s", tb.text("main"))
	}
	e, err := h.Store.FindNameKey(ctx, "orders", "A-17")
	if err != nil || e.FlowUUID != sf.UUID || e.ExpiresAt == nil {
		t.Fatalf("stored entry: %+v %v", e, err)
	}

	// Reorder: add a second block by dragging, put it first, save.
	tb.dragTo(tb.page().MustElement(`#palette-list li[data-type="dataStore"]`), tb.page().MustElement("#blocks .blockcard"), true)
	tb.waitFor(`() => document.querySelectorAll('#blocks .blockcard').length === 2`)
	second := tb.page().MustElements("#blocks .blockcard")[1]
	selectValue(t, second.MustElement(`select[data-field="operation"]`), "findName")
	second.MustElement(`input[data-field="name"]`).MustInput("orders")
	secondID := second.MustElement(`input[data-field="id"]`).MustProperty("value").String()
	tb.dragTo(second.MustElement(".handle"), tb.page().MustElement("#blocks .blockcard .handle"), false)
	tb.waitFor(`(id) => document.querySelector('#blocks .blockcard input[data-field="id"]').value === id`, secondID)
	tb.submit("#save-flow")
	sf, _ = h.Engine.GetFlow(ctx, "remember-order")
	if len(sf.Flow.Blocks) != 2 || sf.Flow.Blocks[0].ID != secondID {
		t.Fatalf("reordered flow: %+v", sf.Flow.Blocks)
	}

	// The stored entry, in the browser, found by its flowUuid.
	tb.open("/entries?name=orders")
	tb.page().MustElement("#q-flow").MustInput(sf.UUID)
	// Wait for the search of the whole UUID (typing sends one per key).
	tb.waitFor(`(id) => location.search.includes(id) && !document.querySelector('.htmx-request') && document.querySelectorAll('table.entries tbody tr').length === 1`, sf.UUID)
	tb.submit("table.entries tbody tr a")
	if !strings.Contains(tb.text("#entry-json"), `"hello": "flow"`) || !strings.Contains(tb.text("main"), sf.UUID) {
		t.Fatalf("entry page: %s", tb.text("main"))
	}
	tb.shot("flow-entry")

	// The JavaScript block's code field is a highlighting editor.
	tb.open("/flow?id=remember-order")
	tb.dragTo(tb.page().MustElement(`#palette-list li[data-type="javascript"]`), tb.page().MustElement("#blocks .blockcard"), true)
	tb.waitFor(`() => !!document.querySelector('#blocks .blockcard[data-block-type="javascript"] .cm-editor')`)
	js := tb.page().MustElement(`#blocks .blockcard[data-block-type="javascript"]`)
	js.MustElement(".cm-content").MustClick()
	tb.p.MustInsertText("return { count: 1 };")
	tb.waitFor(`() => document.querySelector('#blocks .blockcard[data-block-type="javascript"] textarea').value.includes('count: 1')`)
	if !tb.has(`#blocks .blockcard[data-block-type="javascript"] .cm-content .tok-keyword, #blocks .blockcard[data-block-type="javascript"] .cm-line span`) {
		t.Error("JavaScript code is not highlighted")
	}
	tb.shot("flow-javascript")

	tb.open("/flows")
	tb.shot("flows")
	if !strings.Contains(tb.text("#flows"), "succeeded") {
		t.Errorf("flows list without the last run's status: %s", tb.text("#flows"))
	}
	_ = store.Wildcard
}
