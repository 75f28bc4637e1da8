package store

import (
	"bytes"
	"slices"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/flowkv/flowkv/internal/jsonx"
)

// scanCanonical is the fast path of canonicalize: one pass over the input
// that writes the canonical encoding without building Go values (every
// write and every exact-data search pays for canonicalisation, and the
// PostgreSQL backend pays it for every entry it reads). It returns false
// for anything it does not accept; canonicalize then runs the decoder-based
// path, which produces the same result for valid input and the error
// message for invalid input. The nesting depth is checked before.
func scanCanonical(data []byte) ([]byte, bool) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.in, s.pos, s.out = data, 0, make([]byte, 0, len(data)+2)
	s.ws()
	if !s.value() {
		return nil, false
	}
	s.ws()
	if s.pos != len(s.in) {
		return nil, false
	}
	return s.out, true
}

// scanners recycles scanners with their scratch space.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// release returns s to the pool, dropping scratch space that grew large.
func (s *scanner) release() {
	s.in, s.out = nil, nil
	if cap(s.str) > 64<<10 || cap(s.keys) > 64<<10 || cap(s.obj) > 64<<10 || cap(s.members) > 4096 {
		*s = scanner{}
	}
	s.str, s.keys, s.members, s.obj = s.str[:0], s.keys[:0], s.members[:0], s.obj[:0]
	scanners.Put(s)
}

type scanner struct {
	in  []byte
	pos int
	out []byte
	// str is scratch space for decoding strings with escapes.
	str []byte
	// keys holds the decoded keys of the objects being scanned, members
	// their entries (a stack: an object uses the part above its base).
	keys    []byte
	members []member
	// obj is scratch space for rewriting an object in key order.
	obj []byte
}

