package blocks

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/flowkv/flowkv/store"
)

// Expressions
//
// A field value may hold `{{ expr }}` templates. expr is a small, side-effect
// free language over four roots only — input, steps, flow and request — with:
//
//	paths       input.user.id   steps.lookup.data   input.items[0]   input["a-b"]
//	literals    'text' "text" 12 1.5 true false null
//	operators   == != < <= > >=   && || ! ??   + - * / %   cond ? a : b   ( )
//
// There are no function calls, assignments or loops, so evaluation always
// ends, touches nothing outside its three roots and costs at most linear
// time in the expression's size. A missing property, or any property of
// null, is null (like JavaScript's ?.). `==` compares JSON values deeply
// without type coercion. && and || return one of their operands, as in
// JavaScript. `+` adds numbers and concatenates when either side is text.
//
// A field that is exactly one template keeps the expression's JSON type
// (object, number, …); a template embedded in text is interpolated (text as
// is, null as "", other values as compact JSON).

const (
	maxExprLen   = 4096
	maxExprDepth = 64
	maxTextLen   = 4 << 20
)

// hasTemplate reports whether s contains a `{{` template opening.
func hasTemplate(s string) bool { return strings.Contains(s, "{{") }

// node is a compiled expression.
type node interface {
	eval(sc scope) (any, error)
}

// scope is what expressions can see: the roots input, steps, flow and
// request (the webhook request; null for other runs).
type scope map[string]any

// template is a compiled string field: literal text and expressions.
type template struct {
	parts []tmplPart
	// whole is set when the string is exactly one expression (surrounding
	// whitespace aside): its value keeps its JSON type.
	whole node
}

type tmplPart struct {
	text string
	expr node
	src  string
}

// compileTemplate parses the templates of s.
func compileTemplate(s string) (*template, error) {
	t := &template{}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, tmplPart{text: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{text: rest[:i]})
		}
		end := templateEnd(rest[i+2:])
		if end < 0 {
			return nil, fmt.Errorf("unclosed {{ in %q", clip(s))
		}
		src := rest[i+2 : i+2+end]
		n, err := parseExpr(src)
		if err != nil {
			return nil, fmt.Errorf("expression {{%s}}: %v", clip(src), err)
		}
		t.parts = append(t.parts, tmplPart{expr: n, src: strings.TrimSpace(src)})
		rest = rest[i+2+end+2:]
	}
	var exprs []node
	onlySpace := true
	for _, p := range t.parts {
		if p.expr != nil {
			exprs = append(exprs, p.expr)
		} else if strings.TrimSpace(p.text) != "" {
			onlySpace = false
		}
	}
	if len(exprs) == 1 && onlySpace {
		t.whole = exprs[0]
	}
	return t, nil
}

// templateEnd returns the index of the `}}` closing a template in s (which
// starts right after `{{`), skipping quoted strings; -1 if unclosed.
func templateEnd(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// eval evaluates the template: the typed value for a whole-field template,
// else the interpolated text.
func (t *template) eval(sc scope) (any, error) {
	if t.whole != nil {
		return t.whole.eval(sc)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.expr.eval(sc)
		if err != nil {
			return nil, fmt.Errorf("{{ %s }}: %w", clip(p.src), err)
		}
		s, err := toText(v)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		if b.Len() > maxTextLen {
			return nil, store.Errorf(store.CodeTooLarge, "interpolated text is longer than %d bytes", maxTextLen)
		}
	}
	return b.String(), nil
}

// toText renders a value for interpolation.
func toText(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
}

// EvalExpression evaluates one expression (without the braces) against
// input, steps and flow given as JSON values. It is what the runner uses
// for `{{ … }}`, exposed for tools and tests.
func EvalExpression(expr string, input json.RawMessage, steps map[string]json.RawMessage, flow FlowInfo) (json.RawMessage, error) {
	n, err := parseExpr(expr)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "expression: %v", err)
	}
	sc, err := newScope(input, steps, flow)
	if err != nil {
		return nil, err
	}
	v, err := n.eval(sc)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "expression: %v", err)
	}
	return json.Marshal(v)
}

