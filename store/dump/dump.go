// Package dump owns flowkv's import/export format: JSON Lines, one
// store.Entry per line with every field of the data model. It reads and
// validates dumps, reports what an import would change (DryRun) and
// applies them (Apply); the CLI (flowkv export/import) and the store
// browser both use it, so a file exported by either imports identically
// through either.
//
// It imports only store; the caller hands it a Store (guarded by the
// caller's grants where a token is involved).
package dump

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Writer writes a dump: one entry per line, encoded by store.Entry's own
// encoder (MarshalJSON), like every other face. It buffers; call Flush at the end.
type Writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
	n   int
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// Write writes one entry.
func (w *Writer) Write(e store.Entry) error {
	if err := w.enc.Encode(e); err != nil {
		return err
	}
	w.n++
	return nil
}

// WriteIndex writes a declared index of a namespace: a line
// {"index":{"name":…,"field":…}}, which an import declares again after the
// entries.
func (w *Writer) WriteIndex(ix store.Index) error {
	return w.enc.Encode(map[string]indexLine{"index": {Name: &ix.Name, Field: &ix.Field}})
}

// Count is how many entries were written.
func (w *Writer) Count() int { return w.n }

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }

// ExportPages writes every entry of the pages next returns, starting with
// cursor "" and following each page's NextCursor until it is "".
func ExportPages(w *Writer, next func(cursor string) (store.Page, error)) error {
	cursor := ""
	for {
		p, err := next(cursor)
		if err != nil {
			return err
		}
		for _, e := range p.Entries {
			if err := w.Write(e); err != nil {
				return err
			}
		}
		// A page may be empty with a cursor (a query examines a bounded
		// number of entries per page); a cursor that does not move ends.
		if p.NextCursor == "" || p.NextCursor == cursor {
			return nil
		}
		cursor = p.NextCursor
	}
}

// Export writes every live entry of the named namespaces in (name, key)
// order, paging with cursors. With no names it exports every namespace
// st.Names lists (reserved _flowkv.* ones are only exported when named).
func Export(ctx context.Context, st store.Store, w *Writer, names ...string) error {
	if len(names) == 0 {
		all, err := st.Names(ctx)
		if err != nil {
			return err
		}
		for _, nc := range all {
			names = append(names, nc.Name)
		}
	}
	limit := st.Limits().MaxListLimit
	for _, ns := range names {
		before := w.Count()
		err := ExportPages(w, func(cursor string) (store.Page, error) {
			return st.List(ctx, ns, "", cursor, limit)
		})
		if err != nil {
			return fmt.Errorf("export %s after %d entries: %w", ns, w.Count()-before, err)
		}
		ixs, err := st.Indexes(ctx, ns)
		if err != nil {
			return fmt.Errorf("export the indexes of %s: %w", ns, err)
		}
		for _, ix := range ixs {
			if err := w.WriteIndex(ix); err != nil {
				return err
			}
		}
	}
	return nil
}

// Options say how a dump is read.
type Options struct {
	// Limits are the target store's (st.Limits()).
	Limits store.Limits
	// Name, when set, puts every entry into this namespace (the store
	// browser's "import into").
	Name string
	// KeepFlowUUID restores each entry's flowUuid. Without it the entries
	// are written with an empty flowUuid: only an importer allowed to act
	// as any flow (an admin, or the CLI holding the database) may stamp
	// one (docs/design.md, Access).
	KeepFlowUUID bool
	// Allow, when set, is asked for Write on each entry's namespace; a
	// refusal makes that line a problem (grants of the importing token).
	Allow func(name string) error
	// Now is the clock that decides which entries have expired
	// (default time.Now).
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// indexLine is the "index" object of a dump line that declares an index.
type indexLine struct {
	Name  *string `json:"name"`
	Field *string `json:"field"`
}

// parseIndexLine reads an index line ({"index":{"name":…,"field":…}});
// ok is false for any other line.
func parseIndexLine(b []byte, o Options) (ix store.Index, ok bool, err error) {
	if !bytes.Contains(b, []byte(`"index"`)) {
		return store.Index{}, false, nil
	}
	var l struct {
		Index *indexLine `json:"index"`
	}
	if json.Unmarshal(b, &l) != nil || l.Index == nil {
		return store.Index{}, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil || l.Index.Name == nil || l.Index.Field == nil {
		return store.Index{}, true, store.Errorf(store.CodeInvalidArgument, "an index line is {\"index\":{\"name\":…,\"field\":…}} and nothing else")
	}
	ix = store.Index{Name: *l.Index.Name, Field: *l.Index.Field}
	if o.Name != "" {
		ix.Name = o.Name
	}
	if err := o.Limits.Normalize().ValidateName(ix.Name); err != nil {
		return store.Index{}, true, err
	}
	if ix.Field, err = store.ValidateIndexField(ix.Field); err != nil {
		return store.Index{}, true, err
	}
	if o.Allow != nil {
		if err := o.Allow(ix.Name); err != nil {
			return store.Index{}, true, err
		}
	}
	return ix, true, nil
}

// line is the JSON of one dump line: a store.Entry, with name and key
// read apart to tell absent from empty. Name, key and data are required;
// the rest is restored when present.
type line struct {
	store.Entry
	Name *string `json:"name"`
	Key  *string `json:"key"`
}

// ParseLine decodes and validates one dump line (without its newline)
// under o: the JSON shape, the store's write limits, o.Name, o.Allow and
// o.KeepFlowUUID. Errors are coded (invalid_argument, too_large,
// access_denied).
func ParseLine(b []byte, o Options) (store.Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var l line
	if err := dec.Decode(&l); err != nil {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "not an exported entry: %v", err)
	}
	if dec.More() {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "more than one JSON value on the line")
	}
	if l.Name == nil || l.Key == nil || l.Data == nil {
		return store.Entry{}, store.Errorf(store.CodeInvalidArgument, "an entry needs name, key and data")
	}
	e := l.Entry
	e.Name, e.Key = *l.Name, *l.Key
	if o.Name != "" {
		e.Name = o.Name
	}
	if !o.KeepFlowUUID {
		e.FlowUUID = ""
	}
	e, err := o.Limits.Normalize().PrepareImport(e)
	if err != nil {
		return store.Entry{}, err
	}
	if o.Allow != nil {
		if err := o.Allow(e.Name); err != nil {
			return store.Entry{}, err
		}
	}
	return e, nil
}

