package templates

import (
	"strings"
	"testing"
)

func TestHighlightJSON(t *testing.T) {
	pretty := PrettyJSON([]byte(`{"a":"x\"y","n":-1.5e3,"t":true,"z":null,"l":[1,false]}`))
	toks := HighlightJSON(pretty)
	var joined strings.Builder
	classes := map[string]string{}
	for _, tk := range toks {
		joined.WriteString(tk.Text)
		if tk.Class != "" && tk.Class != "j-punct" {
			classes[tk.Text] = tk.Class
		}
	}
	if joined.String() != pretty {
		t.Fatalf("tokens do not rebuild the text:\n%s\n%s", joined.String(), pretty)
	}
	want := map[string]string{`"a"`: "j-key", `"x\"y"`: "j-str", `-1.5e3`: "j-num", `true`: "j-bool", `null`: "j-null", `false`: "j-bool", `"l"`: "j-key"}
	for text, class := range want {
		if classes[text] != class {
			t.Errorf("%s: class %q, want %q", text, classes[text], class)
		}
	}
	if got := HighlightJSON("not json <b>"); len(got) != 1 || got[0].Class != "" {
		t.Errorf("non-JSON: %+v", got)
	}
}
