package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/blocks/datastore"
	"github.com/flowkv/flowkv/internal/testenv"
)

// flowCLI runs one flowkv command line and returns stdout, stderr and the
// exit code. Not parallel: it swaps the package's stdout/stderr.
func flowCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = &out, &errb
	defer func() { stdout, stderr = oldOut, oldErr }()
	code := runMain(context.Background(), args)
	return out.String(), errb.String(), code
}

func TestFlowCommands(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "remember.yaml")
	doc := `id: remember
dataStores: [orders]
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: "{{ input }}"
  - id: check
    type: dataStore
    operation: insert
    name: orders
    key: "{{ input.id }}"
    data: 1
`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errText, code := flowCLI(t, "flow", "put", file, "--dsn", dsn)
	if code != 0 {
		t.Fatalf("flow put: %d %s", code, errText)
	}
	var put map[string]any
	if err := json.Unmarshal([]byte(out), &put); err != nil || put["id"] != "remember" {
		t.Fatalf("flow put printed %q", out)
	}

	out, _, code = flowCLI(t, "flow", "list", "--dsn", dsn)
	if code != 0 || !strings.Contains(out, `"id":"remember"`) || !strings.Contains(out, `"save:dataStore"`) {
		t.Errorf("flow list: %d %q", code, out)
	}

	// A failing run prints the run and exits non-zero with the code word.
	out, errText, code = flowCLI(t, "flow", "run", "remember", "--input", `{"id":"o-1"}`, "--dsn", dsn)
	if code == 0 || !strings.Contains(errText, "already_exists") || strings.Count(strings.TrimSpace(errText), "\n") != 0 {
		t.Errorf("failing run: code %d stderr %q", code, errText)
	}
	var run struct {
		Status string
		Blocks []struct {
			ID     string
			Status string
			Output json.RawMessage
			Error  *struct{ Code string }
		}
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("run output is not JSON: %v %q", err, out)
	}
	if run.Status != "failed" || len(run.Blocks) != 2 || run.Blocks[0].Status != "succeeded" || run.Blocks[1].Error == nil || run.Blocks[1].Error.Code != "already_exists" {
		t.Errorf("run = %+v", run)
	}

	// --file runs without storing; a succeeding run exits 0.
	fileDoc := strings.Replace(doc, "id: remember", "id: scratch", 1)
	fileDoc = strings.Replace(fileDoc, "operation: insert", "operation: findNameKey", 1)
	fileDoc = strings.Replace(fileDoc, "    data: 1\n", "", 1)
	if err := os.WriteFile(file, []byte(fileDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errText, code = flowCLI(t, "flow", "run", "--file", file, "--input", `{"id":"o-2"}`, "--dsn", dsn)
	if code != 0 || !strings.Contains(out, `"status": "succeeded"`) {
		t.Errorf("file run: %d %q %q", code, out, errText)
	}
	_, errText, code = flowCLI(t, "flow", "run", "scratch", "--dsn", dsn)
	if code == 0 || !strings.Contains(errText, "not_found") {
		t.Errorf("file run stored the flow: %d %q", code, errText)
	}

	out, _, code = flowCLI(t, "flow", "runs", "remember", "--dsn", dsn)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"status":"failed"`) {
		t.Errorf("flow runs: %d %q", code, out)
	}

	// Validation problems: one line, invalid_argument, every problem.
	bad := "id: bad\ndataStores: [a]\nblocks:\n  - {id: x, type: nope}\n  - {id: y, type: dataStore, operation: findNameKey, name: b}\n"
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errText, code = flowCLI(t, "flow", "put", file, "--dsn", dsn)
	for _, want := range []string{"invalid_argument", "block x, field type", "block y, field key: required", "block y, field name"} {
		if code == 0 || !strings.Contains(errText, want) {
			t.Errorf("bad flow put: code %d, stderr %q lacks %q", code, errText, want)
		}
	}

	out, _, code = flowCLI(t, "blocks")
	if code != 0 || !strings.Contains(out, "(type: dataStore)") || !strings.Contains(out, "(type: javascript)") || !strings.Contains(out, "atomicIncrement") {
		t.Errorf("blocks: %d %.300q", code, out)
	}
	out, _, code = flowCLI(t, "blocks", "--json", "dataStore")
	var specs struct {
		Blocks []struct {
			Type   string
			Fields []struct{ Name string }
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &specs) != nil || len(specs.Blocks) != 1 || len(specs.Blocks[0].Fields) != len(datastore.Spec.Fields) {
		t.Errorf("blocks --json: %d %.300q", code, out)
	}
}