// LineError is a problem with one line of a dump.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Message is the problem as a user reads it ("line 3: key must not be
// empty"), with the error code left out.
func (e *LineError) Message() string { return fmt.Sprintf("line %d: %s", e.Line, store.Text(e.Err)) }

// Reader reads a dump line by line, validating each line and refusing an
// address that appeared on an earlier line.
type Reader struct {
	r      *bufio.Reader
	o      Options
	max    int
	seen   map[[2]string]int
	lineNo int
	off    int64 // offset of the next line
	// Indexes are the index lines read so far (Next skips them).
	Indexes []store.Index
}

// NewReader reads a dump from r under o.
func NewReader(r io.Reader, o Options) *Reader {
	o.Limits = o.Limits.Normalize()
	return &Reader{
		r: bufio.NewReaderSize(r, 64<<10), o: o, seen: map[[2]string]int{},
		// The longest line a valid entry can take: data may be escaped up
		// to the raw bound of store.Limits.PrepareData, plus the other fields.
		max: 4*o.Limits.MaxDataBytes + 64<<10,
	}
}

// Next returns the next entry with its line number and the byte offset and
// length of its line in the input. Blank lines are skipped. At the end it
// returns io.EOF; a bad line returns a *LineError, after which Next goes on
// with the following line. A read failure is returned as it is.
func (r *Reader) Next() (e store.Entry, lineNo int, off int64, n int, err error) {
	for {
		b, read, tooLong, rerr := r.readLine()
		r.lineNo++
		lineNo, off, n = r.lineNo, r.off, read
		r.off += int64(read)
		if rerr != nil && rerr != io.EOF {
			return store.Entry{}, lineNo, off, n, fmt.Errorf("reading line %d: %w", lineNo, rerr)
		}
		if tooLong {
			return store.Entry{}, lineNo, off, n, &LineError{lineNo, store.Errorf(store.CodeTooLarge, "the line is longer than %d bytes", r.max)}
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if rerr == io.EOF {
				return store.Entry{}, lineNo, off, n, io.EOF
			}
			continue
		}
		if ix, ok, err := parseIndexLine(b, r.o); ok {
			if err != nil {
				return store.Entry{}, lineNo, off, n, &LineError{lineNo, err}
			}
			if !slices.Contains(r.Indexes, ix) {
				r.Indexes = append(r.Indexes, ix)
			}
			if rerr == io.EOF {
				return store.Entry{}, lineNo, off, n, io.EOF
			}
			continue
		}
		e, err := ParseLine(b, r.o)
		if err != nil {
			return store.Entry{}, lineNo, off, n, &LineError{lineNo, err}
		}
		addr := [2]string{e.Name, e.Key}
		if first, dup := r.seen[addr]; dup {
			return store.Entry{}, lineNo, off, n, &LineError{lineNo, store.Errorf(store.CodeInvalidArgument, "%s/%s is already on line %d", e.Name, e.Key, first)}
		}
		r.seen[addr] = lineNo
		return e, lineNo, off, n, nil
	}
}

// readLine reads through the next newline (or the end of the input),
// returning the line when it is at most r.max bytes long; read counts
// every byte consumed, so offsets stay true for lines that are too long.
func (r *Reader) readLine() (b []byte, read int, tooLong bool, err error) {
	for {
		chunk, err := r.r.ReadSlice('\n')
		read += len(chunk)
		if !tooLong {
			if len(b)+len(chunk) > r.max {
				tooLong, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return b, read, tooLong, err
	}
}
