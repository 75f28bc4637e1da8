package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
)

// A flow file with four mistakes: `flow put` and `flow run --file` name
// each at its line and column, in one line of stderr, and exit 1.
func TestFlowPutFourMistakes(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	file := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "id: bad\ndataStores: [orders]\ntimout: 30s\ntrigger:\n  type: webhook\n  secrt: abc\nblocks:\n  - id: save\n    type: dataStore\n" +
		"    operation: upsertt\n    name: orders\n    key: {{ input.id }}\n    data: \"{{ input }}\"\n"
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"flow", "put", file}, {"flow", "run", "--file", file}} {
		_, errText, code := flowCLI(t, append(args, "--dsn", dsn)...)
		if code != 1 || strings.Count(errText, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errText)
		}
		for _, want := range []string{"invalid_argument", "4 problem(s)", `line 3:1, field timout: unknown flow field "timout" — did you mean "timeout"?`,
			`line 6:3, field trigger.secrt`, `line 10:5, block save, field operation`, `line 12:10, block save, field key: quote the expression: key: "{{ input.id }}"`} {
			if !strings.Contains(errText, want) {
				t.Errorf("%v: stderr lacks %q: %s", args, want, errText)
			}
		}
	}
}
