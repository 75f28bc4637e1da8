package web_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDoneWhen is the scenario: insert, read, conditional update
// (stale If-Match → 409), list by prefix with a cursor, delete.
func TestDoneWhen(t *testing.T) {
	h := newSQLite(t)
	tok := h.admin

	r := h.do("POST", "/v1/store/orders/o-1", tok, map[string]any{"data": map[string]any{"total": 12, "items": []string{"a"}}})
	want(t, r, 201, "")
	e := r.JSON(t)
	if e["name"] != "orders" || e["key"] != "o-1" || e["version"] == nil {
		t.Fatalf("insert answer: %s", r.Body)
	}
	v1 := int64(e["version"].(float64))
	if r.Header.Get("ETag") != strconv.Quote(strconv.FormatInt(v1, 10)) {
		t.Fatalf("ETag %q, want version %d", r.Header.Get("ETag"), v1)
	}
	want(t, h.do("POST", "/v1/store/orders/o-1", tok, map[string]any{"data": 1}), 409, "already_exists")

	r = h.do("GET", "/v1/store/orders/o-1", tok, nil)
	want(t, r, 200, "")
	if d := r.JSON(t)["data"].(map[string]any); d["total"] != float64(12) {
		t.Fatalf("read back %s", r.Body)
	}

	r = h.do("PUT", "/v1/store/orders/o-1", tok, map[string]any{"data": map[string]any{"total": 13}}, "If-Match", strconv.FormatInt(v1, 10))
	want(t, r, 200, "")
	v2 := int64(r.JSON(t)["version"].(float64))
	if v2 <= v1 {
		t.Fatalf("version %d after %d", v2, v1)
	}
	// The old version is stale now: PUT, PATCH and DELETE all refuse.
	stale := strconv.FormatInt(v1, 10)
	want(t, h.do("PUT", "/v1/store/orders/o-1", tok, map[string]any{"data": 0}, "If-Match", stale), 409, "conflict")
	want(t, h.do("PATCH", "/v1/store/orders/o-1", tok, map[string]any{"data": 0}, "If-Match", `"`+stale+`"`), 409, "conflict")
	want(t, h.do("DELETE", "/v1/store/orders/o-1", tok, nil, "If-Match", stale), 409, "conflict")
	r = h.do("GET", "/v1/store/orders/o-1", tok, nil)
	if d := r.JSON(t)["data"].(map[string]any); d["total"] != float64(13) {
		t.Fatalf("a stale write changed the entry: %s", r.Body)
	}
	want(t, h.do("PUT", "/v1/store/orders/o-1", tok, nil, "If-Match", "abc"), 400, "invalid_argument")

	// PATCH on an absent entry is not_found; PUT creates.
	want(t, h.do("PATCH", "/v1/store/orders/nope", tok, map[string]any{"data": 1}), 404, "not_found")
	want(t, h.do("GET", "/v1/store/orders/nope", tok, nil), 404, "not_found")

	for i := 2; i <= 6; i++ {
		want(t, h.do("PUT", fmt.Sprintf("/v1/store/orders/o-%d", i), tok, map[string]any{"data": i}), 200, "")
	}
	want(t, h.do("PUT", "/v1/store/orders/x-1", tok, map[string]any{"data": "other prefix"}), 200, "")

	// List by prefix, two per page, following the cursor.
	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("cursor never ends")
		}
		r = h.do("GET", "/v1/store/orders?prefix=o-&limit=2&cursor="+url.QueryEscape(cursor), tok, nil)
		want(t, r, 200, "")
		m := r.JSON(t)
		for _, it := range m["items"].([]any) {
			keys = append(keys, it.(map[string]any)["key"].(string))
		}
		cursor, _ = m["nextCursor"].(string)
		if cursor == "" {
			break
		}
	}
	if got := strings.Join(keys, ","); got != "o-1,o-2,o-3,o-4,o-5,o-6" {
		t.Fatalf("prefix listing %s", got)
	}
	// offset paging (findName)
	r = h.do("GET", "/v1/store/orders?limit=2&offset=5", tok, nil)
	want(t, r, 200, "")
	if items := r.JSON(t)["items"].([]any); len(items) != 2 || items[0].(map[string]any)["key"] != "o-6" {
		t.Fatalf("offset page %s", r.Body)
	}
	want(t, h.do("GET", "/v1/store/orders?offset=1&cursor=abc", tok, nil), 400, "invalid_argument")
	want(t, h.do("GET", "/v1/store/orders?limit=x", tok, nil), 400, "invalid_argument")

	// Delete, then it is gone; deleting again reports false.
	r = h.do("DELETE", "/v1/store/orders/o-1", tok, nil, "If-Match", strconv.FormatInt(v2, 10))
	want(t, r, 200, "")
	if r.JSON(t)["deleted"] != true {
		t.Fatalf("delete: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/store/orders/o-1", tok, nil), 404, "not_found")
	r = h.do("DELETE", "/v1/store/orders/o-1", tok, nil)
	want(t, r, 200, "")
	if r.JSON(t)["deleted"] != false {
		t.Fatalf("second delete: %s", r.Body)
	}
}

