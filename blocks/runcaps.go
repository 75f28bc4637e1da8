package blocks

import (
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Size caps of what a run record keeps (the run itself sees everything:
// a block's full output is the next block's steps.ID). What was cut is
// marked and the record says truncated: true.
const (
	// MaxRecordedOutputBytes bounds a block output kept in the record;
	// a larger one is kept as {"truncated": true, "bytes": N}.
	MaxRecordedOutputBytes = 256 << 10
	// MaxLogLineBytes bounds one log line's message (cut, ending in "…").
	MaxLogLineBytes = 8 << 10
	// MaxLogBytes bounds the messages of a run's logs in total; the lines
	// beyond it (or beyond Options.MaxLogLines) are dropped, and one last
	// line says how many.
	MaxLogBytes = 256 << 10
	// MaxRequestFields bounds the headers and the query parameters a
	// run's request keeps (each; in name order), MaxRequestValueBytes
	// each value.
	MaxRequestFields     = 100
	MaxRequestValueBytes = 4 << 10
)

// truncatedMarker replaces an output too large to keep.
func truncatedMarker(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"truncated":true,"bytes":%d}`, n))
}

// recordedBlock is br as the record keeps it (its output capped).
func recordedBlock(br BlockRun, r *Run) BlockRun {
	if len(br.Output) > MaxRecordedOutputBytes {
		br.Output = truncatedMarker(len(br.Output))
		r.Truncated = true
	}
	return br
}

// logBudget keeps a run's logs within MaxLogLines and MaxLogBytes.
type logBudget struct {
	max     int // lines
	bytes   int
	dropped int
	last    *LogLine // the "dropped" notice, updated in place
}

func (b *logBudget) add(r *Run, l LogLine) {
	if b.dropped > 0 || len(r.Logs) >= b.max || b.bytes+len(l.Message) > MaxLogBytes {
		b.dropped++
		r.Truncated = true
		msg := fmt.Sprintf("%d more log line(s) dropped: a run keeps at most %d lines and %d KiB of logs", b.dropped, b.max, MaxLogBytes>>10)
		if b.last == nil {
			r.Logs = append(r.Logs, LogLine{Time: l.Time, Block: l.Block, Level: "warn", Message: msg})
			b.last = &r.Logs[len(r.Logs)-1]
		} else {
			b.last.Message = msg
		}
		return
	}
	if len(l.Message) > MaxLogLineBytes {
		l.Message = cutText(l.Message, MaxLogLineBytes)
		r.Truncated = true
	}
	b.bytes += len(l.Message)
	r.Logs = append(r.Logs, l)
}

// cutText cuts s to at most n bytes on a rune boundary, ending in "…".
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// capRequest bounds what a run keeps of its request (nil stays nil).
func capRequest(q *Request) *Request {
	if q == nil {
		return nil
	}
	c := &Request{Method: q.Method, Path: cutText(q.Path, MaxRequestValueBytes), Query: map[string]any{}, Headers: map[string]string{}}
	for _, k := range firstKeys(q.Query) {
		switch v := q.Query[k].(type) {
		case string:
			c.Query[k] = cutText(v, MaxRequestValueBytes)
		case []string:
			vs := make([]string, 0, min(len(v), MaxRequestFields))
			for _, x := range v[:min(len(v), MaxRequestFields)] {
				vs = append(vs, cutText(x, MaxRequestValueBytes))
			}
			c.Query[k] = vs
		default:
			c.Query[k] = v
		}
	}
	for _, k := range firstKeys(q.Headers) {
		c.Headers[k] = cutText(q.Headers[k], MaxRequestValueBytes)
	}
	return c
}

// firstKeys is the first MaxRequestFields keys of m in order.
func firstKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[:min(len(keys), MaxRequestFields)]
}
