package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-rod/rod/lib/proto"

	"github.com/flowkv/flowkv/store"
)

func seedOrders(t *testing.T, st store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		status := "open"
		if i%2 == 1 {
			status = "closed"
		}
		data := fmt.Sprintf(`{"n": %d, "status": %q, "items": [{"sku": "A-%d", "qty": %d}]}`, i, status, i, i%5+1)
		if _, err := st.Insert(ctx, "orders", fmt.Sprintf("order-%03d", i), json.RawMessage(data), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserStoreBrowser drives the store browser in headless Chromium:
// sign in, filter, page, search as you type (the URL keeps the search),
// edit with a conflict, create, delete, import with a dry run.
func TestBrowserStoreBrowser(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	seedOrders(t, h.Store, 120)
	if _, err := h.Store.Insert(ctx, "sessions", "s1", json.RawMessage(`{"user":"ann"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	tb := h.tab(t, b)
	tb.open("/login")
	tb.shot("login")
	tb.signIn(h.Admin)
	tb.shot("namespaces")

	t.Run("namespaces filter", func(t *testing.T) {
		if !strings.Contains(tb.text("#ns-list"), "120") {
			t.Fatalf("orders count missing: %s", tb.text("#ns-list"))
		}
		tb.page().MustElement("#ns-filter").MustInput("sess")
		tb.waitFor(`() => !document.querySelector('#ns-list').textContent.includes('orders')`)
		if !strings.Contains(tb.text("#ns-list"), "sessions") {
			t.Fatalf("filter lost sessions: %s", tb.text("#ns-list"))
		}
		if !strings.Contains(tb.url(), "q=sess") {
			t.Errorf("URL does not hold the filter: %s", tb.url())
		}
	})

	t.Run("entries paging and search", func(t *testing.T) {
		tb.open("/entries?name=orders")
		tb.shot("entries")
		rows := tb.page().MustElements("table.entries tbody tr")
		if len(rows) != PageSize {
			t.Fatalf("page 1 has %d rows, want %d", len(rows), PageSize)
		}
		tb.submit("#next-page")
		if !strings.Contains(tb.text("#page-info"), "Page 2") || !strings.Contains(tb.text("#results"), "order-050") {
			t.Fatalf("page 2: %s", tb.text("#page-info"))
		}
		tb.open("/entries?name=orders")
		tb.page().MustElement("#q-prefix").MustInput("order-01")
		tb.waitFor(`() => document.querySelectorAll('table.entries tbody tr').length === 10`)
		tb.waitFor(`() => location.search.includes('prefix=order-01')`)
		tb.shot("entries-search")
		// The URL holds the search: reloading it shows the same result.
		tb.open(strings.TrimPrefix(tb.url(), h.URL))
		if n := len(tb.page().MustElements("table.entries tbody tr")); n != 10 {
			t.Fatalf("reloaded search shows %d rows", n)
		}
		if v := tb.page().MustElement("#q-prefix").MustProperty("value").String(); v != "order-01" {
			t.Errorf("reloaded search box holds %q", v)
		}
		// Exact data search, typed: while the JSON is incomplete a hint says so.
		tb.open("/entries?name=orders")
		tb.page().MustElement("#q-data").MustInput(`{"status":"closed","n":7,`)
		tb.waitFor(`() => !!document.querySelector('#data-error')`)
		tb.page().MustElement("#q-data").MustSelectAllText().MustInput(`{"n":7,"status":"closed","items":[{"qty":3,"sku":"A-7"}]}`)
		tb.waitFor(`() => document.querySelectorAll('table.entries tbody tr').length === 1`)
		if !strings.Contains(tb.text("#results"), "order-007") {
			t.Fatalf("data search: %s", tb.text("#results"))
		}
	})

	t.Run("edit with a conflict", func(t *testing.T) {
		tb.open("/entry?name=orders&key=order-003")
		tb.shot("entry")
		if !strings.Contains(tb.text("#entry-json"), `"sku": "A-3"`) {
			t.Fatalf("pretty JSON: %s", tb.text("#entry-json"))
		}
		if !tb.has("#entry-json .j-key") {
			t.Error("JSON is not highlighted")
		}
		// Invalid JSON is refused in the page with its line.
		tb.setEditor("#edit-data", "{\n  \"n\": 3,\n  \"status\": }")
		tb.page().MustElement("#save").MustClick()
		tb.waitFor(`() => !document.querySelector('#edit-error').hidden`)
		if msg := tb.text("#edit-error"); !strings.Contains(msg, "line 3") {
			t.Errorf("parse error without its line: %q", msg)
		}
		// Someone else writes while we edit.
		cur, _ := h.Store.FindNameKey(ctx, "orders", "order-003")
		if _, err := h.Store.Update(ctx, "orders", "order-003", json.RawMessage(`{"n":3,"by":"someone else"}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		tb.setEditor("#edit-data", `{"n": 3, "by": "me"}`)
		tb.submit("#save")
		if !tb.has("#conflict") {
			t.Fatalf("no conflict shown: %s", tb.text("main"))
		}
		tb.shot("entry-conflict")
		if !strings.Contains(tb.text("#conflict-theirs"), "someone else") || !strings.Contains(tb.text("#conflict-yours"), `"me"`) {
			t.Fatalf("conflict does not show both versions: %s", tb.text("#conflict"))
		}
		now, _ := h.Store.FindNameKey(ctx, "orders", "order-003")
		if !strings.Contains(string(now.Data), "someone else") || now.Version == cur.Version {
			t.Fatalf("the conflicting save overwrote: %s", now.Data)
		}
		// Saving from the current version works.
		tb.open("/entry?name=orders&key=order-003")
		tb.setEditor("#edit-data", `{"n": 3, "by": "me", "merged": true}`)
		tb.submit("#save")
		if !strings.Contains(tb.text(".flash.ok"), "Saved") {
			t.Fatalf("save: %s", tb.text("main"))
		}
		after, _ := h.Store.FindNameKey(ctx, "orders", "order-003")
		if string(after.Data) != `{"by":"me","merged":true,"n":3}` || after.Version <= now.Version {
			t.Fatalf("saved entry: %s v%d", after.Data, after.Version)
		}
		// Set a TTL, then clear it.
		tb.page().MustElement("#ttl-form select").MustSelect("hours")
		tb.page().MustElement("#ttl-form input[name=timeoutValue]").MustSelectAllText().MustInput("2")
		tb.submit("#set-ttl")
		e, _ := h.Store.FindNameKey(ctx, "orders", "order-003")
		if e.ExpiresAt == nil || !strings.Contains(tb.text("#entry-expires"), "1h") {
			t.Fatalf("TTL not set: %v %s", e.ExpiresAt, tb.text("#entry-expires"))
		}
		tb.page().MustElement("#ttl-form select").MustSelect("never")
		tb.submit("#set-ttl")
		if e, _ := h.Store.FindNameKey(ctx, "orders", "order-003"); e.ExpiresAt != nil {
			t.Fatalf("TTL not cleared: %v", e.ExpiresAt)
		}
	})

	t.Run("create and delete", func(t *testing.T) {
		tb.open("/new?name=orders")
		tb.page().MustElement("#new-key").MustInput("fresh/key with spaces")
		tb.setEditor("#new-data", `{"fresh": true}`)
		tb.page().MustElement("#new-form select[name=timeoutUnit]").MustSelect("days")
		tb.page().MustElement("#new-form input[name=timeoutValue]").MustInput("7")
		tb.shot("new-entry")
		tb.submit("#create")
		if tb.text("#entry-key") != "fresh/key with spaces" {
			t.Fatalf("after create: %s", tb.text("main"))
		}
		e, err := h.Store.FindNameKey(ctx, "orders", "fresh/key with spaces")
		if err != nil || e.ExpiresAt == nil {
			t.Fatalf("created entry: %+v %v", e, err)
		}
		// Creating it again is refused with already_exists.
		tb.open("/new?name=orders")
		tb.page().MustElement("#new-key").MustInput("fresh/key with spaces")
		tb.setEditor("#new-data", `1`)
		tb.submit("#create")
		if !strings.Contains(tb.text("#new-error"), "already_exists") {
			t.Fatalf("duplicate create: %s", tb.text("main"))
		}
		// Delete with confirmation.
		tb.open("/entry?name=orders&key=" + "fresh%2Fkey%20with%20spaces")
		tb.submit("#delete")
		tb.shot("delete-confirm")
		if _, err := h.Store.FindNameKey(ctx, "orders", "fresh/key with spaces"); err != nil {
			t.Fatal("deleted before confirmation")
		}
		tb.submit("#confirm-delete")
		if _, err := h.Store.FindNameKey(ctx, "orders", "fresh/key with spaces"); store.CodeOf(err) != store.CodeNotFound {
			t.Fatalf("not deleted: %v", err)
		}
		// Bulk delete of selected rows.
		tb.open("/entries?name=orders&prefix=order-11")
		tb.page().MustElement("[data-select-all]").MustClick()
		tb.submit("#bulk-delete")
		if n := len(tb.page().MustElements("ul.keys li")); n != 10 {
			t.Fatalf("bulk confirmation lists %d keys", n)
		}
		tb.submit("#confirm-delete")
		pg, _ := h.Store.List(ctx, "orders", "order-11", "", 100)
		if len(pg.Entries) != 0 {
			t.Fatalf("bulk delete left %d entries", len(pg.Entries))
		}
	})

	t.Run("import with a dry run", func(t *testing.T) {
		dir := t.TempDir()
		f := filepath.Join(dir, "orders.jsonl")
		lines := []string{
			`{"name":"orders","key":"order-000","data":{"n":0,"status":"open","items":[{"sku":"A-0","qty":1}]}}`, // unchanged
			`{"name":"orders","key":"order-001","data":{"changed":true}}`,                                        // changed
			`{"name":"orders","key":"imported-1","data":[1,2,3]}`,                                                // new
			`{"name":"orders","key":"imported-2","data":"text"}`,                                                 // new
		}
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tb.open("/import")
		tb.page().MustElement("#import-file").MustSetFiles(f)
		tb.submit("#dry-run")
		tb.shot("import-dry-run")
		got := fmt.Sprintf("%s/%s/%s", tb.text("#count-new"), tb.text("#count-changed"), tb.text("#count-unchanged"))
		if got != "2/1/1" {
			t.Fatalf("dry run new/changed/unchanged = %s, want 2/1/1", got)
		}
		if _, err := h.Store.FindNameKey(ctx, "orders", "imported-1"); store.CodeOf(err) != store.CodeNotFound {
			t.Fatal("the dry run wrote")
		}
		tb.submit("#apply-import")
		if e, err := h.Store.FindNameKey(ctx, "orders", "imported-1"); err != nil || string(e.Data) != "[1,2,3]" {
			t.Fatalf("import did not write: %v", err)
		}
		if e, _ := h.Store.FindNameKey(ctx, "orders", "order-001"); string(e.Data) != `{"changed":true}` {
			t.Fatalf("changed entry: %s", e.Data)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tb.submit("#signout")
		if !strings.Contains(tb.url(), "/login") {
			t.Fatalf("after sign out: %s", tb.url())
		}
		tb.open("/namespaces")
		if !strings.Contains(tb.url(), "/login") {
			t.Fatalf("signed out but /namespaces shows: %s", tb.url())
		}
	})
	if n := tb.dialogs.Load(); n != 0 {
		t.Errorf("%d unexpected dialogs", n)
	}
}

var _ = proto.InputMouseButtonLeft