func newScope(input json.RawMessage, steps map[string]json.RawMessage, flow FlowInfo) (scope, error) {
	in, err := decodeJSON(input)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "input is not valid JSON: %v", err)
	}
	st := make(map[string]any, len(steps))
	for id, raw := range steps {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "output of %s is not valid JSON: %v", id, err)
		}
		st[id] = v
	}
	return scope{"input": in, "steps": st, "request": nil, "flow": map[string]any{
		"id": flow.ID, "uuid": flow.UUID, "runId": flow.RunID, "startedAt": flow.StartedAt,
	}}, nil
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tOp
)

type token struct {
	kind tokKind
	text string // identifier, operator, or decoded string
	num  json.Number
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], pos: i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				((src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				j++
			}
			lit := src[i:j]
			if _, err := strconv.ParseFloat(lit, 64); err != nil || !json.Valid([]byte(lit)) {
				return nil, fmt.Errorf("bad number %q at %d", lit, i)
			}
			num := json.Number(lit)
			if strings.ContainsAny(lit, ".eE") {
				f, _ := strconv.ParseFloat(lit, 64)
				num = json.Number(store.FormatNumber(f))
			}
			toks = append(toks, token{kind: tNumber, num: num, pos: i})
			i = j
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(src) {
				d := src[j]
				if d == c {
					closed = true
					j++
					break
				}
				if d == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(src[j])
					}
					j++
					continue
				}
				b.WriteByte(d)
				j++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, token{kind: tString, text: b.String(), pos: i})
			i = j
		default:
			op := ""
			for _, cand := range []string{"==", "!=", "<=", ">=", "&&", "||", "??", "?.", "===", "!=="} {
				if strings.HasPrefix(src[i:], cand) && len(cand) > len(op) {
					op = cand
				}
			}
			if op == "" {
				if strings.IndexByte(".[]()!<>+-*/%?:", c) < 0 {
					return nil, fmt.Errorf("unexpected character %q at %d", c, i)
				}
				op = string(c)
			}
			i += len(op)
			switch op {
			case "===":
				op = "=="
			case "!==":
				op = "!="
			case "?.":
				op = "."
			}
			toks = append(toks, token{kind: tOp, text: op, pos: i - len(op)})
		}
	}
	return append(toks, token{kind: tEOF, pos: len(src)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// ---- parser ----

type parser struct {
	toks  []token
	i     int
	depth int
}

func parseExpr(src string) (node, error) {
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("longer than %d characters", maxExprLen)
	}
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %s at %d", describe(t), t.pos)
	}
	return n, nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tNumber:
		return "number " + string(t.num)
	case tString:
		return "string"
	default:
		return strconv.Quote(t.text)
	}
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) isOp(op string) bool {
	t := p.toks[p.i]
	return t.kind == tOp && t.text == op
}

func (p *parser) expectOp(op string) error {
	if !p.isOp(op) {
		t := p.peek()
		return fmt.Errorf("want %q, found %s at %d", op, describe(t), t.pos)
	}
	p.i++
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return fmt.Errorf("nested deeper than %d", maxExprDepth)
	}
	return nil
}

func (p *parser) ternary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	cond, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if !p.isOp("?") {
		return cond, nil
	}
	p.i++
	a, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if err := p.expectOp(":"); err != nil {
		return nil, err
	}
	b, err := p.ternary()
	if err != nil {
		return nil, err
	}
	return &condNode{cond: cond, a: a, b: b}, nil
}

// precedence levels, lowest first.
var levels = [][]string{
	{"??"},
	{"||"},
	{"&&"},
	{"==", "!="},
	{"<", "<=", ">", ">="},
	{"+", "-"},
	{"*", "/", "%"},
}

