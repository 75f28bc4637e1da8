package web_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
)

// TestOpenAPIRedoclyLint lints the document a real server serves — without
// a token — with Redocly's recommended rules (../redocly.yaml) and fails on
// any error or warning. make lint runs it (scripts/lint-openapi.sh), with
// the linter installed by scripts/setup-redocly.sh (FLOWKV_REDOCLY).
func TestOpenAPIRedoclyLint(t *testing.T) {
	bin := os.Getenv("FLOWKV_REDOCLY")
	if bin == "" {
		if testenv.CI() {
			t.Fatal("FLOWKV_REDOCLY is not set under CI: source scripts/setup-redocly.sh")
		}
		t.Skip("FLOWKV_REDOCLY is not set (source scripts/setup-redocly.sh)")
	}
	h := newSQLite(t)
	r := h.do("GET", "/v1/openapi.json", "", nil)
	want(t, r, 200, "")
	file := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(file, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs(filepath.Join("..", "redocly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--config", cfg, "--format", "json", file)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.Output()
	var res struct {
		Totals struct {
			Errors, Warnings int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("redocly lint: %v (output not JSON: %v)\n%s\n%s", err, jerr, out, stderr)
	}
	for _, p := range res.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s: %s at %s", p.Severity, p.RuleID, p.Message, where)
	}
	if res.Totals.Errors+res.Totals.Warnings > 0 || err != nil {
		t.Fatalf("redocly lint: %d errors, %d warnings (%v)", res.Totals.Errors, res.Totals.Warnings, err)
	}
}
