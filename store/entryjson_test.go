package store_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// noMethods is store.Entry without its methods: encoding/json encodes it
// by its struct tags, the oracle for Entry's own encoder.
type noMethods store.Entry

func encode(t *testing.T, v any, escapeHTML bool) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Entry's encoder writes exactly what encoding/json writes for its struct
// tags, directly (AppendJSON, HTML escaping off) and through encoding/json
// with HTML escaping on or off (MarshalJSON: the CLI, dumps, json.Marshal).
func TestEntryJSONMatchesStructTags(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	strs := []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\n\r\t\b\f", "<html>&amp;", "ünï 日本 ✓ 😀",
		"bad\xffutf8\xc3", "line\u2028sep\u2029", "/slash:colon space%"}
	for _, s := range strs {
		for _, e := range []store.Entry{
			{Name: s, Key: s, Data: json.RawMessage(`{"a":[1,2,"x<y>\u2028"]}`), Version: 42, FlowUUID: s,
				CreatedAt: time.Date(2026, 11, 21, 23, 0, 0, 123456000, time.UTC), UpdatedAt: time.Date(2026, 11, 21, 23, 0, 1, 0, time.UTC)},
			{Name: "n", Key: "k", Data: json.RawMessage(`null`), Version: 1, ExpiresAt: &exp},
			{Name: s, Version: -1, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 5400))},
		} {
			want := encode(t, noMethods(e), false)
			if got := string(e.AppendJSON([]byte("x"))) + "\n"; got != "x"+want {
				t.Fatalf("AppendJSON(%q)\n got %s\nwant x%s", s, got, want)
			}
			for _, html := range []bool{false, true} {
				if got, want := encode(t, e, html), encode(t, noMethods(e), html); got != want {
					t.Fatalf("encoding/json (HTML escaping %v) of %q\n got %s\nwant %s", html, s, got, want)
				}
			}
			if got, err := json.Marshal(&e); err != nil || string(got)+"\n" != encode(t, noMethods(e), true) {
				t.Fatalf("json.Marshal(&e) = %s, %v", got, err)
			}
		}
	}
}
