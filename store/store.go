// Package store defines flowkv's data model and the Store interface that every
// backend implements: entries addressed by (name, key) holding JSON data, with
// versions, TTLs, atomic check-and-set, exact-match search and prefix scans.
//
// The package holds the contracts, validation, limits, errors and TTL parsing.
// It imports no database driver, web framework or JavaScript engine; backends
// (store/sqlstore, store/dynamostore) import it, never the reverse.
package store

import (
	"context"
	"encoding/json"
	"time"
)

// Entry is one stored value, unique on (Name, Key).
type Entry struct {
	// Name is the namespace.
	Name string `json:"name"`
	// Key is unique within Name.
	Key string `json:"key"`
	// Data is the stored JSON value in canonical form (see Canonicalize).
	Data json.RawMessage `json:"data"`
	// Version grows on every write of (Name, Key) and is never reused for it,
	// not even after a delete and re-insert. It is always > 0.
	Version int64 `json:"version"`
	// FlowUUID is the flow that last wrote the entry ("" from the API).
	FlowUUID string `json:"flowUuid"`
	// ExpiresAt is nil for entries that never expire.
	ExpiresAt *time.Time `json:"expiresAt"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// Expired reports whether e has expired at now.
func (e Entry) Expired(now time.Time) bool {
	return e.ExpiresAt != nil && !e.ExpiresAt.After(now)
}

// WriteOptions modify Insert, Upsert and Update.
type WriteOptions struct {
	// TTL is how long the written entry lives; 0 means it never expires.
	// Every write sets the expiry anew: a write without TTL clears it.
	TTL time.Duration
	// FlowUUID stamps the entry with the flow that wrote it.
	FlowUUID string
	// IfVersion, when > 0, makes the write conditional: it succeeds only if
	// the entry exists with exactly this version, else ErrConflict.
	IfVersion int64
}

// DeleteOptions modify Delete.
type DeleteOptions struct {
	// IfVersion, when > 0, deletes only if the entry exists with exactly
	// this version, else ErrConflict.
	IfVersion int64
}

// FetchQuery filters a listing across namespaces. Empty fields do not filter.
type FetchQuery struct {
	Name      string
	Key       string
	KeyPrefix string
	FlowUUID  string
	// Data, when non-nil, is an exact match on the whole JSON value,
	// insensitive to object key order and whitespace.
	Data json.RawMessage
	// Names, when non-nil, restricts results to these namespaces (grants).
	// An empty non-nil slice matches nothing.
	Names []string
	// Limit is the page size: 0 means DefaultLimit, above MaxListLimit is
	// invalid_argument.
	Limit int
	// Offset skips entries; kept for compatibility, cursors are faster.
	// Offset and Cursor cannot be combined.
	Offset int
	// Cursor continues a previous page (Page.NextCursor).
	Cursor string
}

// Page is one page of a listing, ordered by (name, key).
type Page struct {
	Entries []Entry `json:"items"`
	// NextCursor continues after the last entry; "" when there is no more.
	NextCursor string `json:"nextCursor"`
}

// NameCount is a namespace and its number of live entries.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Check is an Atomic precondition: the entry (Name, Key) currently has
// Version, or is absent when Version is 0.
type Check struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	Version int64  `json:"version"`
}

// Op is an Atomic mutation kind.
type Op string

// The Atomic mutation kinds.
const (
	// OpSet writes Data (upsert).
	OpSet Op = "set"
	// OpDelete removes the entry; deleting an absent entry is not an error.
	OpDelete Op = "delete"
	// OpSum adds Data (a JSON number) to the entry's numeric value; an absent
	// entry counts as 0. A non-numeric current value is invalid_argument.
	OpSum Op = "sum"
)

// Mutation is one write of an Atomic call.
type Mutation struct {
	Op   Op              `json:"op"`
	Name string          `json:"name"`
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data,omitempty"`
	// TTL of the written entry for set and sum; 0 never expires.
	TTL      time.Duration `json:"-"`
	FlowUUID string        `json:"-"`
}

// AtomicResult reports a committed Atomic call.
type AtomicResult struct {
	OK bool `json:"ok"`
	// Versions holds, per mutation in order, the entry's new version
	// (0 for deletes).
	Versions []int64 `json:"versions"`
}

// KeyRange selects the live entries of one namespace whose keys k satisfy
// Start <= k < End (byte order; End "" means no upper bound), in key
// order or, with Reverse, from the end, at most Limit of them.
type KeyRange struct {
	Start, End string
	Reverse    bool
	Limit      int
}

// MaxRangeBound bounds the length of a KeyRange's Start and End.
const MaxRangeBound = 8 << 10

// MaxAtomicActions bounds checks + mutations of one Atomic call (DynamoDB's
// transaction limit, applied everywhere so behaviour is the same).
const MaxAtomicActions = 100

