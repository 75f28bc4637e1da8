package blocks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"

	"github.com/flowkv/flowkv/store"
)

// ParseFlow reads a flow document in YAML or JSON (JSON is read as YAML's
// subset). It decodes the YAML node tree strictly, so every problem is
// placed at its line and column: a document with shape problems (unknown
// or mistyped fields, an unquoted {{ expression }}) is refused with a
// *ValidationError that lists them together with what Validate finds in
// the rest. Validate checks a flow ParseFlow accepted; its problems get
// their places too.
func ParseFlow(src []byte) (*Flow, error) {
	if len(src) > MaxFlowBytes {
		return nil, store.Errorf(store.CodeTooLarge, "flow document is %d bytes, the limit is %d", len(src), MaxFlowBytes)
	}
	root, err := parseYAMLDocument(src)
	if err != nil {
		return nil, err
	}
	d := &flowDecoder{src: src, pos: &docPositions{blocks: map[int]map[string]Pos{}, top: map[string]Pos{}}}
	f := d.flow(root)
	f.pos = d.pos
	if len(d.problems) == 0 {
		return f, nil
	}
	ps := d.problems
	// What compile finds in the rest, but not again for a field the
	// decoder already judged (its value is missing from f).
	judged := map[[2]string]bool{}
	for _, p := range ps {
		judged[[2]string{p.Block, p.Field}] = true
	}
	if _, err := compile(f); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, p := range f.placeProblems(ve.Problems) {
				if !judged[[2]string{p.Block, p.Field}] {
					ps = append(ps, p)
				}
			}
		}
	}
	return nil, &ValidationError{Flow: f.ID, Problems: sortProblems(dedupProblems(ps))}
}

// Pos is a place in a flow document: 1-based line and column.
type Pos struct{ Line, Column int }

// docPositions are where a parsed document set its fields: top by field
// ("timeout", "trigger.every"), blocks by block index then field ("" for
// the block itself).
type docPositions struct {
	top    map[string]Pos
	blocks map[int]map[string]Pos
}

// Decoding bounds: a document whose aliases expand to more values than
// maxDocValues is refused (a "billion laughs" bomb), as is one nested
// deeper than store.DefaultMaxDepth.
const maxDocValues = 100_000

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAMLDocument parses src into its one document's root node.
func parseYAMLDocument(src []byte) (*yaml.Node, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, docError(Pos{}, "the flow document is empty")
	}
	if bracketDepth(src) > maxDocBrackets {
		return nil, docError(Pos{}, fmt.Sprintf("the document is nested deeper than %d brackets; a flow's values nest at most %d deep", maxDocBrackets, store.DefaultMaxDepth))
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, docError(Pos{}, "the flow document is empty (it holds only comments)")
		}
		if t := bytes.TrimSpace(src); t[0] == '{' {
			if _, jerr := decodeJSON(t); jerr != nil {
				return nil, jsonError(src, jerr)
			}
		}
		return nil, yamlError(src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, docError(Pos{Line: extra.Line, Column: extra.Column}, "the file holds more than one YAML document (a line with ---); a flow is one document")
	}
	if len(doc.Content) == 0 {
		return nil, docError(Pos{}, "the flow document is empty")
	}
	return doc.Content[0], nil
}

// maxDocBrackets bounds the bracket nesting of a document, checked before
// the YAML parser (which recurses) sees it; values nested deeper than
// store.DefaultMaxDepth are refused at their place after parsing.
const maxDocBrackets = 1000

