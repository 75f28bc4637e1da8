package web_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store/dynamostore"
)

// TestPostgresSmoke runs the main paths on PostgreSQL: tokens in the
// reserved namespace, CRUD with If-Match, prefix listing, the
// Database-module API, grants and percent-encoded segments.
func TestPostgresSmoke(t *testing.T) {
	smoke(t, newHarness(t, testenv.PostgresDSN(t)))
}

// TestDynamoSmoke: the same on DynamoDB (Local): tokens live in the raw
// store, so they work on every backend.
func TestDynamoSmoke(t *testing.T) {
	ep := testenv.DynamoEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: ep, Table: testenv.UniqueName("flowkv_web_")})
	if err != nil {
		t.Fatal(err)
	}
	smoke(t, newHarnessOn(t, st))
}

func smoke(t *testing.T, h *harness) {
	t.Helper()
	tok := h.admin
	r := h.do("POST", "/v1/store/orders/o-1", tok, map[string]any{"data": map[string]any{"total": 1}})
	want(t, r, 201, "")
	v := r.Header.Get("ETag")
	want(t, h.do("PUT", "/v1/store/orders/o-1", tok, map[string]any{"data": 2}, "If-Match", v), 200, "")
	want(t, h.do("PUT", "/v1/store/orders/o-1", tok, map[string]any{"data": 3}, "If-Match", v), 409, "conflict")
	want(t, h.do("PUT", "/v1/store/orders/o-2", tok, map[string]any{"data": 4, "timeoutUnit": "minutes", "timeoutValue": 5}), 200, "")
	r = h.do("GET", "/v1/store/orders?prefix=o-&limit=1", tok, nil)
	want(t, r, 200, "")
	c := r.JSON(t)["nextCursor"].(string)
	r = h.do("GET", "/v1/store/orders?prefix=o-&limit=1&cursor="+url.QueryEscape(c), tok, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["key"] != "o-2" {
		t.Fatalf("second page: %s", r.Body)
	}
	want(t, h.do("POST", "/v1/operations/data", tok, map[string]any{"key": "session:1", "value": map[string]any{"u": 1}, "ttl": 3600}), 200, "")
	r = h.do("GET", "/v1/operations/data?key=session:1", tok, nil)
	if r.JSON(t)["value"].(map[string]any)["u"] != float64(1) {
		t.Fatalf("scan key: %s", r.Body)
	}
	want(t, h.do("PUT", "/v1/store/"+url.PathEscape("a/b: c")+"/"+url.PathEscape("x/y z"), tok, map[string]any{"data": 1}), 200, "")
	want(t, h.do("GET", "/v1/store/a%2Fb%3A%20c/x%2Fy%20z", tok, nil), 200, "")
	ro := h.token("orders:read")
	want(t, h.do("GET", "/v1/store/orders/o-1", ro, nil), 200, "")
	want(t, h.do("DELETE", "/v1/store/orders/o-1", ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/operations/data?key=session:1", ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/store/orders/o-1", "", nil), 401, "unauthenticated")
	want(t, h.do("GET", "/readyz", "", nil), 200, "")
	querySmoke(t, h)
}
