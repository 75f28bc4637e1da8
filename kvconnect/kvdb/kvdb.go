// Package kvdb is Deno KV's semantics over a flowkv store: versionstamps,
// and atomic writes (checks on versionstamp or absence; set, delete, and
// sum, min and max with Deno's rules and error messages). The KV Connect
// server (package kvconnect) and the JavaScript `kv` facade (package
// scripting) both write through it, so a Deno client and a script see
// the same entries behave the same way.
package kvdb

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"time"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/store"
)

// Deno KV's limits on one atomic write (denokv proto/limits.rs), applied
// where flowkv's own are not stricter.
const (
	MaxWriteKeyBytes = 2048
	MaxReadKeyBytes  = MaxWriteKeyBytes + 1
	MaxChecks        = 10
	MaxMutations     = 1000
	MaxTotalMutation = 819200
)

// maxAttempts bounds the re-reads of an atomic write with sum, min or max
// mutations whose keys changed between the read and the commit.
const maxAttempts = 20

// Versionstamp is the 10-byte versionstamp of an entry version: the version
// big-endian, then two zero bytes. It grows with every write of a key and
// is never reused for it, as flowkv's versions are.
func Versionstamp(version int64) []byte {
	b := make([]byte, 10)
	binary.BigEndian.PutUint64(b, uint64(version))
	return b
}

// VersionOf inverts Versionstamp; ok is false for a versionstamp no entry
// can have.
func VersionOf(vs []byte) (int64, bool) {
	if len(vs) != 10 || vs[8] != 0 || vs[9] != 0 {
		return 0, false
	}
	v := int64(binary.BigEndian.Uint64(vs))
	return v, v > 0
}

// Op is a mutation kind.
type Op int

// The mutation kinds.
const (
	Set Op = iota + 1
	Delete
	Sum
	Min
	Max
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Min:
		return "min"
	case Max:
		return "max"
	case Delete:
		return "delete"
	}
	return "set"
}

// Check is one check of an atomic write: the key (packed tuple bytes) holds
// the entry whose versionstamp is Versionstamp, or is absent when
// Versionstamp is nil.
type Check struct {
	Key          []byte
	Versionstamp []byte
}

// Mutation is one mutation of an atomic write on Key (packed tuple bytes).
type Mutation struct {
	Key []byte
	Op  Op
	// Set: the entry data to store (denokv.ToData of the client's value,
	// or JSON from another face) and its TTL (0: never expires).
	Data json.RawMessage
	TTL  time.Duration
	// Sum, Min, Max: the operand as a client sends it (a KvU64 as EncLE64,
	// a number or bigint as EncV8), and for V8 sums the optional bounds
	// (V8 bytes) and whether to clamp to them.
	Enc            denokv.Encoding
	Raw            []byte
	SumMin, SumMax []byte
	Clamp          bool
}

func invalid(format string, args ...any) error {
	return store.Errorf(store.CodeInvalidArgument, format, args...)
}

// check and mutation are Check and Mutation with their stored keys.
type check struct {
	key        string // stored key
	version    int64  // 0: must be absent
	impossible bool   // a versionstamp no entry has: the check fails
}

type mutation struct {
	Mutation
	key string // stored key
}

func (m mutation) readNow() bool { return m.Op == Sum || m.Op == Min || m.Op == Max }

