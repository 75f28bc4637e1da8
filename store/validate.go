package store

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Default limits (docs/design.md, Data model).
const (
	DefaultMaxNameBytes = 128
	DefaultMaxKeyBytes  = 256
	DefaultMaxDataBytes = 1 << 20
	DefaultMaxDepth     = 64
	DefaultLimit        = 100
	DefaultMaxListLimit = 1000
)

// Limits bound what a store accepts. The zero value of a field means its
// default; use DefaultLimits().With… or fill the fields and call Normalize.
type Limits struct {
	MaxNameBytes int `json:"maxNameBytes"`
	MaxKeyBytes  int `json:"maxKeyBytes"`
	// MaxDataBytes bounds the canonical JSON encoding of data.
	MaxDataBytes int `json:"maxDataBytes"`
	// MaxDepth bounds JSON nesting of data.
	MaxDepth int `json:"maxDepth"`
	// MaxListLimit bounds one page.
	MaxListLimit int `json:"maxListLimit"`
	// MaxEntriesPerName caps live entries per namespace; 0 = no cap.
	// Inserting past it is too_large.
	MaxEntriesPerName int64 `json:"maxEntriesPerName"`
	// MaxQueryConditions bounds the conditions of one query.
	MaxQueryConditions int `json:"maxQueryConditions"`
	// MaxConditionValueBytes bounds the JSON of one condition's value.
	MaxConditionValueBytes int `json:"maxConditionValueBytes"`
	// MaxQueryScan bounds the entries one page of a query examines when no
	// index serves it (and the candidates a sort or count without an index
	// may read).
	MaxQueryScan int `json:"maxQueryScan"`
	// MaxIndexesPerName bounds the declared indexes of one namespace.
	MaxIndexesPerName int `json:"maxIndexesPerName"`
}

// DefaultLimits returns the default limits of docs/design.md.
func DefaultLimits() Limits { return Limits{}.Normalize() }

// Normalize fills zero fields with their defaults.
func (l Limits) Normalize() Limits {
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = DefaultMaxNameBytes
	}
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if l.MaxDataBytes <= 0 {
		l.MaxDataBytes = DefaultMaxDataBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxListLimit <= 0 {
		l.MaxListLimit = DefaultMaxListLimit
	}
	if l.MaxQueryConditions <= 0 {
		l.MaxQueryConditions = DefaultMaxQueryConditions
	}
	if l.MaxConditionValueBytes <= 0 {
		l.MaxConditionValueBytes = DefaultMaxConditionValueBytes
	}
	if l.MaxQueryScan <= 0 {
		l.MaxQueryScan = DefaultMaxQueryScan
	}
	if l.MaxIndexesPerName <= 0 {
		l.MaxIndexesPerName = DefaultMaxIndexesPerName
	}
	return l
}

// ReservedPrefix starts the namespaces flowkv keeps its own records in
// (tokens, scripts, flows, runs). Grants never cover them, Names and
// unfiltered Fetch skip them.
const ReservedPrefix = "_flowkv."

// IsReserved reports whether name is one of flowkv's own namespaces.
func IsReserved(name string) bool { return strings.HasPrefix(name, ReservedPrefix) }

// ValidateName checks a namespace: 1..MaxNameBytes bytes of UTF-8 without
// control characters. Too long is too_large; the rest invalid_argument.
func (l Limits) ValidateName(name string) error {
	if name == "" {
		return Errorf(CodeInvalidArgument, "name must not be empty")
	}
	if len(name) > l.MaxNameBytes {
		return Errorf(CodeTooLarge, "name is %d bytes, the limit is %d", len(name), l.MaxNameBytes)
	}
	return checkText("name", name)
}

// ValidateKey checks a key: 1..MaxKeyBytes bytes of UTF-8 without control
// characters, or a stored Deno KV key (TupleKey: starts with TupleMarker
// and decodes to a non-empty tuple).
func (l Limits) ValidateKey(key string) error {
	if key == "" {
		return Errorf(CodeInvalidArgument, "key must not be empty")
	}
	if len(key) > l.MaxKeyBytes {
		if IsTupleKey(key) {
			return Errorf(CodeTooLarge, "the Deno KV key is %d bytes in flowkv's encoding, flowkv's key limit is %d bytes (FLOWKV_MAX_KEY_BYTES)", len(key), l.MaxKeyBytes)
		}
		return Errorf(CodeTooLarge, "key is %d bytes, the limit is %d", len(key), l.MaxKeyBytes)
	}
	if IsTupleKey(key) {
		return validTupleKey(key)
	}
	return checkText("key", key)
}

