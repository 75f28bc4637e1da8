package ui

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

// TestBrowserEntryGoneWhileEditing: an entry deleted (or expired) while
// its page is open, then saved, offers to re-create it with the edited
// data — it used to show "UPDATED 0001-01-01", "Data null" and no way to
// save. Re-creating writes the edited data; someone re-creating it first
// makes the insert fail with a message, nothing overwritten.
func TestBrowserEntryGoneWhileEditing(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	ctx := context.Background()
	put := func(key, data string) {
		t.Helper()
		if _, err := h.Store.Upsert(ctx, "orders", key, json.RawMessage(data), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("G-1", `{"v": 1}`)
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/entry?name=orders&key=G-1")
	if _, err := h.Store.Delete(ctx, "orders", "G-1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.setEditor("#edit-data", `{"v": 2, "note": "edited"}`)
	tb.submit("#save")
	tb.shot("entry-gone")
	if !tb.has("#entry-gone") || strings.Contains(tb.text("main"), "0001-01-01") {
		t.Fatalf("gone entry page: %s", tb.text("main"))
	}
	if got := tb.page().MustElement("#new-data").MustProperty("value").String(); !strings.Contains(got, `"edited"`) {
		t.Fatalf("the edited data is not offered: %q", got)
	}
	if tb.page().MustElement("#new-name").MustProperty("value").String() != "orders" || tb.page().MustElement("#new-key").MustProperty("value").String() != "G-1" {
		t.Fatal("namespace or key not kept")
	}
	tb.submit("#create")
	e, err := h.Store.FindNameKey(ctx, "orders", "G-1")
	if err != nil || !strings.Contains(string(e.Data), "edited") {
		t.Fatalf("re-created entry: %v %s", err, e.Data)
	}
	if !strings.Contains(tb.url(), "/entry?") || !strings.Contains(tb.text("#entry-json"), "edited") {
		t.Fatalf("after re-create at %s: %s", tb.url(), tb.text("main"))
	}

	// Someone else re-creates it between the two steps: nothing is
	// overwritten, the form says why and keeps the data.
	tb.open("/entry?name=orders&key=G-1")
	if _, err := h.Store.Delete(ctx, "orders", "G-1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.setEditor("#edit-data", `{"v": 3}`)
	tb.submit("#save")
	put("G-1", `{"v": "theirs"}`)
	tb.submit("#create")
	if !tb.has("#new-error") {
		t.Fatalf("no error when the key exists again: %s", tb.text("main"))
	}
	if e, _ := h.Store.FindNameKey(ctx, "orders", "G-1"); !strings.Contains(string(e.Data), "theirs") {
		t.Fatalf("overwritten: %s", e.Data)
	}
}
