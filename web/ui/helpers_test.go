package ui

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestJSONProblem(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{`{"a": 1}`, ""},
		{`[1, 2]`, ""},
		{"{\n  \"a\": \n}", "line 3, column 1"},
		{"{\"a\": 1,}", "line 1, column 9"},
		{`{"a": 1} x`, "after the JSON value"},
		{`{"a": `, "unexpected end"},
		{``, "unexpected end"},
	} {
		got := jsonProblem([]byte(tc.in))
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("jsonProblem(%q) = %q, want it to contain %q", tc.in, got, tc.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/entries?name=a":      "/entries?name=a",
		"//evil.example/x":     "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"javascript:alert(1)":  "",
		"":                     "",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailLimiter(3, 10*time.Second, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if blocked, _ := l.blocked("a"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail("a")
	}
	if blocked, wait := l.blocked("a"); !blocked || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after 3 failures: blocked=%v wait=%v", blocked, wait)
	}
	if blocked, _ := l.blocked("b"); blocked {
		t.Fatal("another client is blocked too")
	}
	now = now.Add(10 * time.Second)
	if blocked, _ := l.blocked("a"); blocked {
		t.Fatal("still blocked after the refill interval")
	}
}

func TestHumanDurationAndTruncate(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:            "30s",
		5 * time.Minute:             "5m",
		3*time.Hour + 5*time.Minute: "3h 5m",
		50 * time.Hour:              "2d 2h",
		-time.Second:                "0s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := truncate("ééé", 3); got != "é…" {
		t.Errorf("truncate cut a rune: %q", got)
	}
	if got := safeFileName("a/b c:d"); got != "a_b_c_d" {
		t.Errorf("safeFileName: %q", got)
	}
}

// regexpFind returns the first group of re in s, failing the test when
// there is none.
func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found", re)
	}
	return m[1]
}
