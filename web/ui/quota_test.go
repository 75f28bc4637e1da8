package ui

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// The store browser shows the signed-in token's usage and a namespace's
// quota, counts its store calls against the token's quota, and shows a
// quota reached as an error with status 429 that names it.
func TestUIQuotas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	qm, err := quota.Open(ctx, st, quota.Options{NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qm.Close() })
	tm := tokens.New(st)
	u := New(Config{Store: st, Verify: TokenVerifier(tm), Quotas: qm})
	e := echo.New()
	u.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	h := &harness{t: t, URL: srv.URL, Store: st, Tokens: tm, UI: u}

	secret, tok, err := tm.Create(ctx, "ui", store.Grants{"orders": store.Write})
	if err != nil {
		t.Fatal(err)
	}
	if err := qm.SetTokenQuota(ctx, tok.ID, quota.TokenQuota{OpsPerMonth: 12, ScriptRuns: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := qm.SetNamespaceQuota(ctx, "orders", quota.NamespaceQuota{Entries: 1, Bytes: 10_000_000}); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	c.signIn(secret) // one operation: the namespaces page's listing

	_, body := c.get("/namespaces")
	if !strings.Contains(body, `id="token-usage"`) || !strings.Contains(body, "2 of 12") || !strings.Contains(body, "0 of 3 at once") {
		t.Fatalf("the namespaces page does not show the usage:\n%s", body)
	}
	st1, _, _ := c.post("/new", url.Values{"name": {"orders"}, "key": {"o-1"}, "data": {`{"total":1}`}, "timeoutUnit": {"never"}})
	if st1 != http.StatusSeeOther {
		t.Fatalf("first insert: %d", st1)
	}
	st2, body, _ := c.post("/new", url.Values{"name": {"orders"}, "key": {"o-2"}, "data": {`{"total":1}`}, "timeoutUnit": {"never"}})
	if st2 != http.StatusTooManyRequests || !strings.Contains(body, "namespace orders: the quota of 1 entries is reached") {
		t.Fatalf("insert past the quota: %d\n%s", st2, body)
	}
	if _, err := st.FindNameKey(ctx, "orders", "o-2"); err == nil {
		t.Fatal("the refused entry was stored")
	}
	_, body = c.get("/entries?name=orders")
	if !strings.Contains(body, `id="ns-quota"`) || !strings.Contains(html.UnescapeString(body), "1 of 1 entries · 14 B of 10 MB") {
		t.Fatalf("the namespace page does not show its quota:\n%s", body)
	}
	// Spend the rest of the month's operations.
	for i := 0; ; i++ {
		code, _ := c.get("/entries?name=orders")
		if code == http.StatusTooManyRequests {
			break
		}
		if code != http.StatusOK || i > 20 {
			t.Fatalf("entries page %d: %d", i, code)
		}
	}
	code, body := c.get("/entries?name=orders")
	if code != http.StatusTooManyRequests || !strings.Contains(body, "quota of 12 store operations per month") {
		t.Fatalf("past the monthly quota: %d\n%s", code, body)
	}
	// The namespaces page still shows the usage, with the error.
	code, body = c.get("/namespaces")
	if code != http.StatusTooManyRequests || !strings.Contains(body, `id="ns-error"`) || !strings.Contains(body, "12 of 12") {
		t.Fatalf("namespaces page past the quota: %d\n%s", code, body)
	}
}
