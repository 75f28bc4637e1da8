package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// stdString is encoding/json's encoding of s with HTML escaping off: the
// escaper's oracle.
func stdString(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// refTooDeep is TooDeep written the plain way, a byte and a state at a
// time: the oracle for any bytes, valid JSON or not.
func refTooDeep(b []byte, max int) (int, string) {
	depth := 0
	inStr, esc := false, false
	strStart := 0
	last, field := "", ""
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if depth == 1 {
					last = string(b[strStart:i])
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr, strStart = true, i+1
		case ':':
			if depth == 1 {
				field = last
			}
		case '{', '[':
			depth++
			if depth > max {
				if depth == 1 {
					field = ""
				}
				return i, field
			}
		case '}', ']':
			depth--
		}
	}
	return -1, ""
}

// tokenTooDeep finds the first bracket deeper than max in valid JSON with
// encoding/json's tokenizer, and the top-level member it is in (decoded):
// the oracle for what TooDeep's answers mean.
func tokenTooDeep(t *testing.T, b []byte, max int) (int, string, bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct{ object, wantKey bool }
	var stack []frame
	field := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return -1, "", true
		}
		if err != nil {
			t.Fatalf("tokenizing valid JSON %q: %v", b, err)
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if len(stack) == 1 {
				stack[0].wantKey = stack[0].object
			}
			continue
		}
		if top == 0 && stack[0].object && stack[0].wantKey {
			field = tok.(string)
			stack[0].wantKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			if len(stack) > max {
				if len(stack) == 1 {
					field = ""
				}
				return int(dec.InputOffset()) - 1, field, false
			}
			continue
		}
		if top == 0 {
			stack[0].wantKey = stack[0].object
		}
	}
}

func checkString(t *testing.T, s []byte) {
	t.Helper()
	want := stdString(t, string(s))
	if got := string(AppendString(nil, string(s))); got != want {
		t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
	}
	if got := string(AppendBytes([]byte("x,"), s)); got != "x,"+want {
		t.Fatalf("AppendBytes(x, %q) = %s, want x,%s", s, got, want)
	}
}

func checkDepth(t *testing.T, b []byte, max int) {
	t.Helper()
	at, field := TooDeep(b, max)
	atS, fieldS := TooDeep(string(b), max)
	if at != atS || string(field) != fieldS {
		t.Fatalf("TooDeep(%q, %d): bytes give %d %q, the string %d %q", b, max, at, field, atS, fieldS)
	}
	if wantAt, wantField := refTooDeep(b, max); at != wantAt || string(field) != wantField {
		t.Fatalf("TooDeep(%q, %d) = %d %q, the reference %d %q", b, max, at, field, wantAt, wantField)
	}
	if !json.Valid(b) {
		return
	}
	wantAt, wantField, _ := tokenTooDeep(t, b, max)
	var decoded string
	if at >= 0 && json.Unmarshal([]byte(`"`+string(field)+`"`), &decoded) != nil {
		t.Fatalf("TooDeep(%q, %d): field %q is not a JSON string's text", b, max, field)
	}
	if at != wantAt || decoded != wantField {
		t.Fatalf("TooDeep(%q, %d) = %d %q, encoding/json's tokens say %d %q", b, max, at, decoded, wantAt, wantField)
	}
}

var stringSeeds = []string{
	"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\n\r\t\b\f\x7f", "<html>&amp;", "ünï 日本 ✓ 😀",
	"bad\xffutf8\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "line\u2028sep\u2029", "\xe2\x80", "/slash:colon space%",
}

var depthSeeds = []string{
	``, `1`, `"[["`, `[]`, `[[1]]`, `{"a":[[1]]}`, `{"a":1,"b":{"c":[2]}}`, `[{"a":[1]}]`, `{"a\"b":[[]]}`,
	`{"\u0061":{"x":{}}}`, `{"a":"[{"}`, `"\\"[[`, `]]][[[`, `{"a" [[[`, `{"a":[` + "\"\\", `{"k": {"x": [[]]}, "j": []}`,
	` { "a" : [ [ 1 ] ] } `, `{"":[[]]}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

func TestAppendString(t *testing.T) {
	for _, s := range stringSeeds {
		checkString(t, []byte(s))
	}
	for c := range 256 {
		checkString(t, []byte{'a', byte(c), 'b'})
	}
}

func TestTooDeep(t *testing.T) {
	for _, s := range depthSeeds {
		for max := range 5 {
			checkDepth(t, []byte(s), max)
		}
	}
	for _, c := range []struct {
		in    string
		max   int
		at    int
		field string
	}{
		{`[[1]]`, 1, 1, ""},
		{`[[1]]`, 2, -1, ""},
		{`{"a":1,"bc":{"d":[2]}}`, 2, 17, "bc"},
		{`{"a\"b":[[]]}`, 2, 9, `a\"b`},
		{`[{"a":[1]}]`, 2, 6, ""},
		{`{"x":"[[[["}`, 1, -1, ""},
		{`{}`, 0, 0, ""},
	} {
		if at, field := TooDeep(c.in, c.max); at != c.at || field != c.field {
			t.Errorf("TooDeep(%s, %d) = %d %q, want %d %q", c.in, c.max, at, field, c.at, c.field)
		}
	}
}

// FuzzJSONX holds AppendString to encoding/json's encoding of the same
// string, and TooDeep to a byte-at-a-time reference on any input and to
// encoding/json's tokenizer on valid JSON.
func FuzzJSONX(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s), uint8(2))
	}
	for _, s := range depthSeeds {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, max uint8) {
		checkString(t, b)
		checkDepth(t, b, int(max%64))
	})
}
