package blocks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/flowkv/flowkv/store"
)

// RenameFlow gives stored flow from the id to, in one transaction. The
// flow keeps its UUID, so its run history (runs belong to the UUID) and
// the entries it stamped stay its own; its stored source keeps every byte
// but the id's value, rewritten in place (quotes as they were). A flow
// already named to is already_exists; a missing one not_found.
func (e *Engine) RenameFlow(ctx context.Context, from, to string) (StoredFlow, error) {
	if !ValidFlowID(to) {
		return StoredFlow{}, &ValidationError{Flow: from, Problems: []Problem{{Field: "id",
			Message: fmt.Sprintf("%q: want 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit", to)}}}
	}
	if !ValidFlowID(from) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", from)
	}
	old, err := e.st.FindNameKey(ctx, FlowsNamespace, from)
	if errors.Is(err, store.ErrNotFound) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", from)
	}
	if err != nil {
		return StoredFlow{}, fmt.Errorf("blocks: read flow %s: %w", from, err)
	}
	if from == to {
		return decodeFlowEntry(old)
	}
	var rec flowRecord
	if err := json.Unmarshal(old.Data, &rec); err != nil || rec.Flow == nil || rec.UUID == "" {
		return StoredFlow{}, store.Errorf(store.CodeUnavailable, "stored flow %s is damaged", from)
	}
	rec.Flow.ID = to
	rec.Source = string(renameInSource([]byte(rec.Source), to))
	data, err := json.Marshal(rec)
	if err != nil {
		return StoredFlow{}, err
	}
	idx, _ := json.Marshal(map[string]string{"id": to})
	res, err := e.st.Atomic(ctx,
		[]store.Check{{Name: FlowsNamespace, Key: from, Version: old.Version}, {Name: FlowsNamespace, Key: to}},
		[]store.Mutation{
			{Op: store.OpSet, Name: FlowsNamespace, Key: to, Data: data},
			{Op: store.OpDelete, Name: FlowsNamespace, Key: from},
			{Op: store.OpSet, Name: FlowUUIDsNamespace, Key: rec.UUID, Data: idx},
		})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return StoredFlow{}, fmt.Errorf("blocks: rename flow %s: %w", from, err)
	}
	if err != nil || !res.OK {
		if _, gerr := e.st.FindNameKey(ctx, FlowsNamespace, to); gerr == nil {
			return StoredFlow{}, store.Errorf(store.CodeAlreadyExists, "a flow %q already exists", to)
		}
		return StoredFlow{}, store.Errorf(store.CodeConflict, "flow %s changed while it was renamed; try again", from)
	}
	e.forget(from)
	e.forget(to)
	return e.GetFlow(ctx, to)
}

// renameInSource rewrites the value of the document's top-level id to id,
// leaving every other byte as it was. A source whose id cannot be found
// as written (it should not happen: the source parsed) is returned as is.
func renameInSource(src []byte, id string) []byte {
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return src
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "id" || v.Kind != yaml.ScalarNode {
			continue
		}
		off := lineColOffset(src, v.Line, v.Column)
		if off < 0 {
			return src
		}
		raw := []byte(v.Value)
		if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			q := src[off]
			raw = append(append([]byte{q}, raw...), q)
			id = string(q) + id + string(q) // ids need no escapes
		}
		if !bytes.HasPrefix(src[off:], raw) {
			return src
		}
		out := append([]byte{}, src[:off]...)
		out = append(out, id...)
		return append(out, src[off+len(raw):]...)
	}
	return src
}

// lineColOffset is the byte offset of a 1-based line and column (counted
// in characters, as the YAML parser counts), or -1.
func lineColOffset(src []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(src) || src[off] == '\n' {
			return -1
		}
		_, n := utf8.DecodeRune(src[off:])
		off += n
	}
	if off >= len(src) {
		return -1
	}
	return off
}
