package templates

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent regenerates every .templ file with the templ
// version in go.mod and fails when a committed _templ.go differs: run
// `make generate` (go tool templ generate -path templates) and
// commit the result.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the templ command")
	}
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .templ files: %v", err)
	}
	for _, f := range files {
		cmd := exec.Command("go", "tool", "templ", "generate", "-f", f, "-stdout")
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("templ generate -f %s: %v\n%s", f, err, stderr)
		}
		gen := strings.TrimSuffix(f, ".templ") + "_templ.go"
		committed, err := os.ReadFile(gen)
		if err != nil {
			t.Fatalf("%s has no generated %s: run make generate", f, gen)
		}
		if string(committed) != string(out) {
			t.Errorf("%s is stale: run `make generate` and commit it", gen)
		}
	}
}
