package scripting

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// fromJSON converts stored JSON (valid, canonical, depth-limited by the
// store) straight into JavaScript values, without goja's JSON.parse (which
// goes through encoding/json's token stream and is the largest cost of a
// point read from a script). It reports false on anything unexpected, and
// the caller falls back to JSON.parse.
func (s *runState) fromJSON(raw []byte) (goja.Value, bool) {
	p := jsonReader{s: s, b: raw}
	p.ws()
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.ws()
	return v, p.i == len(p.b)
}

type jsonReader struct {
	s *runState
	b []byte
	i int
}

func (p *jsonReader) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonReader) value(depth int) (goja.Value, bool) {
	if p.i >= len(p.b) || depth > MaxJSONDepth {
		return nil, false
	}
	vm := p.s.vm
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		obj := vm.NewObject()
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return obj, true
		}
		for {
			p.ws()
			k, ok := p.str()
			if !ok {
				return nil, false
			}
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, false
			}
			p.i++
			p.ws()
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			if k == "__proto__" {
				_ = obj.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
			} else {
				_ = obj.Set(k, v)
			}
			p.ws()
			if p.i >= len(p.b) {
				return nil, false
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == '}' {
				p.i++
				return obj, true
			}
			return nil, false
		}
	case c == '[':
		p.i++
		var vals []any
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return vm.NewArray(), true
		}
		for {
			p.ws()
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
			p.ws()
			if p.i >= len(p.b) {
				return nil, false
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == ']' {
				p.i++
				return vm.NewArray(vals...), true
			}
			return nil, false
		}
	case c == '"':
		str, ok := p.str()
		if !ok {
			return nil, false
		}
		return vm.ToValue(str), true
	case c == 't' && p.lit("true"):
		return vm.ToValue(true), true
	case c == 'f' && p.lit("false"):
		return vm.ToValue(false), true
	case c == 'n' && p.lit("null"):
		return goja.Null(), true
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		isInt := true
		for p.i < len(p.b) {
			d := p.b[p.i]
			if d >= '0' && d <= '9' || d == '-' || d == '+' {
				p.i++
				continue
			}
			if d == '.' || d == 'e' || d == 'E' {
				isInt = false
				p.i++
				continue
			}
			break
		}
		lit := string(p.b[start:p.i])
		if isInt {
			if n, err := strconv.ParseInt(lit, 10, 64); err == nil && n <= 1<<53 && n >= -(1<<53) {
				return vm.ToValue(n), true
			}
		}
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return nil, false
		}
		return vm.ToValue(f), true
	}
	return nil, false
}

func (p *jsonReader) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string at p.i.
func (p *jsonReader) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		p.i++
	}
	// Slow path: escapes.
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return "", false
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						p.i += 2
						if r2, ok = p.hex4(); !ok {
							return "", false
						}
					}
					r = utf16.DecodeRune(r, r2)
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		default:
			out = append(out, c)
			p.i++
		}
	}
	return "", false
}

func (p *jsonReader) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
