package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

// The store browser's filter builder: condition rows in the URL, the match
// count, sortable columns, delete all matching after a confirmation that
// states the count, and the namespace's indexes with create and delete.
func TestFilterBuilder(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for i := range 113 {
		status := []string{"paid", "open", "void"}[i%3]
		if _, err := h.Store.Upsert(ctx, "orders", fmt.Sprintf("o-%03d", i), json.RawMessage(fmt.Sprintf(`{"customer":"c%d","status":%q,"total":%d}`, i%7, status, (i*37)%250)), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client()
	c.signIn(h.Admin)
	// The case: the exact data search of {"status":"paid"} finds
	// nothing, the filter finds the paid orders.
	q := url.Values{"name": {"orders"}, "f": {"status", "total", ""}, "op": {"eq", "gt", "eq"}, "v": {"paid", "100", ""}, "order": {"-total"}}
	st, body := c.get("/entries?" + q.Encode())
	if st != http.StatusOK {
		t.Fatalf("filter: %d\n%s", st, body)
	}
	want := 0
	for i := range 113 {
		if i%3 == 0 && (i*37)%250 > 100 {
			want++
		}
	}
	if !strings.Contains(body, fmt.Sprintf("<strong>%d matches</strong>", want)) {
		t.Fatalf("no count of %d in the page", want)
	}
	// Rows are in order of total, largest first; the columns show it.
	re := regexp.MustCompile(`<td class="cell"><code>(\d+)</code></td>`)
	var totals []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		totals = append(totals, m[1])
	}
	if len(totals) == 0 {
		t.Fatal("no total column")
	}
	for i := 1; i < len(totals); i++ {
		a, _ := strconv.Atoi(totals[i-1])
		b, _ := strconv.Atoi(totals[i])
		if a < b {
			t.Fatalf("totals not largest first: %v", totals)
		}
	}
	for _, want := range []string{`name="f" value="status"`, `name="v" value="100"`, `<option value="gt" selected`, `aria-sort="descending"`, `id="delete-matching"`, `<option value="customer">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Delete all matching: the confirmation states the count.
	form := url.Values{"name": {"orders"}, "q.f": {"status", "total"}, "q.op": {"eq", "gt"}, "q.v": {"paid", "100"}, "q.order": {"-total"}}
	st, body, _ = c.post("/entries/delete-matching", form)
	if st != http.StatusOK || !strings.Contains(body, fmt.Sprintf("Delete %d entries from", want)) {
		t.Fatalf("confirmation: %d\n%s", st, body)
	}
	if n := countIn(t, h, "orders"); n != 113 {
		t.Fatalf("the confirmation deleted something: %d left", n)
	}
	form.Set("confirm", "yes")
	form.Del("_csrf")
	if st, _, hdr := c.post("/entries/delete-matching", form); st != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), fmt.Sprintf("done=deleted-%d", want)) {
		t.Fatalf("delete matching: %d %s", st, hdr.Get("Location"))
	}
	if n := countIn(t, h, "orders"); n != 113-want {
		t.Fatalf("%d entries left, want %d", n, 113-want)
	}
	// Indexes: create from the page, listed, used by the filter, deleted.
	if st, _, _ := c.post("/index/create", url.Values{"name": {"orders"}, "field": {"status"}}); st != http.StatusSeeOther {
		t.Fatalf("create index: %d", st)
	}
	_, body = c.get("/entries?" + url.Values{"name": {"orders"}, "f": {"status"}, "op": {"eq"}, "v": {"open"}}.Encode())
	if !strings.Contains(body, "<code>status</code> <span class=\"badge ready\">") || !strings.Contains(body, "index <code>status</code>") {
		t.Fatalf("the index is not listed or not used:\n%s", body)
	}
	if st, _, _ := c.post("/index/delete", url.Values{"name": {"orders"}, "field": {"status"}}); st != http.StatusSeeOther {
		t.Fatalf("delete index: %d", st)
	}
	if ix, _ := h.Store.Indexes(ctx, "orders"); len(ix) != 0 {
		t.Fatalf("indexes after delete: %+v", ix)
	}
	// A reader sees the filter but cannot delete or change indexes.
	ro := h.client()
	ro.signIn(h.token("orders:read"))
	if st, body := ro.get("/entries?" + q.Encode()); st != http.StatusOK || strings.Contains(body, "delete-matching") || strings.Contains(body, "index-create") {
		t.Fatalf("reader: %d", st)
	}
	if st, _, _ := ro.post("/entries/delete-matching", form); st != http.StatusForbidden {
		t.Fatalf("reader deletes matching: %d", st)
	}
	if st, _, _ := ro.post("/index/create", url.Values{"name": {"orders"}, "field": {"status"}}); st != http.StatusForbidden {
		t.Fatalf("reader creates an index: %d", st)
	}
	// A bad condition is an error on the page, not a failure.
	if st, body := c.get("/entries?" + url.Values{"name": {"orders"}, "f": {"total"}, "op": {"lt"}, "v": {"true"}}.Encode()); st != http.StatusOK || !strings.Contains(body, "invalid_argument") {
		t.Fatalf("bad condition: %d", st)
	}
}

func countIn(t *testing.T, h *harness, name string) int {
	t.Helper()
	p, err := h.Store.Query(context.Background(), store.Query{Name: name, Count: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return int(*p.Count)
}
