package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
)

// TestOpenAPITypeScriptClient generates TypeScript types from the document
// a real server serves (openapi-typescript), type-checks a small client of
// the store routes written against those types only (tsc, strict), and
// runs it with node against that server: a generated client knows the
// routes, bodies, answers and the error shape. The tools come from
// scripts/setup-openapi-ts.sh (FLOWKV_OPENAPI_TS).
func TestOpenAPITypeScriptClient(t *testing.T) {
	dir := os.Getenv("FLOWKV_OPENAPI_TS")
	if dir == "" {
		if testenv.CI() {
			t.Fatal("FLOWKV_OPENAPI_TS is not set under CI: source scripts/setup-openapi-ts.sh")
		}
		t.Skip("FLOWKV_OPENAPI_TS is not set (source scripts/setup-openapi-ts.sh)")
	}
	t.Parallel()
	h := newSQLite(t)
	r := h.do("GET", "/v1/openapi.json", "", nil)
	want(t, r, 200, "")
	work := t.TempDir()
	doc := filepath.Join(work, "openapi.json")
	if err := os.WriteFile(doc, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"client.ts", "tsconfig.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "openapi-client", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bin := filepath.Join(dir, "node_modules", ".bin")
	run(nil, filepath.Join(bin, "openapi-typescript"), doc, "-o", "api.d.ts")
	run(nil, filepath.Join(bin, "tsc"), "-p", ".")
	out := run([]string{"FLOWKV_URL=" + h.base, "FLOWKV_TOKEN=" + h.admin}, "node", filepath.Join("out", "client.js"))
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("client: %s", out)
	}
}