func (s *scanner) ws() {
	for s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value() bool {
	if s.pos >= len(s.in) {
		return false
	}
	switch c := s.in[s.pos]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		str, ok := s.string()
		if !ok {
			return false
		}
		s.out = jsonx.AppendBytes(s.out, str)
		return true
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.in)-s.pos < len(lit) || string(s.in[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	s.out = append(s.out, lit...)
	return true
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.in) && s.in[s.pos] >= '0' && s.in[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// number scans a number by JSON's grammar and writes its canonical form.
func (s *scanner) number() bool {
	start := s.pos
	if s.in[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(s.in) {
		return false
	}
	if s.in[s.pos] == '0' {
		s.pos++
	} else if s.digits() == 0 {
		return false
	}
	plain := true
	if s.pos < len(s.in) && s.in[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return false
		}
		plain = false
	}
	if s.pos < len(s.in) && (s.in[s.pos] == 'e' || s.in[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.in) && (s.in[s.pos] == '+' || s.in[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return false
		}
		plain = false
	}
	lit := s.in[start:s.pos]
	if plain {
		// An integer literal is canonical already (JSON forbids leading
		// zeros), except -0.
		if string(lit) == "-0" {
			lit = lit[1:]
		}
		s.out = append(s.out, lit...)
		return true
	}
	if out, ok := appendShortDecimal(s.out, lit); ok {
		s.out = out
		return true
	}
	c, err := canonicalNumber(string(lit))
	if err != nil {
		return false
	}
	s.out = append(s.out, c...)
	return true
}

// appendShortDecimal appends the canonical form of a decimal literal
// without exponent that is not an integer, has at most 15 significant
// digits and a decimal exponent in [-4, 5] — most non-integers in practice.
// Such a decimal is the shortest one that round-trips its float64 (float64
// keeps 15 decimal digits exactly), and FormatFloat(f, 'g', -1, 64) prints
// it without exponent, so its canonical form is the literal without
// trailing zeros. Anything else returns false.
func appendShortDecimal(dst, lit []byte) ([]byte, bool) {
	digits, neg := lit, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	dot := bytes.IndexByte(digits, '.')
	if dot < 0 || bytes.ContainsAny(digits, "eE") {
		return dst, false
	}
	intPart, frac := digits[:dot], bytes.TrimRight(digits[dot+1:], "0")
	if len(frac) == 0 {
		return dst, false // an integer value
	}
	var nd, exp int // significant digits, decimal exponent of the first one
	if string(intPart) == "0" {
		lead := len(frac) - len(bytes.TrimLeft(frac, "0"))
		nd, exp = len(frac)-lead, -lead-1
	} else {
		nd, exp = len(intPart)+len(frac), len(intPart)-1
	}
	if nd > 15 || exp < -4 || exp > 5 {
		return dst, false
	}
	if neg {
		dst = append(dst, '-')
	}
	dst = append(dst, intPart...)
	dst = append(dst, '.')
	return append(dst, frac...), true
}

// string scans a string literal and returns its decoded bytes, decoded as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD). The
// result aliases the input or the scanner's scratch space: use it before
// the next call.
func (s *scanner) string() ([]byte, bool) {
	s.pos++ // opening quote
	start := s.pos
	// Fast path: no escapes, no control characters, valid UTF-8.
	for s.pos < len(s.in) {
		c := s.in[s.pos]
		if c == '"' {
			str := s.in[start:s.pos]
			s.pos++
			return str, true
		}
		if c == '\\' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			s.pos++
			continue
		}
		r, size := utf8.DecodeRune(s.in[s.pos:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		s.pos += size
	}
	// Slow path: decode into scratch space.
	s.str = append(s.str[:0], s.in[start:s.pos]...)
	for s.pos < len(s.in) {
		c := s.in[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.str, true
		case c < ' ':
			return nil, false
		case c == '\\':
			s.pos++
			if s.pos >= len(s.in) {
				return nil, false
			}
			e := s.in[s.pos]
			s.pos++
			switch e {
			case '"', '\\', '/':
				s.str = append(s.str, e)
			case 'b':
				s.str = append(s.str, '\b')
			case 'f':
				s.str = append(s.str, '\f')
			case 'n':
				s.str = append(s.str, '\n')
			case 'r':
				s.str = append(s.str, '\r')
			case 't':
				s.str = append(s.str, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return nil, false
				}
				if utf16.IsSurrogate(r) {
					// A valid pair decodes to one rune; anything else is
					// U+FFFD and the next escape is read on its own.
					if s.pos+1 < len(s.in) && s.in[s.pos] == '\\' && s.in[s.pos+1] == 'u' {
						save := s.pos
						s.pos += 2
						r2, ok := s.hex4()
						if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
							s.str = utf8.AppendRune(s.str, dec)
							continue
						}
						s.pos = save
					}
					r = utf8.RuneError
				}
				s.str = utf8.AppendRune(s.str, r)
			default:
				return nil, false
			}
		case c < utf8.RuneSelf:
			s.str = append(s.str, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.in[s.pos:])
			if r == utf8.RuneError && size == 1 {
				s.str = utf8.AppendRune(s.str, utf8.RuneError)
			} else {
				s.str = append(s.str, s.in[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
	return nil, false
}

func (s *scanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.in) {
		return 0, false
	}
	var r rune
	for _, c := range s.in[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

func (s *scanner) array() bool {
	s.pos++
	s.out = append(s.out, '[')
	s.ws()
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.pos++
		s.out = append(s.out, ']')
		return true
	}
	for {
		s.ws()
		if !s.value() {
			return false
		}
		s.ws()
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
			s.out = append(s.out, ',')
		case ']':
			s.pos++
			s.out = append(s.out, ']')
			return true
		default:
			return false
		}
	}
}

// member is one object member: where its decoded key sits in keys and
// where its canonical value sits in out.
type member struct {
	kStart, kEnd int
	start, end   int
}

// object writes the members' values to out as they come, then rewrites the
// object's tail of out in key order (the last of duplicate keys wins, as
// when decoding into a map).
func (s *scanner) object() bool {
	s.pos++
	objStart := len(s.out)
	s.ws()
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
		s.out = append(s.out, '{', '}')
		return true
	}
	base, keysBase := len(s.members), len(s.keys)
	for {
		s.ws()
		if s.pos >= len(s.in) || s.in[s.pos] != '"' {
			return false
		}
		k, ok := s.string()
		if !ok {
			return false
		}
		kStart := len(s.keys)
		s.keys = append(s.keys, k...)
		kEnd := len(s.keys)
		s.ws()
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.pos++
		s.ws()
		vs := len(s.out)
		if !s.value() {
			return false
		}
		s.members = append(s.members, member{kStart: kStart, kEnd: kEnd, start: vs, end: len(s.out)})
		s.ws()
		if s.pos >= len(s.in) {
			return false
		}
		if s.in[s.pos] == '}' {
			s.pos++
			break
		}
		if s.in[s.pos] != ',' {
			return false
		}
		s.pos++
	}
	ms, keys := s.members[base:], s.keys
	slices.SortStableFunc(ms, func(a, b member) int {
		return bytes.Compare(keys[a.kStart:a.kEnd], keys[b.kStart:b.kEnd])
	})
	obj := append(s.obj[:0], '{')
	first := true
	for i, m := range ms {
		k := keys[m.kStart:m.kEnd]
		if i+1 < len(ms) && bytes.Equal(keys[ms[i+1].kStart:ms[i+1].kEnd], k) {
			continue // a later duplicate wins
		}
		if !first {
			obj = append(obj, ',')
		}
		first = false
		obj = jsonx.AppendBytes(obj, k)
		obj = append(obj, ':')
		obj = append(obj, s.out[m.start:m.end]...)
	}
	obj = append(obj, '}')
	s.out = append(s.out[:objStart], obj...)
	s.obj = obj
	s.members, s.keys = s.members[:base], s.keys[:keysBase]
	return true
}
