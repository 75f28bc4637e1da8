package scripting

import (
	"strings"
	"testing"
)

// The source is wrapped in "(async function () {" on its first line before
// compiling: errors on line 1 must not carry the wrapper's 20 columns, and
// lines further down must stay where they are, for thrown errors, runtime
// TypeErrors, rejected promises, syntax errors and TypeScript alike.
func TestErrorPositionsAreTheSources(t *testing.T) {
	e := New(Options{})
	defer e.Close()
	st := openStore(t)
	for _, c := range []struct{ src, want string }{
		// "const x = null; return x.y.z;" is 29 characters; .y is at 26.
		{"const x = null; return x.y.z;", "at script:1:26"},
		{"const a = 1;\nconst b = 2;\nconst x = null; return x.y.z;", "at script:3:26"},
		{"throw new Error('boom')", "at script:1:7"},
		{"const a = 1;\nconst b = 2;\n  throw new Error('boom')", "at script:3:9"},
		{"await null; const x = null; return x.y.z;", "at script:1:38"},
		{"return Promise.reject(new Error('rej'))", "at script:1:23"},
		{"const x = ;", "at line 1 column 11"},
		{"const a = 1;\nconst b = 2;\n  const x = ;", "at line 3 column 13"},
		// TypeScript is lowered by esbuild; its source map leads back.
		{"let a: number = 1; throw new Error('ts')", "at script:1:26"},
		{"let a: number = 1;\nlet b: string = 'x';\n  throw new Error('ts')", "at script:3:9"},
	} {
		_, err := run(t, e, st, c.src, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want an error %q, got %v", c.src, c.want, err)
		}
	}
}
