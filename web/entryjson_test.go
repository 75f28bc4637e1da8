package web

import (
	"bytes"
	"encoding/json"
	"testing"

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

// A page is framed as encoding/json frames store.Page (its entries are
// store.Entry.AppendJSON's, tested in store).
func TestAppendPageMatchesEncodingJSON(t *testing.T) {
	p := store.Page{Entries: []store.Entry{{Name: "a", Key: "b", Data: json.RawMessage(`1`), Version: 1}, {Name: "c", Key: "d", Data: json.RawMessage(`"x"`), Version: 2}}, NextCursor: "a<b>\u2028\"c"}
	if got, want := string(appendPage(nil, p)), stdJSON(t, p); got != want {
		t.Fatalf("appendPage\n got %s\nwant %s", got, want)
	}
	p = store.Page{Entries: []store.Entry{}}
	if got, want := string(appendPage(nil, p)), stdJSON(t, p); got != want {
		t.Fatalf("empty appendPage\n got %s\nwant %s", got, want)
	}
}
