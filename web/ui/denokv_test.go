package ui

import (
	"context"
	"encoding/json"
	"html"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/store"
)

// TestDenoKeysInTheBrowser: entries written by Deno KV clients show their
// keys as JSON arrays, open, edit and delete by them, a JSON-array key in
// the new-entry form and the prefix search names Deno keys, and a value
// with no JSON form shows typed and read-only.
func TestDenoKeysInTheBrowser(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tk := func(parts ...any) string {
		b, err := store.PackTuple(parts)
		if err != nil {
			t.Fatal(err)
		}
		return store.TupleKey(b)
	}
	if _, err := h.Store.Upsert(ctx, "users", tk("users", "1"), json.RawMessage(`{"name":"Ada"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	date, _ := denokv.ToData(denokv.EncV8, []byte{0xff, 0x0f, 'D', 0, 0, 0, 0, 0, 0, 0, 0})
	if _, err := h.Store.Upsert(ctx, "users", tk("users", 2.0), date, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.Upsert(ctx, "users", tk("other", true), json.RawMessage(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	c.signIn(h.Admin)

	st, body := c.get("/entries?name=users&prefix=" + url.QueryEscape(`["users"]`))
	body = html.UnescapeString(body)
	if st != 200 || !strings.Contains(body, `["users","1"]`) || !strings.Contains(body, `["users",2]`) || strings.Contains(body, `["other",true]`) {
		t.Fatalf("entries with prefix [\"users\"]: %d\n%s", st, body)
	}
	if !strings.Contains(body, "Deno KV Date: 1970-01-01T00:00:00.000Z") {
		t.Errorf("the Date row does not show its type")
	}
	if strings.Contains(body, "\x1e") || strings.Contains(body, "\\u001e") {
		t.Error("a stored tuple key leaked into the page")
	}

	st, body = c.get("/entry?name=users&key=" + url.QueryEscape(`["users",2]`))
	if st != 200 || !strings.Contains(body, `id="entry-deno"`) || strings.Contains(body, `id="edit-form"`) {
		t.Fatalf("the Date entry must show typed and read-only: %d", st)
	}
	st, body = c.get("/entry?name=users&key=" + url.QueryEscape(`["users","1"]`))
	if st != 200 || !strings.Contains(body, `id="edit-form"`) || !strings.Contains(html.UnescapeString(body), `<span id="entry-key">["users","1"]</span>`) {
		t.Fatalf("the JSON entry: %d", st)
	}
	e, _ := h.Store.FindNameKey(ctx, "users", tk("users", "1"))
	st, _, _ = c.post("/entry/save", url.Values{"name": {"users"}, "key": {`["users","1"]`}, "version": {itoa64(e.Version)}, "data": {`{"name":"Grace"}`}})
	if got, _ := h.Store.FindNameKey(ctx, "users", tk("users", "1")); st != http.StatusSeeOther || string(got.Data) != `{"name":"Grace"}` {
		t.Fatalf("save by JSON-array key: %d %s", st, got.Data)
	}
	st, body, _ = c.post("/new", url.Values{"name": {"users"}, "key": {`["users",{"bigint":"7"}]`}, "data": {`{"n":7}`}, "timeoutUnit": {"never"}})
	if got, err := h.Store.FindNameKey(ctx, "users", tk("users", bigInt(7))); err != nil || string(got.Data) != `{"n":7}` {
		t.Fatalf("create by JSON-array key: %d %v %s", st, err, body)
	}
	st, _, _ = c.post("/entries/delete", url.Values{"name": {"users"}, "key": {`["users",{"bigint":"7"}]`}, "confirm": {"yes"}})
	if _, err := h.Store.FindNameKey(ctx, "users", tk("users", bigInt(7))); st != http.StatusSeeOther || store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("delete by JSON-array key: %d %v", st, err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func bigInt(n int64) *big.Int { return big.NewInt(n) }
