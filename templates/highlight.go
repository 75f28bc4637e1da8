package templates

import (
	"bytes"
	"encoding/json"
)

// PrettyJSON indents a JSON value with two spaces, without HTML escaping
// (templ escapes when printing). Invalid JSON is returned as it is.
func PrettyJSON(data []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return string(data)
	}
	return buf.String()
}

// HighlightJSON splits pretty-printed JSON into tokens with CSS classes:
// object keys, strings, numbers, true/false, null and punctuation. Text
// that is not JSON comes back as one plain token.
func HighlightJSON(pretty string) []JSONToken {
	var out []JSONToken
	s := pretty
	add := func(class, text string) {
		if n := len(out); n > 0 && out[n-1].Class == class {
			out[n-1].Text += text
			return
		}
		out = append(out, JSONToken{Class: class, Text: text})
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r') {
				j++
			}
			add("", s[i:j])
			i = j
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return []JSONToken{{Text: pretty}}
			}
			j++
			// A string followed by ':' is an object key.
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
			class := "j-str"
			if k < len(s) && s[k] == ':' {
				class = "j-key"
			}
			out = append(out, JSONToken{Class: class, Text: s[i:j]})
			i = j
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',':
			add("j-punct", s[i:i+1])
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && bytes.IndexByte([]byte("0123456789.eE+-"), s[j]) >= 0 {
				j++
			}
			out = append(out, JSONToken{Class: "j-num", Text: s[i:j]})
			i = j
		case len(s)-i >= 4 && s[i:i+4] == "true":
			out = append(out, JSONToken{Class: "j-bool", Text: "true"})
			i += 4
		case len(s)-i >= 5 && s[i:i+5] == "false":
			out = append(out, JSONToken{Class: "j-bool", Text: "false"})
			i += 5
		case len(s)-i >= 4 && s[i:i+4] == "null":
			out = append(out, JSONToken{Class: "j-null", Text: "null"})
			i += 4
		default:
			return []JSONToken{{Text: pretty}}
		}
	}
	return out
}