// prepare checks a write against Deno KV's limits (flowkv's own are
// checked by the store) and computes the stored keys.
func prepare(checks []Check, muts []Mutation) ([]check, []mutation, error) {
	if len(checks) > MaxChecks {
		return nil, nil, invalid("too many checks included in atomic write (%d, the limit is %d)", len(checks), MaxChecks)
	}
	if len(muts) > MaxMutations {
		return nil, nil, invalid("too many mutations included in atomic write (%d, the limit is %d)", len(muts), MaxMutations)
	}
	if n := len(checks) + len(muts); n > store.MaxAtomicActions {
		return nil, nil, invalid("the atomic write has %d checks and mutations; flowkv's limit is %d per atomic write (store.MaxAtomicActions, DynamoDB's transaction size), stricter than Deno KV's", n, store.MaxAtomicActions)
	}
	total := 0
	cs := make([]check, len(checks))
	for i, c := range checks {
		if len(c.Key) > MaxReadKeyBytes {
			return nil, nil, invalid("checks[%d]: a key exceeds Deno KV's key size limit (%d bytes)", i, MaxReadKeyBytes)
		}
		total += len(c.Key)
		cs[i].key = store.TupleKey(c.Key)
		switch len(c.Versionstamp) {
		case 0:
		case 10:
			v, ok := VersionOf(c.Versionstamp)
			cs[i].version, cs[i].impossible = v, !ok
		default:
			return nil, nil, invalid("checks[%d]: a versionstamp is 10 bytes", i)
		}
	}
	ms := make([]mutation, len(muts))
	for i, m := range muts {
		if len(m.Key) > MaxWriteKeyBytes {
			return nil, nil, invalid("mutations[%d]: a key exceeds Deno KV's key size limit (%d bytes)", i, MaxWriteKeyBytes)
		}
		if len(m.Key) == 0 {
			return nil, nil, invalid("mutations[%d]: the key is empty", i)
		}
		total += len(m.Key) + len(m.Raw)
		if m.Op == Set && m.Raw == nil {
			total += len(m.Data)
		}
		switch m.Op {
		case Set:
			if m.Data == nil {
				return nil, nil, invalid("mutations[%d]: a set needs a value", i)
			}
		case Delete:
		case Sum, Min, Max:
			if m.Raw == nil {
				return nil, nil, invalid("mutations[%d]: a %s needs a value", i, m.Op)
			}
		default:
			return nil, nil, invalid("mutations[%d]: invalid mutation kind or arguments", i)
		}
		ms[i] = mutation{Mutation: m, key: store.TupleKey(m.Key)}
	}
	if total > MaxTotalMutation {
		return nil, nil, invalid("the total size of the atomic write is too large (%d bytes, the limit is %d)", total, MaxTotalMutation)
	}
	return cs, ms, nil
}

// slot is a key's state while the mutations of one write are folded.
type slot struct {
	present bool
	data    json.RawMessage
	ttl     time.Duration
}

// Apply runs an atomic write on namespace name of st and answers the
// versionstamp of the commit, or ok false when a check failed (nothing
// written). Sets and deletes (with the checks) go to the store as one
// Atomic call; sum, min and max read the current values first and commit
// only if those keys did not change meanwhile (re-reading when they did).
// Errors carry store codes; Deno's errors for sums on values of the wrong
// type are invalid_argument.
func Apply(ctx context.Context, st store.Store, name string, checkList []Check, mutList []Mutation) (versionstamp []byte, ok bool, err error) {
	checks, muts, err := prepare(checkList, mutList)
	if err != nil {
		return nil, false, err
	}
	for _, c := range checks {
		if c.impossible {
			return nil, false, nil
		}
	}
	needRead := false
	for _, m := range muts {
		needRead = needRead || m.readNow()
	}
	if needRead {
		if vs, ok, err := storeSums(ctx, st, name, checks, muts); ok || err != nil {
			return vs, ok, err
		}
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur := map[string]store.Entry{}
		if needRead {
			keys := map[string]bool{}
			for _, c := range checks {
				keys[c.key] = true
			}
			for _, m := range muts {
				if m.readNow() {
					keys[m.key] = true
				}
			}
			for k := range keys {
				e, err := st.FindNameKey(ctx, name, k)
				switch {
				case err == nil:
					cur[k] = e
				case errors.Is(err, store.ErrNotFound):
				default:
					return nil, false, err
				}
			}
			for _, c := range checks {
				if cur[c.key].Version != c.version {
					return nil, false, nil
				}
			}
		}
		state := map[string]*slot{}
		var order []string
		get := func(k string) *slot {
			s := state[k]
			if s == nil {
				e, ok := cur[k]
				s = &slot{present: ok, data: e.Data}
				state[k] = s
				order = append(order, k)
			}
			return s
		}
		for _, m := range muts {
			s := get(m.key)
			switch m.Op {
			case Set:
				s.present, s.data, s.ttl = true, m.Data, m.TTL
			case Delete:
				s.present, s.data, s.ttl = false, nil, 0
			default:
				d, err := combine(m.Mutation, s)
				if err != nil {
					return nil, false, err
				}
				s.present, s.data, s.ttl = true, d, 0
			}
		}
		sc := make([]store.Check, 0, len(checks)+len(order))
		for _, c := range checks {
			sc = append(sc, store.Check{Name: name, Key: c.key, Version: c.version})
		}
		if needRead {
			for _, m := range muts {
				if m.readNow() {
					sc = append(sc, store.Check{Name: name, Key: m.key, Version: cur[m.key].Version})
				}
			}
		}
		sm := make([]store.Mutation, 0, len(order))
		for _, k := range order {
			s := state[k]
			if s.present {
				sm = append(sm, store.Mutation{Op: store.OpSet, Name: name, Key: k, Data: s.data, TTL: s.ttl})
			} else {
				sm = append(sm, store.Mutation{Op: store.OpDelete, Name: name, Key: k})
			}
		}
		res, err := st.Atomic(ctx, sc, sm)
		if errors.Is(err, store.ErrConflict) {
			if !needRead {
				return nil, false, nil
			}
			continue // a summed key changed since it was read: read again
		}
		if err != nil {
			return nil, false, err
		}
		var v int64
		for _, x := range res.Versions {
			v = max(v, x)
		}
		return Versionstamp(v), true, nil
	}
	return nil, false, store.Errorf(store.CodeUnavailable, "the keys of this atomic write kept changing; try again")
}

