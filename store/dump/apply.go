package dump

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Change is what importing one entry does to the store.
type Change int

// The changes an entry can make.
const (
	// New: nothing live at the address; the entry is written.
	New Change = iota
	// Changed: the address holds something else; the entry is written.
	Changed
	// Unchanged: the address already holds the entry; nothing is written.
	Unchanged
	// Expired: the entry's expiresAt has passed; nothing is written.
	Expired
)

// MaxProblems bounds the problems a Summary lists (all are counted).
const MaxProblems = 20

// Summary reports a dry run or an import.
type Summary struct {
	New, Changed, Unchanged, Expired int
	// Written counts the entries Apply wrote (New + Changed).
	Written int
	// Invalid counts the lines refused; Problems lists the first of them.
	Invalid  int
	Problems []*LineError
	// Namespaces holds the namespaces of new and changed entries, sorted.
	Namespaces []string
	// Indexes counts the index lines: declared by Apply after the entries
	// (declaring one again is a no-op).
	Indexes int
}

func (s *Summary) count(c Change, name string, names map[string]bool) {
	switch c {
	case New:
		s.New++
	case Changed:
		s.Changed++
	case Unchanged:
		s.Unchanged++
	case Expired:
		s.Expired++
	}
	if c == New || c == Changed {
		names[name] = true
	}
}

func (s *Summary) finish(names map[string]bool) {
	s.Namespaces = make([]string, 0, len(names))
	for n := range names {
		s.Namespaces = append(s.Namespaces, n)
	}
	sort.Strings(s.Namespaces)
}

// Classify tells what importing e into st would do at now. An entry is
// unchanged when the address holds the same data, flowUuid and expiry
// (to the second) and, where st restores timestamps (store.Importer), the
// same timestamps as far as e gives them.
func Classify(ctx context.Context, st store.Store, e store.Entry, now time.Time) (Change, error) {
	if e.Expired(now) {
		return Expired, nil
	}
	cur, err := st.FindNameKey(ctx, e.Name, e.Key)
	if store.CodeOf(err) == store.CodeNotFound {
		return New, nil
	}
	if err != nil {
		return 0, err
	}
	same := bytes.Equal(cur.Data, e.Data) && cur.FlowUUID == e.FlowUUID && sameExpiry(cur.ExpiresAt, e.ExpiresAt)
	if _, exact := st.(store.Importer); same && exact {
		same = sameTime(cur.CreatedAt, e.CreatedAt) && sameTime(cur.UpdatedAt, e.UpdatedAt)
	}
	if same {
		return Unchanged, nil
	}
	return Changed, nil
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := a.Sub(*b)
	return d < time.Second && d > -time.Second
}

// sameTime: a timestamp the dump leaves out matches any.
func sameTime(cur, dumped time.Time) bool {
	return dumped.IsZero() || cur.Equal(dumped.Truncate(time.Microsecond))
}

// DryRun reads a whole dump and reports what importing it into st would
// do, writing nothing. Bad lines are counted and the first MaxProblems
// listed; the error is only for a failure to read r or to reach st.
func DryRun(ctx context.Context, st store.Store, r io.Reader, o Options) (Summary, error) {
	var sum Summary
	names := map[string]bool{}
	rd := NewReader(r, o)
	for {
		e, _, _, _, err := rd.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			sum.Invalid++
			if len(sum.Problems) < MaxProblems {
				sum.Problems = append(sum.Problems, le)
			}
			continue
		}
		if err != nil {
			return sum, err
		}
		c, err := Classify(ctx, st, e, o.now())
		if err != nil {
			return sum, fmt.Errorf("%s/%s: %w", e.Name, e.Key, err)
		}
		sum.count(c, e.Name, names)
	}
	sum.Indexes = len(rd.Indexes)
	sum.finish(names)
	return sum, nil
}

// ref locates one validated line of the input.
type ref struct {
	version int64
	off     int64
	n       int
	lineNo  int
}

// Apply imports the dump in src (size bytes): it validates every line
// first and writes nothing when one is bad (the error names the line and
// keeps its code); then it writes the new and changed entries in the
// order of their exported versions, so a fresh store keeps every version.
// A store.Importer restores versions (never lower than exported, nor than
// any the address had), timestamps, expiry and flowUuid; other stores get
// an Upsert with the remaining TTL. Unchanged and expired entries are
// skipped and counted.
func Apply(ctx context.Context, st store.Store, src io.ReaderAt, size int64, o Options) (Summary, error) {
	var refs []ref
	rd := NewReader(io.NewSectionReader(src, 0, size), o)
	for {
		e, lineNo, off, n, err := rd.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			return Summary{}, store.Errorf(store.CodeOf(le.Err), "line %d (nothing was written): %s", le.Line, store.Text(le.Err))
		}
		if err != nil {
			return Summary{}, err
		}
		refs = append(refs, ref{version: e.Version, off: off, n: n, lineNo: lineNo})
	}
	slices.SortStableFunc(refs, func(a, b ref) int { return cmp.Compare(a.version, b.version) })

	var sum Summary
	names := map[string]bool{}
	imp, exact := st.(store.Importer)
	var buf []byte
	for _, l := range refs {
		buf = slices.Grow(buf[:0], l.n)[:l.n]
		if _, err := src.ReadAt(buf, l.off); err != nil && !(err == io.EOF && l.off+int64(l.n) == size) {
			return sum, fmt.Errorf("import: reading line %d again: %w", l.lineNo, err)
		}
		e, err := ParseLine(bytes.TrimSpace(buf), rd.o)
		where := func() string {
			return fmt.Sprintf("line %d, %s/%s (%d of %d entries written before it)", l.lineNo, e.Name, e.Key, sum.Written, len(refs))
		}
		if err != nil {
			return sum, wrap(where(), err)
		}
		now := o.now()
		c, err := Classify(ctx, st, e, now)
		if err != nil {
			return sum, wrap(where(), err)
		}
		if c == New || c == Changed {
			if exact {
				_, err = imp.Import(ctx, e)
			} else {
				err = upsert(ctx, st, e, now)
			}
			if err != nil {
				return sum, wrap(where(), err)
			}
			sum.Written++
		}
		sum.count(c, e.Name, names)
	}
	for _, ix := range rd.Indexes {
		if _, err := st.CreateIndex(ctx, ix.Name, ix.Field); err != nil {
			return sum, wrap(fmt.Sprintf("the index on %s of %s (after the %d entries)", ix.Field, ix.Name, sum.Written), err)
		}
		sum.Indexes++
	}
	sum.finish(names)
	return sum, nil
}

// upsert writes e on a store without store.Importer: the remaining TTL is
// kept; version and timestamps are new.
func upsert(ctx context.Context, st store.Store, e store.Entry, now time.Time) error {
	var ttl time.Duration
	if e.ExpiresAt != nil {
		ttl = e.ExpiresAt.Sub(now)
	}
	_, err := st.Upsert(ctx, e.Name, e.Key, e.Data, store.WriteOptions{TTL: ttl, FlowUUID: e.FlowUUID})
	return err
}

// wrap prefixes err with where the import failed, keeping its code.
func wrap(where string, err error) error {
	var e *store.Error
	if errors.As(err, &e) {
		return store.Errorf(e.Code, "%s: %s", where, e.Msg)
	}
	return fmt.Errorf("%s: %w", where, err)
}
