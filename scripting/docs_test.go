package scripting

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestDocsExamples runs every ```js and ```ts block of docs/scripting.md,
// each on a fresh SQLite store with all grants: the documentation's
// examples work as written.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/scripting.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(?:js|ts)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d examples in docs/scripting.md", len(blocks))
	}
	e := New(Options{})
	for i, m := range blocks {
		st := openStore(t)
		res, err := run(t, e, st, m[1], nil)
		if err != nil {
			t.Errorf("example %d failed: %v\n%s", i+1, err, m[1])
			continue
		}
		t.Logf("example %d → %s", i+1, res.Value)
		// A last line "// → JSON" is the result the page promises.
		if w := regexp.MustCompile(`(?m)^// → (.*)$`).FindStringSubmatch(m[1]); w != nil && !jsonSame(string(res.Value), w[1]) {
			t.Errorf("example %d returned %s, the page says %s", i+1, res.Value, w[1])
		}
	}
}

func jsonSame(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
