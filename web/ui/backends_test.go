package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// TestEveryBackend runs the store browser's main paths over HTTP against
// each backend: it only uses the store.Store interface.
func TestEveryBackend(t *testing.T) {
	ctx := context.Background()
	backends := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := sqlstore.Open(ctx, testenv.PostgresDSN(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"dynamodb": func(t *testing.T) store.Store {
			ep := testenv.DynamoEndpoint(t)
			st, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: ep, Region: "us-east-1", Table: testenv.UniqueName("flowkv_ui_")})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			h := newHarnessWith(t, st)
			browseEditImport(t, h)
		})
	}
}

var rowKeyRe = regexp.MustCompile(`<td class="key"><a href="[^"]*">([^<]*)</a>`)

func browseEditImport(t *testing.T, h *harness) {
	ctx := context.Background()
	for i := 0; i < 60; i++ {
		key := "k" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		if _, err := h.Store.Insert(ctx, "orders", key, json.RawMessage(`{"i":`+itoa(i)+`}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client()
	c.signIn(h.Admin)
	// Page 1 and 2 with the cursor; the prefix search.
	_, body := c.get("/entries?name=orders")
	if n := len(rowKeyRe.FindAllString(body, -1)); n != PageSize {
		t.Fatalf("page 1: %d rows", n)
	}
	next := regexp.MustCompile(`href="(/entries\?[^"]*cursor=[^"]*)" id="next-page"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no next page link")
	}
	_, body = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := len(rowKeyRe.FindAllString(body, -1)); n != 10 {
		t.Fatalf("page 2: %d rows", n)
	}
	st, body, _ := c.do(http.MethodGet, "/entries?name=orders&prefix=kb", nil)
	if st != http.StatusOK || len(rowKeyRe.FindAllString(body, -1)) != 26 {
		t.Fatalf("prefix search: %d, %d rows", st, len(rowKeyRe.FindAllString(body, -1)))
	}
	_, body = c.get("/entries?name=orders&data=" + url.QueryEscape(`{"i": 7}`))
	if m := rowKeyRe.FindAllStringSubmatch(body, -1); len(m) != 1 || m[0][1] != "kah" {
		t.Fatalf("data search: %v", m)
	}
	// Edit: a stale version is a conflict, the current one saves.
	e, _ := h.Store.FindNameKey(ctx, "orders", "kaa")
	if _, err := h.Store.Update(ctx, "orders", "kaa", json.RawMessage(`{"i":"theirs"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.get("/entry?name=orders&key=kaa")
	st, body, _ = c.post("/entry/save", url.Values{"name": {"orders"}, "key": {"kaa"}, "version": {i64s(e.Version)}, "data": {`{"i":"mine"}`}})
	if st != http.StatusConflict || !strings.Contains(body, "theirs") || !strings.Contains(body, "mine") {
		t.Fatalf("stale save: %d", st)
	}
	cur, _ := h.Store.FindNameKey(ctx, "orders", "kaa")
	st, _, _ = c.post("/entry/save", url.Values{"name": {"orders"}, "key": {"kaa"}, "version": {i64s(cur.Version)}, "data": {`{"i":"mine"}`}})
	if after, _ := h.Store.FindNameKey(ctx, "orders", "kaa"); st != http.StatusSeeOther || string(after.Data) != `{"i":"mine"}` {
		t.Fatalf("save: %d %s", st, after.Data)
	}
	// Invalid JSON is refused with its line; nothing is written.
	cur, _ = h.Store.FindNameKey(ctx, "orders", "kaa")
	st, body, _ = c.post("/entry/save", url.Values{"name": {"orders"}, "key": {"kaa"}, "version": {i64s(cur.Version)}, "data": {"{\n\"i\": \n}"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "line 3") {
		t.Fatalf("invalid JSON: %d", st)
	}
	// Export the search, import it back elsewhere with a dry run.
	_, exported, hdr := c.do(http.MethodGet, "/export?name=orders&prefix=kc", nil)
	if !strings.Contains(hdr.Get("Content-Disposition"), "orders.jsonl") {
		t.Errorf("export headers: %v", hdr)
	}
	lines := strings.Split(strings.TrimSpace(exported), "\n")
	if len(lines) != 8 {
		t.Fatalf("export of prefix kc: %d lines", len(lines))
	}
	st, body = c.upload("/import", "copy", exported)
	if st != http.StatusOK || !strings.Contains(body, `id="count-new">8<`) {
		t.Fatalf("dry run: %d\n%s", st, body)
	}
	if pg, _ := h.Store.List(ctx, "copy", "", "", 10); len(pg.Entries) != 0 {
		t.Fatal("dry run wrote")
	}
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatal("no apply form")
	}
	if st, _, _ := c.post("/import/apply", url.Values{"id": {id[1]}}); st != http.StatusOK {
		t.Fatalf("apply: %d", st)
	}
	if pg, _ := h.Store.List(ctx, "copy", "", "", 10); len(pg.Entries) != 8 {
		t.Fatalf("import wrote %d entries", len(pg.Entries))
	}
	// A second dry run finds them unchanged.
	_, body = c.upload("/import", "copy", exported)
	if !strings.Contains(body, `id="count-unchanged">8<`) {
		t.Fatalf("second dry run:\n%s", body)
	}
}

func i64s(n int64) string { return itoa(int(n)) }

// upload posts a multipart import form with file content.
func (c *client) upload(path, name, content string) (int, string) {
	c.h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField(csrfField, c.csrf)
	_ = mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", "data.jsonl")
	_, _ = fw.Write([]byte(content))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.h.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if m := csrfRe.FindSubmatch(out.Bytes()); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, out.String()
}
