package ui

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

// xssPayloads are stored as namespace names, keys and values; every page
// must print them as inert text.
var xssPayloads = []string{
	`<script>window.__xss=1;alert(1)</script>`,
	`"><img src=x onerror="window.__xss=1;alert(1)">`,
	`javascript:window.__xss=1;alert(1)`,
	`</textarea><script>window.__xss=1;alert(1)</script>`,
	`'><svg onload=alert(1)>`,
	`</pre><iframe srcdoc="<script>parent.__xss=1</script>"></iframe>`,
}

// injected is a JavaScript check of the loaded page: "" when no payload
// ran or produced an element, else what was found.
const injected = `() => {
	const bad = [];
	if (window.__xss) bad.push('payload ran');
	for (const el of document.querySelectorAll('img, svg, iframe, object, embed')) bad.push('element ' + el.tagName);
	for (const s of document.querySelectorAll('script')) if (!(s.getAttribute('src') || '').startsWith('/static/')) bad.push('script ' + s.outerHTML.slice(0, 80));
	for (const el of document.querySelectorAll('*')) for (const a of el.attributes) {
		if (a.name.startsWith('on')) bad.push('handler ' + a.name + ' on ' + el.tagName);
		if ((a.name === 'href' || a.name === 'src' || a.name === 'action' || a.name === 'formaction') && /^\s*javascript:/i.test(a.value)) bad.push('javascript: URL in ' + el.tagName);
	}
	return bad.join('; ');
}`

// TestBrowserXSSCorpusIsInert stores the payloads as names, keys, values
// and in a flow, then loads every page in Chromium: no dialog opens, no
// payload runs, no element is injected, and the text shows as text.
func TestBrowserXSSCorpusIsInert(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	var pages []string
	for i, p := range xssPayloads {
		data, _ := json.Marshal(map[string]any{p: p, "list": []string{p}})
		if _, err := h.Store.Insert(ctx, p, p, data, store.WriteOptions{}); err != nil {
			t.Fatalf("insert payload %d: %v", i, err)
		}
		if _, err := h.Store.Insert(ctx, "xss", p, json.RawMessage(mustJSON(p)), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		q := url.QueryEscape(p)
		pages = append(pages,
			"/entries?name="+q,
			"/entry?name="+q+"&key="+q,
			"/entry/delete?name="+q+"&key="+q,
			"/entries?name=xss&prefix="+q+"&data="+q+"&flowUuid="+q,
			"/namespaces?q="+q,
			"/new?name="+q,
			"/import?name="+q,
			"/entry?name="+q+"&key=missing"+q,
			"/login?next="+q,
		)
	}
	// A flow whose blocks carry the payloads, run once so its output holds them.
	flow := map[string]any{
		"id": "xss", "dataStores": []string{"xss"},
		"blocks": []map[string]any{{
			"id": "save", "type": "dataStore", "operation": "upsert", "name": "xss",
			"key": xssPayloads[3], "data": map[string]any{"v": xssPayloads[0], "w": xssPayloads[1]},
		}},
	}
	src, _ := json.Marshal(flow)
	if _, err := h.Engine.PutFlow(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Engine.RunFlow(ctx, "xss", blocks.RunRequest{Input: json.RawMessage(mustJSON(xssPayloads[2]))}); err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "/namespaces", "/entries?name=xss", "/flows", "/flow?id=xss", "/flows/new", "/export?name=xss")

	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	for _, p := range pages {
		if strings.HasPrefix(p, "/export") {
			continue // a download, not a page
		}
		tb.open(p)
		if bad := tb.page().MustEval(injected).String(); bad != "" {
			t.Errorf("%s: %s", p, bad)
		}
	}
	// The run result page prints the payloads from the block's output.
	tb.open("/flow?id=xss")
	tb.setEditor("#run-input", mustJSON(xssPayloads[1]))
	tb.submit("#run-flow")
	if bad := tb.page().MustEval(injected).String(); bad != "" {
		t.Errorf("run result: %s", bad)
	}
	if !strings.Contains(tb.text("#run-result"), "onerror") {
		t.Errorf("run result does not show the payload as text: %s", tb.text("#run-result"))
	}
	// The payloads show as text where they are data.
	tb.open("/entry?name=" + url.QueryEscape(xssPayloads[3]) + "&key=" + url.QueryEscape(xssPayloads[3]))
	if got := tb.text("#entry-key"); got != xssPayloads[3] {
		t.Errorf("key shown as %q", got)
	}
	if got := tb.page().MustElement("#edit-data").MustProperty("value").String(); !strings.Contains(got, "</textarea>") {
		t.Errorf("editor text lost the payload: %q", got)
	}
	tb.open("/namespaces")
	for _, p := range xssPayloads {
		if !strings.Contains(tb.text("#ns-list"), p) {
			t.Errorf("namespace %q not shown as text", p)
		}
	}
	if n := tb.dialogs.Load(); n != 0 {
		t.Errorf("%d dialogs opened", n)
	}
	// The check itself sees an injected element (it can fail).
	tb.page().MustEval(`() => { document.body.appendChild(document.createElement('img')) }`)
	if bad := tb.page().MustEval(injected).String(); !strings.Contains(bad, "IMG") {
		t.Errorf("the injection check missed an injected img: %q", bad)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