// ValidatePrefix checks a key prefix ("" is allowed).
func (l Limits) ValidatePrefix(prefix string) error {
	if len(prefix) > l.MaxKeyBytes {
		return Errorf(CodeTooLarge, "prefix is %d bytes, the limit is %d", len(prefix), l.MaxKeyBytes)
	}
	if prefix == "" {
		return nil
	}
	if IsTupleKey(prefix) {
		if _, ok := TupleBytes(prefix); !ok {
			return Errorf(CodeInvalidArgument, "prefix starts with the Deno KV key marker but is not a stored Deno KV key prefix")
		}
		return nil
	}
	return checkText("prefix", prefix)
}

func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidArgument, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(CodeInvalidArgument, "%s must not contain control characters (found %U)", field, r)
		}
	}
	return nil
}

// ValidateNameKey checks both parts of an address.
func (l Limits) ValidateNameKey(name, key string) error {
	if err := l.ValidateName(name); err != nil {
		return err
	}
	return l.ValidateKey(key)
}

// PrepareData validates data and returns its canonical encoding: invalid JSON
// or nesting beyond MaxDepth is invalid_argument, a canonical encoding
// beyond MaxDataBytes is too_large. nil or empty data is invalid_argument.
func (l Limits) PrepareData(data json.RawMessage) (json.RawMessage, error) {
	if len(data) == 0 {
		return nil, Errorf(CodeInvalidArgument, "data is required")
	}
	// A raw input far beyond the limit is refused before parsing it.
	if len(data) > 4*l.MaxDataBytes+1024 {
		return nil, Errorf(CodeTooLarge, "data is %d bytes, the limit is %d", len(data), l.MaxDataBytes)
	}
	c, err := canonicalize(data, l.MaxDepth)
	if err != nil {
		return nil, err
	}
	if len(c) > l.MaxDataBytes {
		return nil, Errorf(CodeTooLarge, "data is %d bytes encoded, the limit is %d", len(c), l.MaxDataBytes)
	}
	return c, nil
}

// MaxFlowUUIDBytes bounds the flowUuid a write may stamp (flow UUIDs are
// 36 bytes; the bound keeps any caller from storing a large one).
const MaxFlowUUIDBytes = 128

// ValidateFlowUUID checks the flowUuid of a write: "" (no flow), or at most
// MaxFlowUUIDBytes of UTF-8 without control characters. Too long is
// too_large; the rest invalid_argument.
func ValidateFlowUUID(f string) error {
	if f == "" {
		return nil
	}
	if len(f) > MaxFlowUUIDBytes {
		return Errorf(CodeTooLarge, "flowUuid is %d bytes, the limit is %d", len(f), MaxFlowUUIDBytes)
	}
	return checkText("flowUuid", f)
}

// ValidateTTL checks a write's TTL: 0 (never expires) up to MaxTTL.
func ValidateTTL(ttl time.Duration) error {
	if ttl < 0 {
		return Errorf(CodeInvalidArgument, "ttl must not be negative")
	}
	if ttl > MaxTTL {
		return Errorf(CodeInvalidArgument, "ttl is longer than 100 years")
	}
	return nil
}

// PrepareWrite validates an Upsert or Update — address, flowUuid, TTL,
// IfVersion and data — and returns the data's canonical encoding. Every
// backend calls it before touching its database, so a write is accepted
// or refused alike on each.
func (l Limits) PrepareWrite(name, key string, data json.RawMessage, opts WriteOptions) (json.RawMessage, error) {
	if err := l.ValidateNameKey(name, key); err != nil {
		return nil, err
	}
	if err := ValidateFlowUUID(opts.FlowUUID); err != nil {
		return nil, err
	}
	if err := ValidateTTL(opts.TTL); err != nil {
		return nil, err
	}
	if opts.IfVersion < 0 {
		return nil, Errorf(CodeInvalidArgument, "ifVersion must not be negative")
	}
	return l.PrepareData(data)
}

// PrepareInsert is PrepareWrite for Insert, which cannot be conditional on
// a version.
func (l Limits) PrepareInsert(name, key string, data json.RawMessage, opts WriteOptions) (json.RawMessage, error) {
	if opts.IfVersion != 0 {
		return nil, Errorf(CodeInvalidArgument, "insert cannot be conditional on a version; use upsert or update with ifVersion")
	}
	return l.PrepareWrite(name, key, data, opts)
}

// PrepareImport validates an entry given to Importer.Import — address,
// flowUuid, version and data — and returns it with canonical data. Its
// timestamps and expiry are taken as they are.
func (l Limits) PrepareImport(e Entry) (Entry, error) {
	if err := l.ValidateNameKey(e.Name, e.Key); err != nil {
		return Entry{}, err
	}
	if err := ValidateFlowUUID(e.FlowUUID); err != nil {
		return Entry{}, err
	}
	if e.Version < 0 {
		return Entry{}, Errorf(CodeInvalidArgument, "version must not be negative")
	}
	d, err := l.PrepareData(e.Data)
	if err != nil {
		return Entry{}, err
	}
	e.Data = d
	return e, nil
}

