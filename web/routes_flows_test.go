package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks"
)

const hookFlow = `
id: orders-hook
dataStores: [orders]
trigger: {type: webhook, secret: hush}
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: "{{ input }}"
  - id: count
    type: dataStore
    operation: atomicIncrement
    name: orders
    key: _count
`

func TestFlowRoutes(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)

	// Put: YAML body, id must match, validation lists problems, grants apply.
	r := h.do(http.MethodPut, "/v1/flows/orders-hook", h.admin, hookFlow, "Content-Type", "application/yaml")
	want(t, r, http.StatusOK, "")
	put := r.JSON(t)
	if put["id"] != "orders-hook" || put["uuid"] == "" {
		t.Fatalf("put answer %s", r.Body)
	}
	r = h.do(http.MethodPut, "/v1/flows/other", h.admin, hookFlow)
	want(t, r, http.StatusBadRequest, "invalid_argument")
	bad := strings.Replace(hookFlow, "operation: upsert", "operation: upsertt", 1)
	bad = strings.Replace(bad, "name: orders\n    key: _count", "name: elsewhere\n    key: _count", 1)
	r = h.do(http.MethodPut, "/v1/flows/orders-hook", h.admin, bad)
	want(t, r, http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(string(r.Body), "block save, field operation") || !strings.Contains(string(r.Body), "block count, field name") {
		t.Errorf("validation answer does not list every problem: %s", r.Body)
	}
	narrow := h.flowsToken("other:write")
	r = h.do(http.MethodPut, "/v1/flows/orders-hook", narrow, hookFlow)
	want(t, r, http.StatusForbidden, "access_denied")
	r = h.do(http.MethodPost, "/v1/flows/orders-hook/runs", narrow, map[string]any{"input": map[string]any{"id": "x"}})
	want(t, r, http.StatusForbidden, "access_denied") // names the namespace it cannot use
	if !strings.Contains(string(r.Body), `namespace \"orders\"`) {
		t.Errorf("refusal does not name the namespace: %s", r.Body)
	}
	r = h.do(http.MethodGet, "/v1/flows", narrow, nil)
	want(t, r, http.StatusOK, "")
	if flows := r.JSON(t)["flows"].([]any); len(flows) != 0 {
		t.Errorf("narrow token lists %d flows", len(flows))
	}

	// Run through the API.
	r = h.do(http.MethodPost, "/v1/flows/orders-hook/runs", h.admin, map[string]any{"input": map[string]any{"id": "o-1", "total": 3}})
	want(t, r, http.StatusOK, "")
	var run blocks.Run
	if err := json.Unmarshal(r.Body, &run); err != nil || run.Status != blocks.StatusSucceeded || len(run.Blocks) != 2 {
		t.Fatalf("run answer: %v %s", err, r.Body)
	}
	r = h.do(http.MethodGet, "/v1/store/orders/o-1", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if e := r.JSON(t); e["flowUuid"] != put["uuid"] {
		t.Errorf("entry flowUuid %v, want %v", e["flowUuid"], put["uuid"])
	}

	// Webhook: secret required, body is the input, no token.
	r = h.do(http.MethodPost, "/hooks/orders-hook", "", `{"id":"o-2"}`)
	want(t, r, http.StatusUnauthorized, "unauthenticated")
	r = h.do(http.MethodPost, "/hooks/orders-hook", "", `{"id":"o-2"}`, "X-Flowkv-Secret", "hush")
	want(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["status"] != "succeeded" || m["output"].(map[string]any)["value"] != 2.0 {
		t.Errorf("hook answer %s", r.Body)
	}
	r = h.do(http.MethodPost, "/hooks/nosuch", "", `{}`)
	want(t, r, http.StatusNotFound, "not_found")

	// Runs, newest first, and one run.
	r = h.do(http.MethodGet, "/v1/flows/orders-hook/runs?limit=1", h.admin, nil)
	want(t, r, http.StatusOK, "")
	var page blocks.RunPage
	if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Runs) != 1 || page.Runs[0].Trigger != "webhook" || page.NextCursor == "" {
		t.Fatalf("runs page: %v %s", err, r.Body)
	}
	r = h.do(http.MethodGet, "/v1/flows/orders-hook/runs?cursor="+page.NextCursor, h.admin, nil)
	want(t, r, http.StatusOK, "")
	var page2 blocks.RunPage
	_ = json.Unmarshal(r.Body, &page2)
	if len(page2.Runs) != 1 || page2.Runs[0].ID != run.ID {
		t.Errorf("second page: %s", r.Body)
	}
	r = h.do(http.MethodGet, "/v1/flows/orders-hook/runs/"+run.ID, h.admin, nil)
	want(t, r, http.StatusOK, "")

	// Blocks specs for the editor.
	r = h.do(http.MethodGet, "/v1/blocks", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), `"type":"dataStore"`) {
		t.Errorf("blocks answer: %.200s", r.Body)
	}

	// Delete.
	r = h.do(http.MethodDelete, "/v1/flows/orders-hook", h.admin, nil)
	want(t, r, http.StatusOK, "")
	r = h.do(http.MethodPost, "/hooks/orders-hook", "", `{}`, "X-Flowkv-Secret", "hush")
	want(t, r, http.StatusNotFound, "not_found")
}