// Store is the data store. Implementations are safe for concurrent use.
//
// Every read filters out expired entries from the moment they expire; every
// write validates its input with the store's Limits before touching the
// database. Errors carry a Code (see CodeOf); absent entries are ErrNotFound,
// never (zero, nil).
type Store interface {
	// Fetch lists entries matching q ordered by (name, key). Reserved
	// namespaces (IsReserved) are only returned when q.Name names one.
	Fetch(ctx context.Context, q FetchQuery) (Page, error)
	// FindName lists the entries of one namespace in key order.
	FindName(ctx context.Context, name string, limit, offset int) ([]Entry, error)
	// FindNameKey returns one entry or ErrNotFound.
	FindNameKey(ctx context.Context, name, key string) (Entry, error)
	// Insert creates an entry; ErrExists if (name, key) is present.
	Insert(ctx context.Context, name, key string, data json.RawMessage, opts WriteOptions) (Entry, error)
	// Upsert creates or overwrites an entry (ErrConflict if opts.IfVersion
	// does not match).
	Upsert(ctx context.Context, name, key string, data json.RawMessage, opts WriteOptions) (Entry, error)
	// Update overwrites an existing entry; ErrNotFound if absent.
	Update(ctx context.Context, name, key string, data json.RawMessage, opts WriteOptions) (Entry, error)
	// Delete removes an entry and reports whether one was deleted.
	Delete(ctx context.Context, name, key string, opts DeleteOptions) (bool, error)
	// Atomic applies all mutations if every check holds, in one transaction.
	// A failed check returns ErrConflict and writes nothing. More than
	// MaxAtomicActions checks+mutations is invalid_argument.
	Atomic(ctx context.Context, checks []Check, mutations []Mutation) (AtomicResult, error)
	// List scans one namespace by key prefix; cursor is the previous page's
	// NextCursor ("" to start). Pages are stable at any depth.
	List(ctx context.Context, name, prefix, cursor string, limit int) (Page, error)
	// ReadRanges reads several key ranges of one namespace, one result per
	// range in order, from one snapshot where the backend has snapshots
	// (SQLite, PostgreSQL); Deno KV's snapshot_read. A Limit above
	// MaxListLimit is invalid_argument.
	ReadRanges(ctx context.Context, name string, ranges []KeyRange) ([][]Entry, error)
	// Names lists namespaces with their live entry counts, by name,
	// reserved namespaces excluded.
	Names(ctx context.Context) ([]NameCount, error)
	// Query searches namespace q.Name by fields of data (docs/design.md "Search
	// by field"); every backend answers it through RunQuery.
	//
	// Conditions (q.Where, combined by q.Match: all, the default, or any)
	// are typed and never coerce: a number compares with numbers, a string
	// with strings by code point, booleans and null only by eq, ne and in;
	// a condition on a missing field or on a value of another type does not
	// match — ne included — except exists:false. Objects and arrays are
	// equal when their canonical JSON is. contains finds a substring of a
	// string or an element of an array; startsWith takes a string.
	//
	// The answer comes in q.OrderBy order (values of different kinds in
	// the order numbers, strings, null, false, true, objects and arrays;
	// entries missing the field last; ties by key in the direction of the
	// first field); without OrderBy in key order, or in the field's order
	// when a declared index on a range condition serves the query. A query
	// is served by the index on its first OrderBy field, else (match all)
	// by the index on the first condition that bounds a range (eq, in, lt,
	// lte, gt, gte, startsWith, exists:true); $key is always indexed. A
	// query no index serves reads the namespace in key order and examines
	// at most Limits.MaxQueryScan entries per page: the page may then hold
	// fewer entries than asked (even none) with a NextCursor to continue.
	// Sorting by a field no index serves, or by more than one field, and
	// counting without a condition on the serving index, read at most
	// MaxQueryScan candidates and are invalid_argument beyond.
	//
	// Cursors are positions in the answer's order: paging while entries are
	// written never returns an entry twice nor skips one that existed
	// throughout. Expired entries are never returned or counted. More than
	// MaxQueryConditions conditions or a value above MaxConditionValueBytes
	// is too_large; a field that does not parse, an operator given a value
	// of a type it does not take, or a cursor of another query is
	// invalid_argument.
	Query(ctx context.Context, q Query) (QueryPage, error)
	// CreateIndex declares an index on field (a path into data) of
	// namespace name and builds it for the existing entries; declaring it
	// again is a no-op that finishes an interrupted build. More than
	// MaxIndexesPerName indexes on a namespace is too_large. Indexes are
	// kept when the namespace's entries are deleted.
	CreateIndex(ctx context.Context, name, field string) (Index, error)
	// DropIndex removes the index on field of name and reports whether one
	// was declared.
	DropIndex(ctx context.Context, name, field string) (bool, error)
	// Indexes lists the declared indexes of name, or of every namespace
	// when name is "", by (name, field).
	Indexes(ctx context.Context, name string) ([]Index, error)
	// Limits returns the limits this store enforces.
	Limits() Limits
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store; it is not usable afterwards.
	Close() error
}

// Importer is implemented by stores that can restore exported entries as
// they were: timestamps, expiry and flowUuid kept, the version never lower
// than the exported one nor than any version the entry had here.
type Importer interface {
	Import(ctx context.Context, e Entry) (Entry, error)
}
