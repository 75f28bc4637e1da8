package kvconnect

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"time"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/kvconnect/pb"
	"github.com/flowkv/flowkv/store"
)

// maxAttempts bounds the re-reads of an atomic write with sum, min or max
// mutations whose keys changed between the read and the commit.
const maxAttempts = 20

type check struct {
	key        string // stored key
	version    int64  // 0: must be absent
	impossible bool   // a versionstamp no entry has: the check fails
}

type mutation struct {
	key     string // stored key
	typ     pb.MutationType
	enc     denokv.Encoding
	raw     []byte
	data    json.RawMessage // M_SET: the stored form
	ttl     time.Duration
	sumMin  []byte
	sumMax  []byte
	clamp   bool
	readNow bool // sum, min, max: needs the current value
}

func invalid(format string, args ...any) error {
	return store.Errorf(store.CodeInvalidArgument, format, args...)
}

// parse checks a request against Deno KV's limits and flowkv's, and turns
// it into stored keys and data.
func parse(req *pb.AtomicWrite, now time.Time) ([]check, []mutation, error) {
	if len(req.Enqueues) > 0 {
		return nil, nil, invalid("queues (kv.enqueue, kv.listenQueue) are not part of KV Connect on flowkv")
	}
	if len(req.Checks) > maxChecks {
		return nil, nil, invalid("too many checks included in atomic write (%d, the limit is %d)", len(req.Checks), maxChecks)
	}
	if len(req.Mutations) > maxMutations {
		return nil, nil, invalid("too many mutations included in atomic write (%d, the limit is %d)", len(req.Mutations), maxMutations)
	}
	if n := len(req.Checks) + len(req.Mutations); n > store.MaxAtomicActions {
		return nil, nil, invalid("the atomic write has %d checks and mutations; flowkv's limit is %d per atomic write (store.MaxAtomicActions, DynamoDB's transaction size), stricter than Deno KV's", n, store.MaxAtomicActions)
	}
	total := 0
	checks := make([]check, len(req.Checks))
	for i, c := range req.Checks {
		if len(c.Key) > maxReadKeyBytes {
			return nil, nil, invalid("checks[%d]: a key exceeds Deno KV's key size limit (%d bytes)", i, maxReadKeyBytes)
		}
		total += len(c.Key)
		checks[i].key = store.TupleKey(c.Key)
		switch len(c.Versionstamp) {
		case 0:
		case 10:
			v, ok := versionOf(c.Versionstamp)
			checks[i].version, checks[i].impossible = v, !ok
		default:
			return nil, nil, invalid("checks[%d]: a versionstamp is 10 bytes", i)
		}
	}
	muts := make([]mutation, len(req.Mutations))
	for i, m := range req.Mutations {
		if len(m.Key) > maxWriteKeyBytes {
			return nil, nil, invalid("mutations[%d]: a key exceeds Deno KV's key size limit (%d bytes)", i, maxWriteKeyBytes)
		}
		if len(m.Key) == 0 {
			return nil, nil, invalid("mutations[%d]: the key is empty", i)
		}
		mu := mutation{key: store.TupleKey(m.Key), typ: m.MutationType}
		total += len(m.Key)
		if m.Value != nil {
			if len(m.Value.Data) > denokv.MaxValueBytes {
				return nil, nil, invalid("mutations[%d]: the value exceeds Deno KV's value size limit (%d bytes)", i, denokv.MaxValueBytes)
			}
			total += len(m.Value.Data)
			mu.enc, mu.raw = denokv.Encoding(m.Value.Encoding), m.Value.Data
		}
		switch m.MutationType {
		case pb.MutationType_M_SET:
			if m.Value == nil {
				return nil, nil, invalid("mutations[%d]: a set needs a value", i)
			}
			d, err := denokv.ToData(mu.enc, mu.raw)
			if err != nil {
				return nil, nil, invalid("mutations[%d]: %v", i, err)
			}
			mu.data = d
			switch {
			case m.ExpireAtMs > 0:
				mu.ttl = max(time.UnixMilli(m.ExpireAtMs).Sub(now), time.Millisecond)
				if mu.ttl > store.MaxTTL {
					return nil, nil, invalid("mutations[%d]: expireIn is beyond 100 years", i)
				}
			case m.ExpireAtMs < -1:
				return nil, nil, invalid("mutations[%d]: invalid mutation expire at", i)
			}
		case pb.MutationType_M_DELETE:
		case pb.MutationType_M_SUM, pb.MutationType_M_MIN, pb.MutationType_M_MAX:
			if m.Value == nil {
				return nil, nil, invalid("mutations[%d]: a %s needs a value", i, opName(m.MutationType))
			}
			mu.sumMin, mu.sumMax, mu.clamp, mu.readNow = m.SumMin, m.SumMax, m.SumClamp, true
		case pb.MutationType_M_SET_SUFFIX_VERSIONSTAMPED_KEY:
			return nil, nil, invalid("mutations[%d]: versionstamped keys are not supported by flowkv", i)
		default:
			return nil, nil, invalid("mutations[%d]: invalid mutation kind or arguments", i)
		}
		muts[i] = mu
	}
	if total > maxTotalMutation {
		return nil, nil, invalid("the total size of the atomic write is too large (%d bytes, the limit is %d)", total, maxTotalMutation)
	}
	return checks, muts, nil
}