// storeSums commits a write whose sums are all plain sums of numbers on
// keys no other mutation of the write touches as one store Atomic call
// with store.OpSum: the store adds atomically, so concurrent counters
// never have to re-read. It reports ok false, with no error and nothing
// written, when the write is not of that kind or a check failed or a
// summed value is not a number: Apply then takes the reading path, which
// answers Deno's result and errors.
func storeSums(ctx context.Context, st store.Store, name string, checks []check, muts []mutation) ([]byte, bool, error) {
	seen := map[string]bool{}
	sm := make([]store.Mutation, len(muts))
	for i, m := range muts {
		if seen[m.key] {
			return nil, false, nil
		}
		seen[m.key] = true
		switch m.Op {
		case Set:
			sm[i] = store.Mutation{Op: store.OpSet, Name: name, Key: m.key, Data: m.Data, TTL: m.TTL}
		case Delete:
			sm[i] = store.Mutation{Op: store.OpDelete, Name: name, Key: m.key}
		case Sum:
			arg, ok := parseOperand(m.Enc, m.Raw)
			if !ok || arg.kind != "Number" || m.SumMin != nil || m.SumMax != nil || m.Clamp ||
				arg.n != arg.n || arg.n-arg.n != 0 { // NaN, ±Inf
				return nil, false, nil
			}
			sm[i] = store.Mutation{Op: store.OpSum, Name: name, Key: m.key, Data: json.RawMessage(store.FormatNumber(arg.n))}
		default:
			return nil, false, nil
		}
	}
	sc := make([]store.Check, len(checks))
	for i, c := range checks {
		sc[i] = store.Check{Name: name, Key: c.key, Version: c.version}
	}
	res, err := st.Atomic(ctx, sc, sm)
	switch store.CodeOf(err) {
	case "":
	case store.CodeConflict, store.CodeInvalidArgument:
		return nil, false, nil
	default:
		return nil, false, err
	}
	var v int64
	for _, x := range res.Versions {
		v = max(v, x)
	}
	return Versionstamp(v), true, nil
}

// typeMismatch is Deno KV's error for sums on values of the wrong type.
func typeMismatch(format string, args ...any) error {
	return store.Errorf(store.CodeInvalidArgument, format, args...)
}

// operand is a value a sum works on: a KvU64, a number or a bigint.
type operand struct {
	kind string // "KvU64", "Number", "BigInt"
	u    uint64
	n    float64
	i    *big.Int
}

func parseOperand(enc denokv.Encoding, raw []byte) (operand, bool) {
	switch enc {
	case denokv.EncLE64:
		if len(raw) != 8 {
			return operand{}, false
		}
		return operand{kind: "KvU64", u: binary.LittleEndian.Uint64(raw)}, true
	case denokv.EncV8:
		d, err := denokv.DecodeV8(raw)
		if err != nil {
			return operand{}, false
		}
		switch d.Value.Kind {
		case denokv.Number:
			return operand{kind: "Number", n: d.Value.N}, true
		case denokv.BigInt:
			return operand{kind: "BigInt", i: d.Value.I}, true
		}
	}
	return operand{}, false
}

