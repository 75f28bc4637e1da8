package ui

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every state-changing route refuses a request without a valid CSRF token
// (403), signed in or not, and changes nothing.
func TestCSRFOnEveryStateChangingRoute(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signIn(h.Admin)
	routes := h.UI.StateChangingRoutes()
	if len(routes) < 8 {
		t.Fatalf("only %d state-changing routes: %v", len(routes), routes)
	}
	anon := h.client()
	for _, path := range routes {
		form := url.Values{"name": {"orders"}, "key": {"k"}, "data": {`{}`}, "token": {h.Admin}, "id": {"f"}}
		for _, tc := range []struct {
			label string
			cl    *client
			token string
		}{
			{"missing token", c, ""},
			{"wrong token", c, "AAAA" + c.csrf[4:]},
			{"no session", anon, "x"},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set(csrfField, tc.token)
			if tc.token == "" {
				f.Del(csrfField)
				st, _, _ := tc.cl.do(http.MethodPost, path, f)
				if st != http.StatusForbidden {
					t.Errorf("POST %s (%s): %d, want 403", path, tc.label, st)
				}
				continue
			}
			if st, _, _ := tc.cl.do(http.MethodPost, path, f); st != http.StatusForbidden {
				t.Errorf("POST %s (%s): %d, want 403", path, tc.label, st)
			}
		}
	}
	// A cross-origin POST with the right token is refused too.
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/logout", strings.NewReader(url.Values{csrfField: {c.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin logout: %d", resp.StatusCode)
	}
	// Still signed in: none of the refused requests signed out.
	if st, _ := c.get("/namespaces"); st != http.StatusOK {
		t.Errorf("session lost after refused requests: %d", st)
	}
}

// No template bypasses templ's escaping on user data: templ.Raw, direct
// SafeURL conversions, JSUnsafeFuncCall and friends are not used at all.
func TestTemplatesDoNotBypassEscaping(t *testing.T) {
	files, err := filepath.Glob("../../templates/*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates found: %v", err)
	}
	goFiles, _ := filepath.Glob("../../templates/*.go")
	uiFiles, _ := filepath.Glob("*.go")
	banned := regexp.MustCompile(`templ\.Raw|SafeURL\(|templ\.SafeURL|JSUnsafeFuncCall|templ\.ComponentScript|templ\.SafeCSS|templ\.JSExpression|@templ\.JSFuncCall|dangerouslySet`)
	for _, f := range append(append(files, goFiles...), uiFiles...) {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if banned.MatchString(line) {
				t.Errorf("%s:%d bypasses templ escaping: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