func (p *parser) binary(level int) (node, error) {
	if level == len(levels) {
		return p.unary()
	}
	l, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || !contains(levels[level], t.text) {
			return l, nil
		}
		p.i++
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l = &binNode{op: t.text, l: l, r: r}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() (node, error) {
	if p.isOp("!") || p.isOp("-") {
		op := p.peek().text
		p.i++
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &unNode{op: op, x: x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.i++
			t := p.peek()
			if t.kind != tIdent {
				return nil, fmt.Errorf("want a property name after '.', found %s at %d", describe(t), t.pos)
			}
			p.i++
			x = &memberNode{x: x, key: &litNode{v: t.text}}
		case p.isOp("["):
			p.i++
			k, err := p.ternary()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp("]"); err != nil {
				return nil, err
			}
			x = &memberNode{x: x, key: k}
		case p.isOp("("):
			return nil, fmt.Errorf("function calls are not supported (at %d)", p.peek().pos)
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.i++
		return &litNode{v: t.num}, nil
	case tString:
		p.i++
		return &litNode{v: t.text}, nil
	case tIdent:
		p.i++
		switch t.text {
		case "true":
			return &litNode{v: true}, nil
		case "false":
			return &litNode{v: false}, nil
		case "null", "undefined":
			return &litNode{v: nil}, nil
		case "input", "steps", "flow", "request":
			return &rootNode{name: t.text}, nil
		}
		return nil, fmt.Errorf("unknown name %q at %d (expressions see input, steps, flow and request only)", t.text, t.pos)
	case tOp:
		if t.text == "(" {
			p.i++
			x, err := p.ternary()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
	}
	return nil, fmt.Errorf("unexpected %s at %d", describe(t), t.pos)
}

// ---- evaluation ----

type litNode struct{ v any }

func (n *litNode) eval(scope) (any, error) { return n.v, nil }

type rootNode struct{ name string }

func (n *rootNode) eval(sc scope) (any, error) {
	v := sc[n.name]
	if m, ok := v.(map[string]any); ok && n.name == "steps" {
		// The whole steps object: resolve every lazily decoded output.
		out := make(map[string]any, len(m))
		for k, x := range m {
			r, err := resolve(x)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return resolve(v) // request is decoded on first use
}

// lazyJSON is a block output in the steps scope, decoded on first use:
// most outputs are never read by an expression.
type lazyJSON struct {
	raw  json.RawMessage
	once sync.Once
	v    any
	err  error
}

func (l *lazyJSON) get() (any, error) {
	l.once.Do(func() { l.v, l.err = decodeJSON(l.raw) })
	return l.v, l.err
}

// resolve decodes a lazyJSON; other values are returned as they are.
func resolve(v any) (any, error) {
	if l, ok := v.(*lazyJSON); ok {
		return l.get()
	}
	return v, nil
}

type memberNode struct {
	x   node
	key node
}

func (n *memberNode) eval(sc scope) (any, error) {
	x, err := n.x.eval(sc)
	if err != nil {
		return nil, err
	}
	k, err := n.key.eval(sc)
	if err != nil {
		return nil, err
	}
	switch c := x.(type) {
	case map[string]any:
		ks, err := toText(k)
		if err != nil {
			return nil, err
		}
		return resolve(c[ks])
	case []any:
		if k == "length" {
			return json.Number(strconv.Itoa(len(c))), nil
		}
		f, ok := toFloat(k)
		if !ok || f != math.Trunc(f) || f < 0 || f >= float64(len(c)) {
			return nil, nil
		}
		return c[int(f)], nil
	case string:
		if k == "length" {
			return json.Number(strconv.Itoa(len([]rune(c)))), nil
		}
	}
	return nil, nil
}

type unNode struct {
	op string
	x  node
}

func (n *unNode) eval(sc scope) (any, error) {
	x, err := n.x.eval(sc)
	if err != nil {
		return nil, err
	}
	if n.op == "!" {
		return !truthy(x), nil
	}
	f, ok := toFloat(x)
	if !ok {
		return nil, fmt.Errorf("unary - needs a number, got %s", kindOf(x))
	}
	return number(-f), nil
}

type condNode struct{ cond, a, b node }

func (n *condNode) eval(sc scope) (any, error) {
	c, err := n.cond.eval(sc)
	if err != nil {
		return nil, err
	}
	if truthy(c) {
		return n.a.eval(sc)
	}
	return n.b.eval(sc)
}

type binNode struct {
	op   string
	l, r node
}

func (n *binNode) eval(sc scope) (any, error) {
	l, err := n.l.eval(sc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "&&":
		if !truthy(l) {
			return l, nil
		}
		return n.r.eval(sc)
	case "||":
		if truthy(l) {
			return l, nil
		}
		return n.r.eval(sc)
	case "??":
		if l != nil {
			return l, nil
		}
		return n.r.eval(sc)
	}
	r, err := n.r.eval(sc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return jsonEqual(l, r), nil
	case "!=":
		return !jsonEqual(l, r), nil
	case "<", "<=", ">", ">=":
		c, err := compare(l, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.op, err)
		}
		switch n.op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		default:
			return c >= 0, nil
		}
	case "+":
		_, ls := l.(string)
		_, rs := r.(string)
		if ls || rs {
			a, err := toText(l)
			if err != nil {
				return nil, err
			}
			b, err := toText(r)
			if err != nil {
				return nil, err
			}
			if len(a)+len(b) > maxTextLen {
				return nil, store.Errorf(store.CodeTooLarge, "text is longer than %d bytes", maxTextLen)
			}
			return a + b, nil
		}
	}
	a, aok := toFloat(l)
	b, bok := toFloat(r)
	if !aok || !bok {
		return nil, fmt.Errorf("%s needs numbers, got %s and %s", n.op, kindOf(l), kindOf(r))
	}
	switch n.op {
	case "+":
		return number(a + b), nil
	case "-":
		return number(a - b), nil
	case "*":
		return number(a * b), nil
	case "/":
		if b == 0 {
			return nil, fmt.Errorf("division by zero")
		}
		return number(a / b), nil
	case "%":
		if b == 0 {
			return nil, fmt.Errorf("division by zero")
		}
		return number(math.Mod(a, b)), nil
	}
	return nil, fmt.Errorf("unknown operator %s", n.op)
}

func number(f float64) any {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return json.Number(store.FormatNumber(f))
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// truthy is JavaScript's truthiness on JSON values.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f != 0
	}
	return true
}

func compare(l, r any) (int, error) {
	if a, ok := toFloat(l); ok {
		if b, ok := toFloat(r); ok {
			switch {
			case a < b:
				return -1, nil
			case a > b:
				return 1, nil
			}
			return 0, nil
		}
	}
	if a, ok := l.(string); ok {
		if b, ok := r.(string); ok {
			return strings.Compare(a, b), nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s with %s", kindOf(l), kindOf(r))
}

// jsonEqual compares JSON values; numbers by value.
func jsonEqual(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// nullReason explains why a whole-field template evaluated to null: the
// expression as written and the first path in it that is missing (or
// null), as in `"{{ input.id }}" is null: input.id is missing`. It is ""
// for anything else.
func nullReason(n node, sc scope) string {
	t, ok := n.(*template)
	if !ok || t.whole == nil || len(t.parts) != 1 {
		return ""
	}
	msg := fmt.Sprintf("%q is null", "{{ "+t.parts[0].src+" }}")
	if p := missingPath(t.whole, sc); p != "" {
		msg += ": " + p + " is missing"
	}
	return msg
}

// missingPath is the shortest path of n (a chain of members from a root)
// that evaluates to null.
func missingPath(n node, sc scope) string {
	switch x := n.(type) {
	case *rootNode:
		if v, err := x.eval(sc); err == nil && v == nil {
			return x.name
		}
	case *memberNode:
		if p := missingPath(x.x, sc); p != "" {
			return p
		}
		if v, err := x.eval(sc); err == nil && v == nil {
			return pathText(x)
		}
	}
	return ""
}

// pathText writes a member chain as written: input.user.id, input.items[0],
// input["odd key"].
func pathText(n node) string {
	switch x := n.(type) {
	case *rootNode:
		return x.name
	case *memberNode:
		base := pathText(x.x)
		if l, ok := x.key.(*litNode); ok {
			switch k := l.v.(type) {
			case string:
				if identRe.MatchString(k) {
					return base + "." + k
				}
				return base + "[" + strconv.Quote(k) + "]"
			case json.Number:
				return base + "[" + k.String() + "]"
			}
		}
		return base + "[…]"
	}
	return "…"
}

var identRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)
