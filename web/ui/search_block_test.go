package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The Data Store block's Search conditions are edited as rows: the form
// posts field, operator and value per row (an empty row adds nothing),
// values are JSON when they parse as JSON, and the saved flow shows them
// again as rows.
func TestSearchConditionRows(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.client()
	c.signIn(h.Admin)
	form := url.Values{"id": {"paid"}, "dataStores": {"orders"}, "trigger": {"manual"},
		"card": {"c1"}, "b.c1.type": {"dataStore"}, "b.c1.id": {"search"}, "b.c1.operation": {"search"}, "b.c1.name": {"orders"},
		"b.c1.where.field": {"status", "total", "code", ""},
		"b.c1.where.op":    {"eq", "gt", "eq", "eq"},
		"b.c1.where.value": {"paid", "{{ input.min }}", `"10"`, ""},
		"b.c1.orderBy":     {"-total"}, "b.c1.count": {"false", "true"}, "b.c1.limit": {"50"}, "b.c1.match": {"all"}}
	if st, body, _ := c.post("/flow/save", form); st != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", st, body)
	}
	sf, err := h.Engine.GetFlow(ctx, "paid")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(sf.Flow.Blocks[0].Fields["where"])
	if string(got) != `[{"field":"status","op":"eq","value":"paid"},{"field":"total","op":"gt","value":"{{ input.min }}"},{"field":"code","op":"eq","value":"10"}]` {
		t.Fatalf("stored conditions: %s", got)
	}
	st, body := c.get("/flow?id=paid")
	if st != http.StatusOK {
		t.Fatalf("flow page: %d", st)
	}
	for _, want := range []string{`name="b.c1.where.field" value="status"`, `value="{{ input.min }}"`, `value="&#34;10&#34;"`, `<option value="gt" selected`, `data-add-row`} {
		if !strings.Contains(body, want) {
			t.Errorf("the editor does not show %s", want)
		}
	}
	// An unknown operator is a problem on the conditions field.
	form.Set("original", "paid")
	form["b.c1.where.op"] = []string{"like", "gt", "eq", "eq"}
	st, body, _ = c.post("/flow/save", form)
	if st == http.StatusSeeOther || !strings.Contains(body, "unknown operator") {
		t.Fatalf("an unknown operator saved: %d", st)
	}
}