func (o operand) data() (json.RawMessage, error) {
	switch o.kind {
	case "KvU64":
		return denokv.ToData(denokv.EncLE64, binary.LittleEndian.AppendUint64(nil, o.u))
	case "Number":
		return denokv.ToData(denokv.EncV8, denokv.EncodeV8(denokv.Value{Kind: denokv.Number, N: o.n}))
	default:
		return denokv.ToData(denokv.EncV8, denokv.EncodeV8(denokv.Value{Kind: denokv.BigInt, I: o.i}))
	}
}

// combine applies a sum, min or max to a key's current state, with Deno
// KV's rules and error messages (denokv sqlite backend).
func combine(m Mutation, s *slot) (json.RawMessage, error) {
	op := m.Op.String()
	var cur *operand
	curOK := true
	if s.present {
		enc, raw, err := denokv.FromData(s.data)
		if err != nil {
			return nil, err
		}
		c, ok := parseOperand(enc, raw)
		cur, curOK = &c, ok
	}
	if m.Enc == denokv.EncLE64 || m.Op != Sum {
		arg, ok := parseOperand(m.Enc, m.Raw)
		if !ok || arg.kind != "KvU64" {
			return nil, typeMismatch("Failed to perform '%s' mutation on a non-U64 operand", op)
		}
		if cur == nil {
			return arg.data()
		}
		if !curOK || cur.kind != "KvU64" {
			return nil, typeMismatch("Failed to perform '%s' mutation on a non-U64 value in the database", op)
		}
		r := *cur
		switch m.Op {
		case Sum:
			r.u += arg.u // wraps, as KvU64 sums do
		case Min:
			r.u = min(r.u, arg.u)
		default:
			r.u = max(r.u, arg.u)
		}
		return r.data()
	}
	// A sum of V8 numbers or bigints, with optional bounds.
	arg, ok := parseOperand(m.Enc, m.Raw)
	var lo, hi *operand
	okAll := ok && arg.kind != "KvU64"
	for _, b := range []struct {
		raw []byte
		dst **operand
	}{{m.SumMin, &lo}, {m.SumMax, &hi}} {
		if len(b.raw) == 0 {
			continue
		}
		v, ok := parseOperand(denokv.EncV8, b.raw)
		okAll = okAll && ok
		*b.dst = &v
	}
	if !okAll {
		return nil, typeMismatch("Some of the parameters are not valid V8 values")
	}
	for _, b := range []*operand{lo, hi} {
		if b != nil && b.kind != arg.kind {
			return nil, typeMismatch("Min/max parameters have different types than the operand")
		}
	}
	if cur == nil {
		return arg.data()
	}
	if !curOK {
		return nil, typeMismatch("unsupported value type")
	}
	// Deno's backward compatibility: sum(KvU64, bigint) stays a KvU64.
	if cur.kind == "KvU64" && arg.kind == "BigInt" && lo == nil && hi == nil && !m.Clamp &&
		arg.i.Sign() >= 0 && arg.i.IsUint64() {
		arg = operand{kind: "KvU64", u: arg.i.Uint64()}
	}
	errRange := typeMismatch("The result of a Sum operation would exceed its range limit")
	switch {
	case cur.kind == "BigInt" && arg.kind == "BigInt":
		r := new(big.Int).Add(cur.i, arg.i)
		if lo != nil && r.Cmp(lo.i) < 0 {
			if !m.Clamp {
				return nil, errRange
			}
			r.Set(lo.i)
		}
		if hi != nil && r.Cmp(hi.i) > 0 {
			if !m.Clamp {
				return nil, errRange
			}
			r.Set(hi.i)
		}
		return operand{kind: "BigInt", i: r}.data()
	case cur.kind == "Number" && arg.kind == "Number":
		r := cur.n + arg.n
		if lo != nil && r < lo.n {
			if !m.Clamp {
				return nil, errRange
			}
			r = lo.n
		}
		if hi != nil && r > hi.n {
			if !m.Clamp {
				return nil, errRange
			}
			r = hi.n
		}
		return operand{kind: "Number", n: r}.data()
	case cur.kind == "KvU64" && arg.kind == "KvU64":
		if lo != nil || hi != nil {
			return nil, typeMismatch("Cannot use min/max parameters with KvU64 operands")
		}
		return operand{kind: "KvU64", u: cur.u + arg.u}.data()
	}
	return nil, typeMismatch("Cannot sum %s with %s", cur.kind, arg.kind)
}
