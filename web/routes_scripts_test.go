package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestScriptRoutes(t *testing.T) {
	h := newSQLite(t)
	src := `const orders = await openKv('orders');
const r = await orders.atomic().sum(['count'], input.n).commit();
console.log('ok', r.ok);
return {count: (await orders.get(['count'])).value};`

	// Saving needs scope flows (even *:write is not enough); a syntax error
	// is 400 with the position.
	want(t, h.do(http.MethodPut, "/v1/scripts/count", h.token("orders:write"), map[string]string{"source": src}), http.StatusForbidden, "access_denied")
	want(t, h.do(http.MethodPut, "/v1/scripts/count", h.token("*:write"), map[string]string{"source": src}), http.StatusForbidden, "access_denied")
	r := h.do(http.MethodPut, "/v1/scripts/broken", h.admin, map[string]string{"source": "return ("})
	want(t, r, http.StatusBadRequest, "invalid_argument")
	r = h.do(http.MethodPut, "/v1/scripts/count", h.admin, map[string]string{"source": src})
	want(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["name"] != "count" || m["version"] == nil {
		t.Fatalf("put: %s", r.Body)
	}
	r = h.do(http.MethodGet, "/v1/scripts/count", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if r.JSON(t)["source"] != src {
		t.Fatalf("get: %s", r.Body)
	}
	r = h.do(http.MethodGet, "/v1/scripts", h.admin, nil)
	want(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), `"name":"count"`) {
		t.Fatalf("list: %s", r.Body)
	}

	// Running takes its grants from the calling token.
	orders := h.token("orders:write")
	r = h.do(http.MethodPost, "/v1/operations/scripts", orders, map[string]any{"script": "count", "input": map[string]int{"n": 2}})
	want(t, r, http.StatusOK, "")
	if string(r.Body) != `{"count":2}` {
		t.Fatalf("run: %s", r.Body)
	}
	r = h.do(http.MethodPost, "/v1/operations/scripts?logs=true", orders, map[string]any{"script": "count", "input": map[string]int{"n": 3}})
	want(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), `"result":{"count":5}`) || !strings.Contains(string(r.Body), `"message":"ok true"`) {
		t.Fatalf("run with logs: %s", r.Body)
	}
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", h.token("other:write"), map[string]any{"script": "count", "input": map[string]int{"n": 1}}), http.StatusForbidden, "access_denied")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", h.token("orders:read"), map[string]any{"script": "count", "input": map[string]int{"n": 1}}), http.StatusForbidden, "access_denied")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", orders, map[string]any{"script": "missing"}), http.StatusNotFound, "not_found")
	// Inline source needs scope flows.
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", orders, map[string]any{"source": "return 1"}), http.StatusForbidden, "access_denied")
	inline := h.flowsToken("orders:write")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", inline, map[string]any{"source": "for (;;) {}"}), http.StatusRequestTimeout, "timeout")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", inline, map[string]any{"source": "return 'x'.repeat(2 << 20)"}), http.StatusRequestEntityTooLarge, "too_large")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", inline, map[string]any{"source": "throw new Error('boom')"}), http.StatusBadRequest, "invalid_argument")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", orders, map[string]any{}), http.StatusBadRequest, "invalid_argument")
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", "", map[string]any{"script": "count"}), http.StatusUnauthorized, "unauthenticated")
	// Scripts never reach flowkv's own records, even with an admin token.
	want(t, h.do(http.MethodPost, "/v1/operations/scripts", h.admin, map[string]any{"source": "return await dataStore.findNameKey('_flowkv.scripts', 'count')"}), http.StatusForbidden, "access_denied")

	want(t, h.do(http.MethodDelete, "/v1/scripts/count", h.admin, nil), http.StatusOK, "")
	want(t, h.do(http.MethodDelete, "/v1/scripts/count", h.admin, nil), http.StatusNotFound, "not_found")
}
