package web

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

func stdJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// The hand encoder writes exactly what encoding/json writes.
func TestAppendEntryMatchesEncodingJSON(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	strs := []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\n\r\t\b\f", "<html>&amp;", "ünï 日本 ✓ 😀",
		"bad\xffutf8\xc3", "line\u2028sep\u2029", "/slash:colon space%"}
	for _, s := range strs {
		for _, e := range []store.Entry{
			{Name: s, Key: s, Data: json.RawMessage(`{"a":[1,2,"x"]}`), Version: 42, FlowUUID: s,
				CreatedAt: time.Date(2026, 11, 21, 23, 0, 0, 123456000, time.UTC), UpdatedAt: time.Date(2026, 11, 21, 23, 0, 1, 0, time.UTC)},
			{Name: "n", Key: "k", Data: json.RawMessage(`null`), Version: 1, ExpiresAt: &exp},
		} {
			got := string(appendEntry(nil, e))
			if want := stdJSON(t, e); got != want {
				t.Fatalf("appendEntry(%q)\n got %s\nwant %s", s, got, want)
			}
		}
	}
	p := store.Page{Entries: []store.Entry{{Name: "a", Key: "b", Data: json.RawMessage(`1`), Version: 1}, {Name: "c", Key: "d", Data: json.RawMessage(`"x"`), Version: 2}}, NextCursor: "abc"}
	if got, want := string(appendPage(nil, p)), stdJSON(t, p); got != want {
		t.Fatalf("appendPage\n got %s\nwant %s", got, want)
	}
	p = store.Page{Entries: []store.Entry{}}
	if got, want := string(appendPage(nil, p)), stdJSON(t, p); got != want {
		t.Fatalf("empty appendPage\n got %s\nwant %s", got, want)
	}
}
