package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// A refused flow document is 400 invalid_argument with every problem in
// error.problems, each with its line and column.
func TestFlowDocumentProblemsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	fourMistakes, err := os.ReadFile("../blocks/testdata/four-mistakes.yaml") // mistakes on lines 3, 6, 10, 12
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodPut, "/v1/flows/bad", h.admin, fourMistakes, "Content-Type", "application/yaml")
	want(t, r, http.StatusBadRequest, "invalid_argument")
	var body struct {
		Error struct {
			Message  string
			Problems []struct {
				Block, Field, Message string
				Line, Column          int
			}
		}
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range body.Error.Problems {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Line, p.Column, p.Field))
	}
	if strings.Join(got, ", ") != "3:1 timout, 6:3 trigger.secrt, 10:5 operation, 12:10 key" {
		t.Errorf("problems %v, want 3:1 timout, 6:3 trigger.secrt, 10:5 operation, 12:10 key: %s", got, r.Body)
	}
	if !strings.Contains(body.Error.Message, `quote the expression: key: \"{{ input.id }}\"`) && !strings.Contains(body.Error.Message, `quote the expression: key: "{{ input.id }}"`) {
		t.Errorf("message: %s", body.Error.Message)
	}
	r = h.do(http.MethodPut, "/v1/flows/bad", h.admin, "", "Content-Type", "application/yaml")
	want(t, r, http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(string(r.Body), "the flow document is empty") {
		t.Errorf("empty body: %s", r.Body)
	}
}

// Attack: a "billion laughs" alias bomb and documents nested 10,000 deep,
// sent many times at once, are refused with a clear 400 while the server
// keeps answering others.
func TestFlowDocumentBombsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	var bomb strings.Builder
	bomb.WriteString("id: bomb\ndataStores: [o]\nlol:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&bomb, "  %s: &%s [%s]\n", n, n, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", "))
		prev = n
	}
	bomb.WriteString("blocks:\n  - id: x\n    type: dataStore\n    name: o\n    key: k\n    data: *i\n")
	attacks := map[string]struct{ path, doc, msg string }{
		"billion laughs":    {"/v1/flows/bomb", bomb.String(), "expands to more than"},
		"10k-deep brackets": {"/v1/flows/deep", "id: deep\nblocks: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "nested deeper than"},
		"10k-deep run file": {"/v1/flows/deep", "id: deep\nblocks: [" + strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000) + "]", "nested deeper than"},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for name, a := range attacks {
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.do(http.MethodPut, a.path, h.admin, a.doc, "Content-Type", "application/yaml")
				if r.Status != http.StatusBadRequest || r.Code() != "invalid_argument" || !strings.Contains(string(r.Body), a.msg) {
					errs <- fmt.Sprintf("%s: %d %.300s", name, r.Status, r.Body)
				}
			}()
		}
	}
	// Meanwhile, and after, the server serves others.
	r := h.do(http.MethodPut, "/v1/store/o/k", h.admin, map[string]any{"data": 1})
	want(t, r, http.StatusOK, "")
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	want(t, h.do(http.MethodGet, "/v1/store/o/k", h.admin, nil), http.StatusOK, "")
	want(t, h.do(http.MethodGet, "/v1/flows/bomb", h.admin, nil), http.StatusNotFound, "not_found")
}