// bracketDepth is the deepest '[' and '{' nesting of src, from above: in
// strings and comments too, so nothing nested can hide from it.
func bracketDepth(src []byte) int {
	depth, max := 0, 0
	for _, c := range src {
		switch c {
		case '[', '{':
			depth++
			if depth > max {
				max = depth
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return max
}

func docError(p Pos, msg string) error {
	return &ValidationError{Problems: []Problem{{Line: p.Line, Column: p.Column, Message: msg}}}
}

// yamlError turns a YAML syntax error into a problem at its line. The
// parser names the line where the enclosing block began (a bad indent on
// line 6 is "line 3"), so the line is found again as the first whose
// prefix of the document does not parse.
func yamlError(src []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return docError(Pos{}, "not valid YAML: "+msg)
	}
	line, _ := strconv.Atoi(m[1])
	p := Pos{Line: line}
	lines := bytes.SplitAfter(src, []byte("\n"))
	// The smallest k such that the first k lines fail: prefixes of a
	// document parse until the line that breaks it.
	lo, hi := line, len(lines)
	if lo < 1 {
		lo = 1
	}
	fails := func(k int) bool {
		var n yaml.Node
		return yaml.Unmarshal(bytes.Join(lines[:k], nil), &n) != nil
	}
	if lo <= hi && fails(hi) {
		for lo < hi {
			mid := (lo + hi) / 2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		l := lines[hi-1]
		p = Pos{Line: hi, Column: len(l) - len(bytes.TrimLeft(l, " ")) + 1}
	}
	return docError(p, "not valid YAML: "+m[2]+yamlHint(m[2]))
}

func yamlHint(msg string) string {
	switch {
	case strings.Contains(msg, "did not find expected"), strings.Contains(msg, "mapping values are not allowed"):
		return " (check this line's indentation: a field lines up with the fields beside it)"
	case strings.Contains(msg, "found character that cannot start any token") && strings.Contains(msg, "tab"):
		return " (indent with spaces, not tabs)"
	}
	return ""
}

// jsonError places a JSON syntax error by its byte offset.
func jsonError(src []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offset is just past the bad byte
	case errors.As(err, &te):
		off = te.Offset
	}
	p := Pos{}
	if off >= 0 && off <= int64(len(src)) {
		p = offsetPos(src, int(off))
	}
	return docError(p, "not valid JSON: "+err.Error())
}

func offsetPos(src []byte, off int) Pos {
	before := src[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - bytes.LastIndexByte(before, '\n')
	return Pos{Line: line, Column: col}
}

// flowDecoder walks a document's node tree into a Flow, collecting every
// problem with its place.
type flowDecoder struct {
	src      []byte
	pos      *docPositions
	problems []Problem
	values   int // values decoded, aliases expanded
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func (d *flowDecoder) add(n *yaml.Node, block, field, format string, args ...any) {
	p := Problem{Block: block, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

var (
	flowFields    = []string{"id", "description", "dataStores", "trigger", "timeout", "blocks", "respond"}
	triggerFields = []string{"type", "every", "cron", "input", "secret"}
	respondFields = []string{"status", "body"}
)

// suggest names the candidate closest to name when it is close: a typo's
// likely meaning.
func suggest(name string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(strings.ToLower(name), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 2 || bestD > len(name)/2 {
		return ""
	}
	return best
}

// unknownField is the message for a field a mapping does not have.
func unknownField(what, name string, known []string) string {
	msg := fmt.Sprintf("unknown %s field %q", what, name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" — did you mean %q?", s)
	}
	return msg + fmt.Sprintf(" (%s fields: %s)", what, strings.Join(known, ", "))
}

type pair struct {
	key       string
	keyNode   *yaml.Node
	valueNode *yaml.Node
}

// pairs lists a mapping's entries, merge keys (<<: *base) applied; a key
// that is not text is a problem.
func (d *flowDecoder) pairs(n *yaml.Node, block, field string, depth int) []pair {
	var out []pair
	seen := map[string]bool{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			for _, m := range d.mergeSources(v) {
				merged = append(merged, d.pairs(m, block, field, depth+1)...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			if d.isTemplate(k) {
				d.add(k, block, field, "an unquoted {{ … }} starts a YAML mapping: quote the expression (\"%s\")", d.templateText(k))
			} else {
				d.add(k, block, field, "a key must be text")
			}
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{k.Value, k, v})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out
}

func (d *flowDecoder) mergeSources(v *yaml.Node) []*yaml.Node {
	v = d.deref(v)
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range v.Content {
			if c = d.deref(c); c != nil && c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	if v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	return nil
}

// deref follows an alias, counting it against the document's budget.
func (d *flowDecoder) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isTemplate reports whether n is what an unquoted {{ expr }} parses as:
// a flow mapping whose one key is a flow mapping with no value.
func (d *flowDecoder) isTemplate(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0 && n.Line > 0 &&
		n.Column > 0 && n.Line <= bytes.Count(d.src, []byte("\n"))+1 &&
		strings.HasPrefix(d.lineFrom(n), "{{")
}

// lineFrom is the rest of n's line in the source, from n on.
func (d *flowDecoder) lineFrom(n *yaml.Node) string {
	lines := bytes.Split(d.src, []byte("\n"))
	if n.Line < 1 || n.Line > len(lines) {
		return ""
	}
	l := string(bytes.TrimRight(lines[n.Line-1], "\r"))
	if n.Column-1 > len(l) {
		return ""
	}
	return l[n.Column-1:]
}

// templateText is the {{ … }} text at n, as written.
func (d *flowDecoder) templateText(n *yaml.Node) string {
	t := d.lineFrom(n)
	if i := strings.LastIndex(t, "}}"); i >= 0 {
		t = t[:i+2]
	}
	return strings.ReplaceAll(t, `"`, `'`)
}

// value converts any node to a JSON value (json.Number numbers), placing
// what cannot be one.
func (d *flowDecoder) value(n *yaml.Node, key, block, field string, depth int) (any, bool) {
	d.values++
	if d.values == maxDocValues+1 {
		d.add(n, block, field, "the document expands to more than %d values (YAML aliases?)", maxDocValues)
	}
	if d.values > maxDocValues {
		return nil, false
	}
	if depth > store.DefaultMaxDepth {
		d.add(n, block, field, "nested deeper than %d levels", store.DefaultMaxDepth)
		return nil, false
	}
	if n.Kind == yaml.AliasNode {
		return d.value(n.Alias, key, block, field, depth+1)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return d.scalar(n, block, field)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for _, c := range n.Content {
			v, cok := d.value(c, key, block, field, depth+1)
			ok = ok && cok
			out = append(out, v)
		}
		return out, ok
	case yaml.MappingNode:
		if d.isTemplate(n) {
			name := key
			if name == "" {
				name = "the value"
			}
			d.add(n, block, field, "quote the expression: %s: \"%s\" (unquoted, YAML reads {{ … }} as a mapping)", name, d.templateText(n))
			return nil, false
		}
		out := map[string]any{}
		ok := true
		for _, p := range d.pairs(n, block, field, depth) {
			v, cok := d.value(p.valueNode, p.key, block, field, depth+1)
			ok = ok && cok
			out[p.key] = v
		}
		return out, ok
	}
	d.add(n, block, field, "unsupported YAML node")
	return nil, false
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// scalar converts a scalar by its resolved tag.
func (d *flowDecoder) scalar(n *yaml.Node, block, field string) (any, bool) {
	switch n.ShortTag() {
	case "!!str":
		return n.Value, true
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.add(n, block, field, "%v", err)
			return nil, false
		}
		return b, true
	case "!!int", "!!float":
		if jsonNumber.MatchString(n.Value) {
			return json.Number(n.Value), true
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.add(n, block, field, "%v", err)
			return nil, false
		}
		switch v := x.(type) {
		case int:
			return json.Number(strconv.Itoa(v)), true
		case int64:
			return json.Number(strconv.FormatInt(v, 10)), true
		case uint64:
			return json.Number(strconv.FormatUint(v, 10)), true
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				d.add(n, block, field, "%s is not a JSON number", n.Value)
				return nil, false
			}
			return json.Number(store.FormatNumber(v)), true
		}
		return n.Value, true
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err == nil {
			return t.UTC().Format(time.RFC3339Nano), true
		}
		return n.Value, true
	}
	d.add(n, block, field, "unsupported YAML tag %s (write the value as text, a number, true/false or null)", n.Tag)
	return nil, false
}

// text reads a field that must be text (numbers are taken as written).
func (d *flowDecoder) text(n *yaml.Node, block, field string) string {
	n = d.deref(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float":
			return n.Value
		case "!!null":
			return ""
		}
	}
	if d.isTemplate(n) {
		d.add(n, block, field, "quote the expression: %s: \"%s\" (unquoted, YAML reads {{ … }} as a mapping)", lastPart(field), d.templateText(n))
		return ""
	}
	d.add(n, block, field, "want text, got %s", nodeKind(n))
	return ""
}

func lastPart(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	case "!!null":
		return "null"
	}
	return "a " + n.ShortTag() + " value"
}

// flow decodes the document's root.
func (d *flowDecoder) flow(root *yaml.Node) *Flow {
	f := &Flow{}
	root = d.deref(root)
	if root.Kind != yaml.MappingNode {
		d.add(root, "", "", "a flow must be a mapping with id, dataStores, trigger and blocks, got %s", nodeKind(root))
		return f
	}
	for _, p := range d.pairs(root, "", "", 0) {
		d.pos.top[p.key] = nodePos(p.keyNode)
		v := p.valueNode
		switch p.key {
		case "id":
			f.ID = d.text(v, "", "id")
		case "description":
			f.Description = d.text(v, "", "description")
		case "timeout":
			f.Timeout = d.text(v, "", "timeout")
		case "dataStores":
			f.DataStores = d.dataStores(v)
		case "trigger":
			d.trigger(v, &f.Trigger)
		case "blocks":
			f.Blocks = d.blocks(v)
		case "respond":
			f.Respond = d.respond(v)
		default:
			d.add(p.keyNode, "", p.key, "%s", unknownField("flow", p.key, flowFields))
		}
	}
	return f
}

func (d *flowDecoder) dataStores(v *yaml.Node) []string {
	v = d.deref(v)
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		return nil
	case v.Kind != yaml.SequenceNode:
		d.add(v, "", "dataStores", "want a list of namespaces such as [orders, customers:read], got %s", nodeKind(v))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for _, c := range v.Content {
		if s := d.text(c, "", "dataStores"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (d *flowDecoder) trigger(v *yaml.Node, t *Trigger) {
	v = d.deref(v)
	if v.Kind == yaml.ScalarNode { // trigger: manual
		t.Type = d.text(v, "", "trigger")
		return
	}
	if v.Kind != yaml.MappingNode {
		d.add(v, "", "trigger", "want a trigger type (manual, webhook, schedule) or a mapping such as {type: schedule, every: 5m}, got %s", nodeKind(v))
		return
	}
	for _, p := range d.pairs(v, "", "trigger", 0) {
		field := "trigger." + p.key
		d.pos.top[field] = nodePos(p.keyNode)
		switch p.key {
		case "type":
			t.Type = d.text(p.valueNode, "", field)
		case "every":
			t.Every = d.text(p.valueNode, "", field)
		case "cron":
			t.Cron = d.text(p.valueNode, "", field)
		case "secret":
			t.SetSecret(d.text(p.valueNode, "", field))
		case "secretSet": // what reading a flow shows; ignored
		case "input":
			if x, ok := d.value(p.valueNode, "input", "", field, 1); ok {
				b, err := json.Marshal(x)
				if err != nil {
					d.add(p.valueNode, "", field, "%v", err)
				} else {
					t.Input = b
				}
			}
		default:
			d.add(p.keyNode, "", field, "%s", unknownField("trigger", p.key, triggerFields))
		}
	}
}

func (d *flowDecoder) respond(v *yaml.Node) *Respond {
	v = d.deref(v)
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.add(v, "", "respond", "want a mapping such as {status: 200, body: \"{{ steps.save }}\"}, got %s", nodeKind(v))
		return nil
	}
	r := &Respond{}
	for _, p := range d.pairs(v, "", "respond", 0) {
		field := "respond." + p.key
		d.pos.top[field] = nodePos(p.keyNode)
		switch p.key {
		case "status", "body":
			x, ok := d.value(p.valueNode, p.key, "", field, 1)
			if !ok {
				continue
			}
			if p.key == "status" {
				r.Status = x
			} else {
				r.Body = x
			}
		default:
			d.add(p.keyNode, "", field, "%s", unknownField("respond", p.key, respondFields))
		}
	}
	return r
}

func (d *flowDecoder) blocks(v *yaml.Node) []BlockConfig {
	v = d.deref(v)
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		d.add(v, "", "blocks", "want a list of blocks (each item starting with \"- id: …\"), got %s", nodeKind(v))
		return nil
	}
	out := make([]BlockConfig, 0, len(v.Content))
	for i, c := range v.Content {
		c = d.deref(c)
		label := fmt.Sprintf("#%d", i+1)
		pos := map[string]Pos{"": nodePos(c)}
		d.pos.blocks[i] = pos
		b := BlockConfig{Fields: map[string]any{}}
		if c.Kind != yaml.MappingNode {
			d.add(c, label, "", "a block must be a mapping with id, type and its fields, got %s", nodeKind(c))
			out = append(out, b)
			continue
		}
		ps := d.pairs(c, label, "", 1)
		for _, p := range ps { // the id first: problems name the block by it
			if p.key == "id" {
				b.ID = d.text(p.valueNode, label, "id")
			}
		}
		if b.ID != "" {
			label = b.ID
		}
		for _, p := range ps {
			pos[p.key] = nodePos(p.keyNode)
			switch p.key {
			case "id":
			case "type":
				b.Type = d.text(p.valueNode, label, "type")
			case "if":
				if x, ok := d.value(p.valueNode, "if", label, "if", 2); ok {
					b.If = x
				}
			default:
				if x, ok := d.value(p.valueNode, p.key, label, p.key, 2); ok {
					b.Fields[p.key] = x
				}
			}
		}
		out = append(out, b)
	}
	return out
}

// placeProblems gives problems found by compile the place of their block
// and field in the document f was parsed from (none for a flow not
// parsed from a document).
func (f *Flow) placeProblems(ps []Problem) []Problem {
	if f.pos == nil {
		return ps
	}
	index := map[string]int{}
	for i := len(f.Blocks) - 1; i >= 0; i-- {
		index[fmt.Sprintf("#%d", i+1)] = i
		if id := f.Blocks[i].ID; id != "" {
			index[id] = i
		}
	}
	out := make([]Problem, len(ps))
	for i, p := range ps {
		if p.Line == 0 {
			var at Pos
			var ok bool
			if p.Block == "" {
				at, ok = f.pos.top[p.Field]
				if !ok && strings.HasPrefix(p.Field, "trigger.") {
					at, ok = f.pos.top["trigger"]
				}
			} else if bi, found := index[p.Block]; found {
				bp := f.pos.blocks[bi]
				if at, ok = bp[p.Field]; !ok {
					at, ok = bp[""]
				}
			}
			if ok {
				p.Line, p.Column = at.Line, at.Column
			}
		}
		out[i] = p
	}
	return out
}

// sortProblems orders problems by place in the document; those without
// one (a missing field) keep their order after them.
func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return ps
}

// dedupProblems drops repeats (the same field judged by the decoder and
// by compile).
func dedupProblems(ps []Problem) []Problem {
	seen := map[Problem]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
