// Package jsonx holds flowkv's two hand-written JSON primitives: the string
// escaper every hand-made encoder uses (canonical data, entries on the HTTP
// API, values leaving the JavaScript sandbox) and the nesting-depth check
// every decoder runs before it recurses (canonicalisation, request bodies,
// JSON.parse in the sandbox). Both are exact stand-ins for what
// encoding/json would do or see; FuzzJSONX holds them to it.
package jsonx

import (
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, byte for byte what encoding/json
// writes for a Go string with HTML escaping off: '"', '\\' and control
// characters escaped (\b \f \n \r \t, the others as \u00XX), each byte of
// invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029, all else
// as it is.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendBytes is AppendString for a byte slice, which it reads without
// copying: s must not share memory with dst's spare capacity.
func AppendBytes(dst, s []byte) []byte {
	return AppendString(dst, unsafe.String(unsafe.SliceData(s), len(s)))
}

// TooDeep reports where the JSON text b nests deeper than max: the offset
// of the first '[' or '{' that opens level max+1, or -1 when none does.
// It counts brackets outside string literals without decoding anything (so
// it never recurses, and runs before a decoder that does) and accepts any
// bytes; for valid JSON, the level of a bracket is the number of arrays
// and objects it is inside, plus one.
//
// field is the raw text (escapes as written) of the top-level object's
// member the deep bracket is in, or empty when the text is not an object
// or the bracket is not inside a member's value.
func TooDeep[T ~string | ~[]byte](b T, max int) (at int, field T) {
	depth := 0
	keyStart, keyEnd := 0, 0     // the last string closed at level 1
	fieldStart, fieldEnd := 0, 0 // the member whose value is being read
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			start := i + 1
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 1 {
				keyStart, keyEnd = start, min(i, len(b))
			}
		case ':':
			if depth == 1 {
				fieldStart, fieldEnd = keyStart, keyEnd
			}
		case '[', '{':
			depth++
			if depth > max {
				if depth == 1 {
					fieldStart, fieldEnd = 0, 0
				}
				return i, b[fieldStart:fieldEnd]
			}
		case ']', '}':
			depth--
		}
	}
	return -1, b[:0]
}
