package ui

import (
	"strings"
	"testing"
)

// TestBrowserFilterBuilder drives the filter builder in headless Chromium:
// condition rows added with the button, results and the match count as you
// type, the search in the URL, a column header that sorts, and delete all
// matching after a confirmation stating the count.
func TestBrowserFilterBuilder(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t)
	seedOrders(t, h.Store, 120)
	tb := h.tab(t, b)
	tb.signIn(h.Admin)
	tb.open("/entries?name=orders")
	row := func(i int) string { return "#filter .cond-row:nth-of-type(" + string(rune('0'+i)) + ")" }
	tb.page().MustElement(row(1) + ` input[name="f"]`).MustInput("status")
	tb.page().MustElement(row(1) + ` input[name="v"]`).MustInput("closed")
	tb.page().MustElement("#filter [data-add-row]").MustClick()
	tb.waitFor(`() => document.querySelectorAll('#filter .cond-row').length === 2`)
	tb.page().MustElement(row(2) + ` input[name="f"]`).MustInput("n")
	selectValue(t, tb.page().MustElement(row(2)+` select[name="op"]`), "gte")
	tb.page().MustElement(row(2) + ` input[name="v"]`).MustInput("100")
	// closed orders have odd n: 101, 103, …, 119.
	tb.waitFor(`() => (document.querySelector('#match-count') || {}).textContent && document.querySelector('#match-count').textContent.includes('10 matches')`)
	tb.waitFor(`() => location.search.includes('f=status') && location.search.includes('v=100')`)
	tb.shot("filter")
	if n := len(tb.page().MustElements("table.entries tbody tr")); n != 10 {
		t.Fatalf("%d rows for the filter", n)
	}
	// Sort by the n column: ascending, then descending.
	tb.submit(`th a[data-sort="n"]`)
	if first := tb.text("table.entries tbody tr:first-child td.key"); first != "order-101" {
		t.Fatalf("ascending by n starts with %q", first)
	}
	tb.submit(`th a[data-sort="n"]`)
	if first := tb.text("table.entries tbody tr:first-child td.key"); first != "order-119" {
		t.Fatalf("descending by n starts with %q", first)
	}
	if !strings.Contains(tb.url(), "order=-n") {
		t.Errorf("the URL does not hold the order: %s", tb.url())
	}
	// Delete all matching: the confirmation says how many.
	tb.submit("#delete-matching")
	if got := tb.text("#delete-matching-title"); !strings.Contains(got, "Delete 10 entries") {
		t.Fatalf("confirmation: %q", got)
	}
	tb.shot("delete-matching")
	tb.submit("#confirm-delete")
	if !strings.Contains(tb.text("main"), "Deleted 10 matching entries") {
		t.Fatalf("after deleting: %s", tb.text("main"))
	}
	if n := countIn(t, h, "orders"); n != 110 {
		t.Fatalf("%d entries left", n)
	}
}
