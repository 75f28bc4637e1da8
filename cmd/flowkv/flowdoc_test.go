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
	file := "../../blocks/testdata/four-mistakes.yaml" // mistakes on lines 3, 6, 10, 12
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

// `flow rename` keeps the UUID and the runs; `flow get` prints the source
// as it was put (comments, CRLF) with only the id changed.
func TestFlowRenameCLI(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	file := filepath.Join(t.TempDir(), "f.yaml")
	src := "# keep me\r\nid: first\r\ndataStores: []\r\nblocks:\r\n  - id: a   # a block\r\n    type: javascript\r\n    code: |\r\n      return 1;\r\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errText, code := flowCLI(t, "flow", "put", file, "--dsn", dsn)
	if code != 0 {
		t.Fatalf("put: %d %s", code, errText)
	}
	uuid := out[strings.Index(out, `"uuid":"`)+len(`"uuid":"`):]
	uuid = uuid[:strings.Index(uuid, `"`)]
	if _, errText, code = flowCLI(t, "flow", "run", "first", "--dsn", dsn); code != 0 {
		t.Fatalf("run: %d %s", code, errText)
	}
	out, errText, code = flowCLI(t, "flow", "rename", "first", "second", "--dsn", dsn)
	if code != 0 || !strings.Contains(out, `"id":"second"`) || !strings.Contains(out, uuid) {
		t.Fatalf("rename: %d %q %s (want %s)", code, out, errText, uuid)
	}
	out, _, code = flowCLI(t, "flow", "get", "second", "--dsn", dsn)
	if wantSrc := strings.Replace(src, "id: first", "id: second", 1); code != 0 || out != wantSrc && out != wantSrc+"\n" {
		t.Errorf("get: %d %q, want %q", code, out, wantSrc)
	}
	out, _, code = flowCLI(t, "flow", "runs", "second", "--dsn", dsn)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, uuid) {
		t.Errorf("runs under the new id: %d %q", code, out)
	}
	if _, errText, code = flowCLI(t, "flow", "get", "first", "--dsn", dsn); code == 0 || !strings.Contains(errText, "not_found") {
		t.Errorf("old id: %d %s", code, errText)
	}
}