// PageLimit resolves a requested page size: 0 (or less) means DefaultLimit
// capped at MaxListLimit; above MaxListLimit is invalid_argument.
func (l Limits) PageLimit(n int) (int, error) {
	if n <= 0 {
		return min(DefaultLimit, l.MaxListLimit), nil
	}
	if n > l.MaxListLimit {
		return 0, Errorf(CodeInvalidArgument, "limit %d is above the maximum of %d", n, l.MaxListLimit)
	}
	return n, nil
}

// ValidateOffset checks an offset.
func ValidateOffset(n int) error {
	if n < 0 {
		return Errorf(CodeInvalidArgument, "offset must not be negative")
	}
	return nil
}

// ValidateAtomic checks an Atomic call's shape (sizes, ops, addresses,
// data, TTLs, flowUuids) and returns the mutations with canonical data. It
// does not touch a database.
func (l Limits) ValidateAtomic(checks []Check, mutations []Mutation) ([]Mutation, error) {
	if len(checks)+len(mutations) > MaxAtomicActions {
		return nil, Errorf(CodeInvalidArgument, "atomic has %d checks and mutations, the limit is %d", len(checks)+len(mutations), MaxAtomicActions)
	}
	for i, c := range checks {
		if err := l.ValidateNameKey(c.Name, c.Key); err != nil {
			return nil, Errorf(CodeOf(err), "checks[%d]: %s", i, Text(err))
		}
		if c.Version < 0 {
			return nil, Errorf(CodeInvalidArgument, "checks[%d]: version must not be negative", i)
		}
	}
	out := make([]Mutation, len(mutations))
	seen := make(map[[2]string]bool, len(mutations))
	for i, m := range mutations {
		if err := l.ValidateNameKey(m.Name, m.Key); err != nil {
			return nil, Errorf(CodeOf(err), "mutations[%d]: %s", i, Text(err))
		}
		addr := [2]string{m.Name, m.Key}
		if seen[addr] {
			return nil, Errorf(CodeInvalidArgument, "mutations[%d]: %s/%s is mutated twice in one atomic", i, m.Name, m.Key)
		}
		seen[addr] = true
		if err := ValidateTTL(m.TTL); err != nil {
			return nil, Errorf(CodeOf(err), "mutations[%d]: %s", i, Text(err))
		}
		if err := ValidateFlowUUID(m.FlowUUID); err != nil {
			return nil, Errorf(CodeOf(err), "mutations[%d]: %s", i, Text(err))
		}
		switch m.Op {
		case OpSet:
			d, err := l.PrepareData(m.Data)
			if err != nil {
				return nil, Errorf(CodeOf(err), "mutations[%d]: %s", i, Text(err))
			}
			m.Data = d
		case OpSum:
			if _, err := ParseNumber(m.Data); err != nil {
				return nil, Errorf(CodeInvalidArgument, "mutations[%d]: sum needs a number as data", i)
			}
		case OpDelete:
			m.Data = nil
		default:
			return nil, Errorf(CodeInvalidArgument, "mutations[%d]: unknown op %q (want set, delete or sum)", i, m.Op)
		}
		out[i] = m
	}
	return out, nil
}

// ValidateRanges checks a ReadRanges call: the name, at most 10 ranges
// (Deno KV's limit), bounds of valid UTF-8 up to MaxRangeBound bytes, and
// each Limit in 1..MaxListLimit.
func (l Limits) ValidateRanges(name string, ranges []KeyRange) error {
	if err := l.ValidateName(name); err != nil {
		return err
	}
	if len(ranges) > MaxReadRanges {
		return Errorf(CodeInvalidArgument, "%d ranges in one read, the limit is %d", len(ranges), MaxReadRanges)
	}
	for i, r := range ranges {
		if len(r.Start) > MaxRangeBound || len(r.End) > MaxRangeBound {
			return Errorf(CodeTooLarge, "ranges[%d]: a bound is longer than %d bytes", i, MaxRangeBound)
		}
		if !utf8.ValidString(r.Start) || !utf8.ValidString(r.End) {
			return Errorf(CodeInvalidArgument, "ranges[%d]: bounds must be valid UTF-8", i)
		}
		if r.Limit < 1 || r.Limit > l.MaxListLimit {
			return Errorf(CodeInvalidArgument, "ranges[%d]: limit %d is not in 1..%d", i, r.Limit, l.MaxListLimit)
		}
	}
	return nil
}

// MaxReadRanges bounds the ranges of one ReadRanges call.
const MaxReadRanges = 10