func TestFetchAndNames(t *testing.T) {
	h := newSQLite(t)
	tok := h.admin
	want(t, h.do("PUT", "/v1/store/orders/a", tok, map[string]any{"data": map[string]any{"s": "paid", "n": 1}}), 200, "")
	want(t, h.do("PUT", "/v1/store/orders/b", tok, map[string]any{"data": map[string]any{"s": "open"}}), 200, "")
	want(t, h.do("PUT", "/v1/store/users/a", tok, map[string]any{"data": map[string]any{"n": 1, "s": "paid"}}), 200, "")

	// exact data match, key order insensitive, across namespaces
	r := h.do("GET", "/v1/store?data="+url.QueryEscape(`{"n":1,"s":"paid"}`), tok, nil)
	want(t, r, 200, "")
	if items := r.JSON(t)["items"].([]any); len(items) != 2 {
		t.Fatalf("data match: %s", r.Body)
	}
	r = h.do("GET", "/v1/store?name=orders&keyPrefix=a", tok, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("name+keyPrefix: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/store?data=%7Bnope", tok, nil), 400, "invalid_argument")

	// A token for orders only sees orders in fetch and names.
	ordersOnly := h.token("orders:read")
	r = h.do("GET", "/v1/store", ordersOnly, nil)
	want(t, r, 200, "")
	for _, it := range r.JSON(t)["items"].([]any) {
		if it.(map[string]any)["name"] != "orders" {
			t.Fatalf("fetch leaked another namespace: %s", r.Body)
		}
	}
	r = h.do("GET", "/v1/names", ordersOnly, nil)
	want(t, r, 200, "")
	items := r.JSON(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["name"] != "orders" || items[0].(map[string]any)["count"] != float64(2) {
		t.Fatalf("names for orders token: %s", r.Body)
	}
	r = h.do("GET", "/v1/names", tok, nil)
	if len(r.JSON(t)["items"].([]any)) != 2 {
		t.Fatalf("names for admin: %s", r.Body)
	}
	// Reserved namespaces are out of reach even for the admin.
	want(t, h.do("GET", "/v1/store/_flowkv.tokens", tok, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/store?name=_flowkv.tokens", tok, nil), 403, "access_denied")
}

func TestAtomic(t *testing.T) {
	h := newSQLite(t)
	tok := h.admin
	body := map[string]any{
		"checks":    []any{map[string]any{"name": "locks", "key": "l", "version": nil}},
		"mutations": []any{map[string]any{"op": "set", "name": "locks", "key": "l", "data": "me", "ttl": 30}, map[string]any{"op": "sum", "name": "counters", "key": "c", "data": 5}},
	}
	r := h.do("POST", "/v1/atomic", tok, body)
	want(t, r, 200, "")
	m := r.JSON(t)
	if m["ok"] != true || len(m["versions"].([]any)) != 2 {
		t.Fatalf("atomic: %s", r.Body)
	}
	// The same check fails now: the lock exists.
	want(t, h.do("POST", "/v1/atomic", tok, body), 409, "conflict")
	r = h.do("GET", "/v1/store/counters/c", tok, nil)
	if r.JSON(t)["data"] != float64(5) {
		t.Fatalf("sum wrote %s", r.Body)
	}
	r = h.do("GET", "/v1/store/locks/l", tok, nil)
	if r.JSON(t)["expiresAt"] == nil {
		t.Fatalf("ttl not applied: %s", r.Body)
	}
	lv := r.JSON(t)["version"]
	r = h.do("POST", "/v1/atomic", tok, map[string]any{
		"checks":    []any{map[string]any{"name": "locks", "key": "l", "version": lv}},
		"mutations": []any{map[string]any{"op": "delete", "name": "locks", "key": "l"}, map[string]any{"op": "sum", "name": "counters", "key": "c", "data": -2}},
	})
	want(t, r, 200, "")
	r = h.do("GET", "/v1/store/counters/c", tok, nil)
	if r.JSON(t)["data"] != float64(3) {
		t.Fatalf("sum wrote %s", r.Body)
	}
	want(t, h.do("POST", "/v1/atomic", tok, map[string]any{"mutations": []any{map[string]any{"op": "nope", "name": "a", "key": "b"}}}), 400, "invalid_argument")
	want(t, h.do("POST", "/v1/atomic", tok, map[string]any{"checks": []any{}}), 400, "invalid_argument")
	// A token that may only read locks cannot mutate it in an atomic.
	ro := h.token("locks:read", "counters:write")
	want(t, h.do("POST", "/v1/atomic", ro, map[string]any{"mutations": []any{map[string]any{"op": "set", "name": "locks", "key": "x", "data": 1}}}), 403, "access_denied")
}

// TestDatabaseModule runs the Database-module calls (flat keys in the
// default namespace, /v1/operations/data; docs/http.md).
func TestDatabaseModule(t *testing.T) {
	h := newSQLite(t)
	tok := h.admin
	before := time.Now()
	r := h.do("POST", "/v1/operations/data", tok, map[string]any{
		"key":   "user:preferences:usr_abc123",
		"value": map[string]any{"theme": "dark", "language": "en", "notifications": true},
		"ttl":   86400 * 30,
	})
	want(t, r, 200, "")
	m := r.JSON(t)
	exp, err := time.Parse(time.RFC3339Nano, m["expiresAt"].(string))
	if err != nil || exp.Before(before.Add(30*24*time.Hour-time.Minute)) || exp.After(time.Now().Add(30*24*time.Hour+time.Minute)) {
		t.Fatalf("expiresAt %v (%v), want about 30 days from now", m["expiresAt"], err)
	}
	// It lives in namespace default.
	want(t, h.do("GET", "/v1/store/default/"+url.PathEscape("user:preferences:usr_abc123"), tok, nil), 200, "")

	r = h.do("GET", "/v1/operations/data?key="+url.QueryEscape("user:preferences:usr_abc123"), tok, nil)
	want(t, r, 200, "")
	m = r.JSON(t)
	if v := m["value"].(map[string]any); v["theme"] != "dark" || len(m["items"].([]any)) != 1 {
		t.Fatalf("scan key: %s", r.Body)
	}
	// Absent key: value null, no items (the SDK's "not cached" branch).
	r = h.do("GET", "/v1/operations/data?key=nope", tok, nil)
	want(t, r, 200, "")
	if m := r.JSON(t); m["value"] != nil || len(m["items"].([]any)) != 0 {
		t.Fatalf("absent key: %s", r.Body)
	}

	for i := range 5 {
		want(t, h.do("POST", "/v1/operations/data", tok, map[string]any{"key": fmt.Sprintf("session:%d", i), "value": map[string]any{"i": i}}), 200, "")
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("cursor never ends")
		}
		r = h.do("GET", "/v1/operations/data?prefix=session:&limit=2&cursor="+url.QueryEscape(cursor), tok, nil)
		want(t, r, 200, "")
		m := r.JSON(t)
		for _, it := range m["items"].([]any) {
			it := it.(map[string]any)
			got = append(got, fmt.Sprintf("%s=%v", it["key"], it["value"].(map[string]any)["i"]))
		}
		cursor = m["cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if s := strings.Join(got, ","); s != "session:0=0,session:1=1,session:2=2,session:3=3,session:4=4" {
		t.Fatalf("prefix scan %s", s)
	}

	r = h.do("DELETE", "/v1/operations/data?key=session:0", tok, nil)
	want(t, r, 200, "")
	if r.JSON(t)["deleted"] != true {
		t.Fatalf("delete: %s", r.Body)
	}
	want(t, h.do("DELETE", "/v1/operations/data", tok, nil), 400, "invalid_argument")
	want(t, h.do("POST", "/v1/operations/data", tok, map[string]any{"value": 1}), 400, "invalid_argument")
	want(t, h.do("POST", "/v1/operations/data", tok, map[string]any{"key": "k", "value": 1, "ttl": -5}), 400, "invalid_argument")

	// A short TTL: the value is gone once it expires.
	want(t, h.do("POST", "/v1/operations/data", tok, map[string]any{"key": "lock:x", "value": 1, "ttl": 0.05}), 200, "")
	time.Sleep(100 * time.Millisecond)
	r = h.do("GET", "/v1/operations/data?key=lock:x", tok, nil)
	if r.JSON(t)["value"] != nil {
		t.Fatalf("expired value still visible: %s", r.Body)
	}

	// A token for default:read can scan but not put.
	ro := h.token("default:read")
	want(t, h.do("GET", "/v1/operations/data?prefix=session:", ro, nil), 200, "")
	want(t, h.do("POST", "/v1/operations/data", ro, map[string]any{"key": "k", "value": 1}), 403, "access_denied")
}

// TestOrdersReadOnly: a token granted only orders:read cannot write orders
// or read default.
func TestOrdersReadOnly(t *testing.T) {
	h := newSQLite(t)
	want(t, h.do("PUT", "/v1/store/orders/o-1", h.admin, map[string]any{"data": 1}), 200, "")
	want(t, h.do("POST", "/v1/operations/data", h.admin, map[string]any{"key": "k", "value": 1}), 200, "")
	ro := h.token("orders:read")
	want(t, h.do("GET", "/v1/store/orders/o-1", ro, nil), 200, "")
	want(t, h.do("PUT", "/v1/store/orders/o-1", ro, map[string]any{"data": 2}), 403, "access_denied")
	want(t, h.do("DELETE", "/v1/store/orders/o-1", ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/store/default/k", ro, nil), 403, "access_denied")
	want(t, h.do("GET", "/v1/operations/data?key=k", ro, nil), 403, "access_denied")
	r := h.do("GET", "/v1/store/orders/o-1", h.admin, nil)
	if r.JSON(t)["data"] != float64(1) {
		t.Fatalf("refused write changed data: %s", r.Body)
	}
}

// TestPercentEncodedSegments: names and keys with "/", ":", spaces, "%"
// and non-ASCII round-trip when percent-encoded.
func TestPercentEncodedSegments(t *testing.T) {
	h := newSQLite(t)
	tok := h.admin
	cases := []struct{ name, key string }{
		{"a/b", "c/d/e"},
		{"team: blue", "user:42 / profile"},
		{"ns", "100%"},
		{"ns", "%2F literally"},
		{"ünïcødé ✓", "日本語/キー"},
		{"ns", "trailing/"},
		{"ns", "?query#frag&x=1"},
	}
	for i, c := range cases {
		path := "/v1/store/" + url.PathEscape(c.name) + "/" + url.PathEscape(c.key)
		r := h.do("PUT", path, tok, map[string]any{"data": i})
		want(t, r, 200, "")
		m := r.JSON(t)
		if m["name"] != c.name || m["key"] != c.key {
			t.Fatalf("PUT %s stored name %q key %q, want %q %q", path, m["name"], m["key"], c.name, c.key)
		}
		r = h.do("GET", path, tok, nil)
		want(t, r, 200, "")
		if m := r.JSON(t); m["key"] != c.key || m["data"] != float64(i) {
			t.Fatalf("GET %s: %s", path, r.Body)
		}
	}
	// Encoding "/" as %2F in a key and in a name both reach the same entry
	// as other spellings of the same bytes (%3A vs ':').
	want(t, h.do("GET", "/v1/store/team%3A%20blue/user%3A42%20%2F%20profile", tok, nil), 200, "")
	// An unencoded "/" is a separator: that is another route.
	want(t, h.do("GET", "/v1/store/a/b/c/d/e", tok, nil), 404, "not_found")
	// The listing shows the decoded key.
	r := h.do("GET", "/v1/store/"+url.PathEscape("a/b"), tok, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["key"] != "c/d/e" {
		t.Fatalf("list a/b: %s", r.Body)
	}
	// Grants apply to the decoded name.
	ro := h.token("a/b:read")
	want(t, h.do("GET", "/v1/store/a%2Fb/c%2Fd%2Fe", ro, nil), 200, "")
	want(t, h.do("GET", "/v1/store/ns/100%25", ro, nil), 403, "access_denied")
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newSQLite(t)
	r := h.do("GET", "/healthz", "", nil)
	want(t, r, 200, "")
	if r.JSON(t)["status"] != "ok" {
		t.Fatalf("healthz %s", r.Body)
	}
	r = h.do("GET", "/readyz", "", nil)
	want(t, r, 200, "")
	want(t, h.do("PUT", "/v1/store/m/k", h.admin, map[string]any{"data": 1}), 200, "")
	want(t, h.do("GET", "/v1/store/m/k", h.admin, nil), 200, "")
	want(t, h.do("GET", "/v1/store/m/nope", h.admin, nil), 404, "")
	want(t, h.do("GET", "/v1/store/m/k", "", nil), 401, "")
	r = h.do("GET", "/metrics", "", nil)
	want(t, r, 200, "")
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics content type %q", r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	for _, line := range []string{
		`flowkv_http_requests_total{method="GET",route="/v1/store/:name/:key",status="200"} 1`,
		`flowkv_http_requests_total{method="GET",route="/v1/store/:name/:key",status="404"} 1`,
		`flowkv_http_requests_total{method="GET",route="/v1/store/:name/:key",status="401"} 1`,
		`flowkv_http_requests_total{method="PUT",route="/v1/store/:name/:key",status="200"} 1`,
		`flowkv_http_request_duration_seconds_count{method="GET",route="/v1/store/:name/:key"} 3`,
		`flowkv_http_request_duration_seconds_bucket{method="GET",route="/v1/store/:name/:key",le="+Inf"} 3`,
		`flowkv_store_operations_total{op="upsert",result="ok"} 1`,
		`flowkv_store_operations_total{op="findNameKey",result="not_found"}`,
		`# TYPE flowkv_store_entries_expired_total counter`,
		`flowkv_store_entries_expired_total 0`,
		`# TYPE flowkv_store_commit_batches_total counter`,
		`# TYPE flowkv_store_writes_solo_total counter`,
		`# TYPE go_goroutines gauge`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("metrics lack %q:\n%s", line, body)
		}
	}
	// One log line per request, without the token.
	logs := h.Logs()
	if n := strings.Count(logs, "msg=request"); n < 7 {
		t.Errorf("%d request log lines, want one per request:\n%s", n, logs)
	}
	if strings.Contains(logs, h.admin) {
		t.Error("the log holds a token secret")
	}
	if !strings.Contains(logs, `route=/v1/store/:name/:key status=404`) {
		t.Errorf("log line lacks route and status:\n%s", logs)
	}
	// The answer's error code and the token's id end the line (the request
	// frame carries them to it); an unauthenticated request has no token.
	var notFound, unauthenticated string
	for _, l := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(l, "path=/v1/store/m/nope"):
			notFound = l
		case strings.Contains(l, "status=401"):
			unauthenticated = l
		}
	}
	if !regexp.MustCompile(` code=not_found token=tok_[0-9a-f]{16}$`).MatchString(notFound) {
		t.Errorf("404 line: %q", notFound)
	}
	if !strings.HasSuffix(unauthenticated, " code=unauthenticated") {
		t.Errorf("401 line: %q", unauthenticated)
	}
}
