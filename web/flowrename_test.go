package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Renaming keeps the flow's UUID and its run history (runs listed under
// the new id); the old id is gone; the stored source keeps every byte but
// the id — comments, and CRLF line endings in a code block, as written.
func TestFlowRenameKeepsHistoryAndSource(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	src := "# counts orders\r\nid: \"orders-count\"   # the id, quoted\nDATASTORES\ntrigger: manual\nblocks:\n" +
		"  - id: count   # one block\n    type: javascript\n    code: \"const n = (input && input.n) || 1;\\r\\nreturn {n};\\r\\n\"\n"
	src = strings.Replace(src, "DATASTORES", "dataStores: [orders]", 1)
	r := h.do(http.MethodPut, "/v1/flows/orders-count", h.admin, src, "Content-Type", "application/yaml")
	want(t, r, http.StatusOK, "")
	uuid := r.JSON(t)["uuid"]
	r = h.do(http.MethodGet, "/v1/flows/orders-count", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if got := r.JSON(t)["source"]; got != src {
		t.Fatalf("source not kept byte for byte:\n got %q\nwant %q", got, src)
	}
	for i := 0; i < 3; i++ {
		want(t, h.do(http.MethodPost, "/v1/flows/orders-count/runs", h.admin, map[string]any{"input": map[string]int{"n": i}}), http.StatusOK, "")
	}

	// Refusals: a bad id, an existing id, a token without scope flows.
	want(t, h.do(http.MethodPost, "/v1/flows/orders-count/rename", h.admin, map[string]string{"id": "no spaces"}), http.StatusBadRequest, "invalid_argument")
	other := strings.NewReplacer(`"orders-count"`, "taken").Replace(src)
	want(t, h.do(http.MethodPut, "/v1/flows/taken", h.admin, other), http.StatusOK, "")
	want(t, h.do(http.MethodPost, "/v1/flows/orders-count/rename", h.admin, map[string]string{"id": "taken"}), http.StatusConflict, "already_exists")
	want(t, h.do(http.MethodPost, "/v1/flows/orders-count/rename", h.token("orders:write"), map[string]string{"id": "x"}), http.StatusForbidden, "access_denied")
	want(t, h.do(http.MethodPost, "/v1/flows/missing/rename", h.admin, map[string]string{"id": "x"}), http.StatusNotFound, "not_found")

	r = h.do(http.MethodPost, "/v1/flows/orders-count/rename", h.admin, map[string]string{"id": "order-counter"})
	want(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["id"] != "order-counter" || m["uuid"] != uuid {
		t.Fatalf("rename answer %s (uuid was %v)", r.Body, uuid)
	}
	want(t, h.do(http.MethodGet, "/v1/flows/orders-count", h.admin, nil), http.StatusNotFound, "not_found")
	r = h.do(http.MethodGet, "/v1/flows/order-counter", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["uuid"] != uuid || m["source"] != strings.Replace(src, `"orders-count"`, `"order-counter"`, 1) {
		t.Fatalf("renamed flow %s", r.Body)
	}
	r = h.do(http.MethodGet, "/v1/flows/order-counter/runs", h.admin, nil)
	want(t, r, http.StatusOK, "")
	var page struct{ Runs []struct{ FlowUUID string } }
	if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Runs) != 3 || page.Runs[0].FlowUUID != uuid {
		t.Fatalf("runs under the new id: %s", r.Body)
	}
	// It runs under its new id, with the same UUID, and its history grows.
	r = h.do(http.MethodPost, "/v1/flows/order-counter/runs", h.admin, map[string]any{"input": map[string]int{"n": 7}})
	want(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["status"] != "succeeded" || m["flowUuid"] != uuid {
		t.Fatalf("run after rename: %s", r.Body)
	}
}
