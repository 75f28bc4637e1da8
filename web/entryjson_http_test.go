package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// The bytes of an entry on the HTTP API are pinned: every field set, with
// unicode, HTML-ish characters, quotes and line separators in the strings
// (not HTML-escaped, U+2028 escaped as encoding/json does).
func TestEntryBytesPinned(t *testing.T) {
	h := newSQLite(t)
	exp := time.Date(2099, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	in := store.Entry{
		Name: "caf\u00e9-<b>&", Key: "k\"\\ \u65e5\u672c\u2028\U0001F600</script>",
		Data:      json.RawMessage(`{"z":"<&>","a":[1.50,"\u00e9\u2029",null,true]}`),
		Version:   42,
		FlowUUID:  "0f8fad5b-d9cb-469f-a165-70867728950e",
		ExpiresAt: &exp,
		CreatedAt: time.Date(2026, 11, 21, 23, 0, 0, 123456000, time.UTC),
		UpdatedAt: time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC),
	}
	if _, err := h.st.(store.Importer).Import(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/v1/store/"+url.PathEscape(in.Name)+"/"+url.PathEscape(in.Key), h.admin, nil)
	want(t, r, 200, "")
	const pinned = `{"name":"café-<b>&","key":"k\"\\ 日本\u2028😀</script>","data":{"a":[1.5,"é\u2029",null,true],"z":"<&>"},` +
		`"version":42,"flowUuid":"0f8fad5b-d9cb-469f-a165-70867728950e","expiresAt":"2099-01-02T03:04:05.6Z",` +
		`"createdAt":"2026-11-21T23:00:00.123456Z","updatedAt":"2026-11-22T01:02:03Z"}` + "\n"
	if string(r.Body) != pinned {
		t.Fatalf("GET answered\n%s\nwant\n%s", r.Body, pinned)
	}
}