func opName(t pb.MutationType) string {
	switch t {
	case pb.MutationType_M_SUM:
		return "sum"
	case pb.MutationType_M_MIN:
		return "min"
	case pb.MutationType_M_MAX:
		return "max"
	}
	return "set"
}

// slot is a key's state while the mutations of one write are folded.
type slot struct {
	present bool
	data    json.RawMessage
	ttl     time.Duration
}

// apply runs an atomic write. Sets and deletes (with the checks) go to the
// store as one Atomic call; sum, min and max read the current values first
// and commit only if those keys did not change meanwhile (re-reading when
// they did).
func (h *handler) apply(ctx context.Context, st store.Store, name string, req *pb.AtomicWrite) (*pb.AtomicWriteOutput, error) {
	checks, muts, err := parse(req, time.Now())
	if err != nil {
		return nil, err
	}
	failed := &pb.AtomicWriteOutput{Status: pb.AtomicWriteStatus_AW_CHECK_FAILURE}
	for _, c := range checks {
		if c.impossible {
			return failed, nil
		}
	}
	needRead := false
	for _, m := range muts {
		needRead = needRead || m.readNow
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur := map[string]store.Entry{}
		if needRead {
			keys := map[string]bool{}
			for _, c := range checks {
				keys[c.key] = true
			}
			for _, m := range muts {
				if m.readNow {
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
					return nil, err
				}
			}
			for _, c := range checks {
				if cur[c.key].Version != c.version {
					return failed, nil
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
			switch m.typ {
			case pb.MutationType_M_SET:
				s.present, s.data, s.ttl = true, m.data, m.ttl
			case pb.MutationType_M_DELETE:
				s.present, s.data, s.ttl = false, nil, 0
			default:
				d, err := combine(m, s)
				if err != nil {
					return nil, err
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
				if m.readNow {
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
				return failed, nil
			}
			continue // a summed key changed since it was read: read again
		}
		if err != nil {
			return nil, err
		}
		var v int64
		for _, x := range res.Versions {
			v = max(v, x)
		}
		return &pb.AtomicWriteOutput{Status: pb.AtomicWriteStatus_AW_SUCCESS, Versionstamp: Versionstamp(v)}, nil
	}
	return nil, store.Errorf(store.CodeUnavailable, "the keys of this atomic write kept changing; try again")
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
func combine(m mutation, s *slot) (json.RawMessage, error) {
	op := opName(m.typ)
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
	if m.enc == denokv.EncLE64 || m.typ != pb.MutationType_M_SUM {
		arg, ok := parseOperand(m.enc, m.raw)
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
		switch m.typ {
		case pb.MutationType_M_SUM:
			r.u += arg.u // wraps, as KvU64 sums do
		case pb.MutationType_M_MIN:
			r.u = min(r.u, arg.u)
		default:
			r.u = max(r.u, arg.u)
		}
		return r.data()
	}
	// A sum of V8 numbers or bigints, with optional bounds.
	arg, ok := parseOperand(m.enc, m.raw)
	var lo, hi *operand
	okAll := ok && arg.kind != "KvU64"
	for _, b := range []struct {
		raw []byte
		dst **operand
	}{{m.sumMin, &lo}, {m.sumMax, &hi}} {
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
	if cur.kind == "KvU64" && arg.kind == "BigInt" && lo == nil && hi == nil && !m.clamp &&
		arg.i.Sign() >= 0 && arg.i.IsUint64() {
		arg = operand{kind: "KvU64", u: arg.i.Uint64()}
	}
	errRange := typeMismatch("The result of a Sum operation would exceed its range limit")
	switch {
	case cur.kind == "BigInt" && arg.kind == "BigInt":
		r := new(big.Int).Add(cur.i, arg.i)
		if lo != nil && r.Cmp(lo.i) < 0 {
			if !m.clamp {
				return nil, errRange
			}
			r.Set(lo.i)
		}
		if hi != nil && r.Cmp(hi.i) > 0 {
			if !m.clamp {
				return nil, errRange
			}
			r.Set(hi.i)
		}
		return operand{kind: "BigInt", i: r}.data()
	case cur.kind == "Number" && arg.kind == "Number":
		r := cur.n + arg.n
		if lo != nil && r < lo.n {
			if !m.clamp {
				return nil, errRange
			}
			r = lo.n
		}
		if hi != nil && r > hi.n {
			if !m.clamp {
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
