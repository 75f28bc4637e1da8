package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

func randN(n int64) int64 { return rand.Int64N(n) }

// maxAtomicAttempts bounds re-sends of a canceled transaction (contention
// with other transactions, stale versions, a sum switching its form).
const maxAtomicAttempts = 100

// How a mutation is written; a canceled transaction's reasons (with the
// items as they were) pick the form for the next attempt.
type amode int

const (
	modeCheck       amode = iota // ConditionCheck only
	modeSet                      // SET data; the entry is live or absent
	modeSetExpired               // SET data over an expired item (new createdAt)
	modeSumAdd                   // ADD n :delta; the value is numeric or absent
	modeSumFresh                 // SET n = delta; the entry is absent or expired
	modeSumComputed              // SET the sum computed from the old value (version-checked)
	modeDelete                   // tombstone
	modeSetChunked               // SET a chunked value (version-checked)
)

// action is all a transaction does to one item: DynamoDB allows one
// action per item, so checks on a mutated item join its condition.
type action struct {
	name, key string
	checks    []int64
	mut       *store.Mutation
	idx       int // mutation index
	mode      amode
	delta     json.RawMessage // canonical sum delta
	atLeast   int64           // the next version must be >= this
	oldVer    int64           // modeSumComputed: the version summed on
	computed  json.RawMessage // modeSumComputed: the new value
	// clean: the item holds a chunked value whose chunks this write
	// deletes (the write is then conditional on that version); nil: the
	// write is conditional on the item not being chunked.
	clean *chunkRef
	base  record // modeSetChunked: the item as read
	// decls are the namespace's declared indexes (for writes of data).
	decls *declSet
	// per attempt
	ver   int64
	token string
}

// Atomic applies mutations if all checks hold, as one TransactWriteItems
// (checks on unmutated items as ConditionCheck actions). A failed check is
// conflict and nothing is written; more than store.MaxAtomicActions checks
// and mutations is invalid_argument before anything is sent.
func (s *Store) Atomic(ctx context.Context, checks []store.Check, mutations []store.Mutation) (store.AtomicResult, error) {
	muts, err := s.limits.ValidateAtomic(checks, mutations)
	if err != nil {
		return store.AtomicResult{}, err
	}
	byAddr := map[[2]string]*action{}
	var acts []*action
	get := func(name, key string) *action {
		a := byAddr[[2]string{name, key}]
		if a == nil {
			a = &action{name: name, key: key, mode: modeCheck}
			byAddr[[2]string{name, key}] = a
			acts = append(acts, a)
		}
		return a
	}
	for _, c := range checks {
		a := get(c.Name, c.Key)
		a.checks = append(a.checks, c.Version)
	}
	names := map[string]bool{}
	for i := range muts {
		m := &muts[i]
		a := get(m.Name, m.Key)
		a.mut, a.idx = m, i
		switch m.Op {
		case store.OpSet:
			a.mode = modeSet
			names[m.Name] = true
		case store.OpSum:
			d, err := store.Canonicalize(m.Data)
			if err != nil {
				return store.AtomicResult{}, store.Errorf(store.CodeInvalidArgument, "mutations[%d]: sum needs a number as data", i)
			}
			a.delta, a.mode = d, modeSumAdd
			names[m.Name] = true
		case store.OpDelete:
			a.mode = modeDelete
		}
	}
	if len(acts) == 0 {
		return store.AtomicResult{OK: true, Versions: []int64{}}, nil
	}
	for n := range names {
		if err := s.register(ctx, n); err != nil {
			return store.AtomicResult{}, err
		}
	}
	for _, a := range acts {
		if a.mut != nil && a.mode != modeDelete {
			ds, err := s.decls(ctx, a.name)
			if err != nil {
				return store.AtomicResult{}, err
			}
			a.decls = ds
		}
	}
	if err := s.atomicCap(ctx, acts); err != nil {
		return store.AtomicResult{}, err
	}
	// A delta DynamoDB cannot hold as a number is summed client-side, and
	// a chunked value is written over the version read.
	for _, a := range acts {
		if a.mode == modeSet && len(a.mut.Data) > chunkSize {
			r, err := s.getRaw(ctx, a.name, a.key)
			if err != nil {
				return store.AtomicResult{}, err
			}
			a.mode, a.base = modeSetChunked, r
		}
		if a.mode == modeSumAdd && !dynamoNumber(a.delta) {
			r, err := s.get(ctx, a.name, a.key)
			if err != nil {
				return store.AtomicResult{}, err
			}
			if err := a.sumFrom(r, time.Now()); err != nil {
				return store.AtomicResult{}, err
			}
		}
	}
	for attempt := 0; ; attempt++ {
		if attempt >= maxAtomicAttempts {
			return store.AtomicResult{}, store.Errorf(store.CodeUnavailable, "atomic: gave up after %d attempts under contention", attempt)
		}
		t := now()
		items, owner, err := s.transactItems(acts, t)
		if err != nil {
			return store.AtomicResult{}, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			res := store.AtomicResult{OK: true, Versions: make([]int64, len(muts))}
			for _, a := range acts {
				if a.mut != nil && a.mode != modeDelete {
					res.Versions[a.idx] = a.ver
				}
			}
			return res, nil
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			if ambiguous(err) {
				return s.confirmAtomic(ctx, acts, len(muts), err)
			}
			return store.AtomicResult{}, wrapErr("atomic", err)
		}
		wait, err := s.diagnose(acts, owner, tc.CancellationReasons, t)
		if err != nil {
			return store.AtomicResult{}, err
		}
		if wait {
			if err := pause(ctx, attempt); err != nil {
				return store.AtomicResult{}, err
			}
		}
	}
}

// atomicCap enforces MaxEntriesPerName for the entries a call may create.
func (s *Store) atomicCap(ctx context.Context, acts []*action) error {
	if s.limits.MaxEntriesPerName <= 0 {
		return nil
	}
	creating := map[string]int{}
	t := time.Now()
	for _, a := range acts {
		if a.mut == nil {
			continue
		}
		r, err := s.getRaw(ctx, a.name, a.key)
		if err != nil {
			return err
		}
		switch live := r.live(t); {
		case a.mode == modeDelete && live:
			creating[a.name]--
		case a.mode != modeDelete && !live:
			creating[a.name]++
		}
	}
	for n, c := range creating {
		if err := s.checkCap(ctx, n, c); err != nil {
			return err
		}
	}
	return nil
}

// sumFrom sets a sum's form from the item as it is.
func (a *action) sumFrom(r record, t time.Time) error {
	switch {
	case !r.live(t) && dynamoNumber(a.delta):
		a.mode = modeSumFresh
	case !r.live(t):
		a.mode, a.oldVer, a.computed = modeSumComputed, 0, a.delta
	case r.numeric && dynamoNumber(a.delta):
		a.mode = modeSumAdd
	default:
		sum, err := store.SumData(r.entry.Data, a.delta)
		if err != nil {
			return store.Errorf(store.CodeInvalidArgument, "mutations[%d]: sum on %s/%s: %s", a.idx, a.name, a.key, store.Text(err))
		}
		a.mode, a.oldVer, a.computed = modeSumComputed, r.ver, sum
	}
	return nil
}

// transactItems builds one attempt's actions, with fresh versions.
// owner maps each item to its action (-1 for chunk puts and deletes).
func (s *Store) transactItems(acts []*action, t time.Time) (items []types.TransactWriteItem, owner []int, err error) {
	items = make([]types.TransactWriteItem, 0, len(acts))
	total := 0
	for ai, a := range acts {
		vals := item{":now": avN(t.UnixMicro())}
		var conds []string
		for i, cv := range a.checks {
			if cv == 0 {
				conds = append(conds, condNotLive)
				continue
			}
			p := ":chk" + strconv.Itoa(i)
			conds = append(conds, condLive+" AND #v = "+p)
			vals[p] = avN(cv)
		}
		if a.mode == modeCheck {
			cond := strings.Join(conds, " AND ")
			items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName:                           &s.table,
				Key:                                 keyOf(a.name, a.key),
				ConditionExpression:                 &cond,
				ExpressionAttributeNames:            exprNames(cond),
				ExpressionAttributeValues:           exprValues(vals, cond),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}})
			owner = append(owner, ai)
			total += 1024
			continue
		}
		a.ver, a.token = 0, ""
		var upd string
		var extra []types.TransactWriteItem
		switch {
		case a.mode == modeSetChunked:
		case a.clean != nil:
			conds = append(conds, "#v = :cv")
			vals[":cv"] = avN(a.clean.ver)
			extra = s.chunkDeletes(a.clean)
		default:
			conds = append(conds, "attribute_not_exists(#p)")
		}
		if a.mode == modeDelete {
			upd = tombstoneUpdate(vals, t, s.clock.next(a.atLeast))
			total += 1024
		} else {
			m := a.mut
			a.ver, a.token = 0, newToken()
			w := dataWrite{
				name: a.name, key: a.key, now: t, flow: m.FlowUUID, token: a.token,
				expires: store.ExpiresAt(t, m.TTL), created: "if_not_exists(#c, :now)",
				decls: a.decls,
			}
			if w.expires != nil {
				x := w.expires.Truncate(time.Microsecond)
				w.expires = &x
			}
			switch a.mode {
			case modeSet:
				w.data = m.Data
				conds = append(conds, condNotExpired)
			case modeSetExpired:
				w.data, w.created = m.Data, ":now"
				conds = append(conds, condExpired)
			case modeSumAdd:
				vals[":delta"] = avNum(string(a.delta))
				conds = append(conds, "attribute_not_exists(#d)", condNotExpired)
			case modeSumFresh:
				w.data, w.created = a.delta, ":now"
				conds = append(conds, condNotLive)
			case modeSumComputed:
				w.data = a.computed
				if a.oldVer == 0 {
					w.created = ":now"
					conds = append(conds, condNotLive)
				} else {
					conds = append(conds, condLive+" AND #v = :old")
					vals[":old"] = avN(a.oldVer)
				}
			case modeSetChunked:
				w.data, w.parts = m.Data, split(m.Data)
				if a.base.ver > 0 {
					conds = append(conds, "#v = :old")
					vals[":old"] = avN(a.base.ver)
				} else {
					conds = append(conds, "attribute_not_exists(#v)")
				}
				if !a.base.live(t) {
					w.created = ":now"
				}
				a.atLeast = max(a.atLeast, a.base.ver+1)
			}
			w.ver = s.clock.next(a.atLeast)
			if a.mode == modeSetChunked {
				extra = s.chunkPuts(a.name, a.key, w.ver, w.parts, w.expires)
				if a.base.parts > 0 {
					extra = append(extra, s.chunkDeletes(&chunkRef{a.name, a.key, a.base.ver, a.base.parts})...)
				}
				total += len(m.Data) - len(w.parts[0])
			}
			a.ver = w.ver
			conds = append(conds, condNewer)
			if err := tooLarge(w); err != nil {
				return nil, nil, err
			}
			total += w.itemSize()
			upd = w.update(vals)
		}
		cond := strings.Join(conds, " AND ")
		u := &types.Update{
			TableName:                           &s.table,
			Key:                                 keyOf(a.name, a.key),
			UpdateExpression:                    &upd,
			ExpressionAttributeNames:            exprNames(upd, cond),
			ExpressionAttributeValues:           exprValues(vals, upd, cond),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		if cond != "" {
			u.ConditionExpression = &cond
		}
		items = append(items, types.TransactWriteItem{Update: u})
		owner = append(owner, ai)
		items = append(items, extra...)
		for range extra {
			owner = append(owner, -1)
		}
	}
	if len(items) > store.MaxAtomicActions {
		return nil, nil, store.Errorf(store.CodeTooLarge, "atomic with large values needs %d DynamoDB actions, the limit is %d", len(items), store.MaxAtomicActions)
	}
	if total > maxTransactBytes {
		return nil, nil, store.Errorf(store.CodeTooLarge, "atomic writes about %d bytes, DynamoDB's transaction limit is %d", total, maxTransactBytes)
	}
	return items, owner, nil
}

// diagnose reads a canceled transaction's reasons: a failed check is
// conflict; a mutation whose form did not fit the item gets the right
// form; contention asks for a pause before the next attempt.
func (s *Store) diagnose(acts []*action, owner []int, reasons []types.CancellationReason, t time.Time) (wait bool, err error) {
	if len(reasons) != len(owner) {
		return true, nil
	}
	for i, rs := range reasons {
		code := aws.ToString(rs.Code)
		if owner[i] < 0 {
			switch code {
			case "", "None":
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				wait = true
			default:
				return false, store.Errorf(store.CodeUnavailable, "dynamostore: atomic canceled on a chunk: %s %s", code, aws.ToString(rs.Message))
			}
			continue
		}
		a := acts[owner[i]]
		switch code {
		case "", "None":
			continue
		case "ConditionalCheckFailed":
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			wait = true
			continue
		case "ValidationError":
			msg := aws.ToString(rs.Message)
			if a.mode == modeSumAdd && (strings.Contains(msg, "overflow") || strings.Contains(msg, "range")) {
				return false, store.Errorf(store.CodeInvalidArgument, "mutations[%d]: sum on %s/%s leaves DynamoDB's number range", a.idx, a.name, a.key)
			}
			return false, store.Errorf(store.CodeUnavailable, "dynamostore: atomic: %s/%s: %s", a.name, a.key, msg)
		default:
			return false, store.Errorf(store.CodeUnavailable, "dynamostore: atomic canceled on %s/%s: %s %s", a.name, a.key, code, aws.ToString(rs.Message))
		}
		old, err := decode(rs.Item)
		if err != nil {
			return false, err
		}
		for _, cv := range a.checks {
			ok := !old.live(t)
			if cv > 0 {
				ok = old.live(t) && old.ver == cv
			}
			if !ok {
				if cv == 0 {
					return false, store.Errorf(store.CodeConflict, "atomic check failed: %s/%s exists", a.name, a.key)
				}
				return false, store.Errorf(store.CodeConflict, "atomic check failed: %s/%s does not have version %d", a.name, a.key, cv)
			}
		}
		if a.mut == nil {
			continue // the item changed after it failed: try again
		}
		a.clean = nil
		if old.parts > 0 {
			a.clean = &chunkRef{a.name, a.key, old.ver, old.parts}
		}
		if old.ver >= a.ver && a.mode != modeDelete {
			a.atLeast = max(a.atLeast, old.ver+1)
		}
		switch a.mode {
		case modeSetChunked:
			a.base = old
		case modeSet, modeSetExpired:
			if old.exists && old.entry.Expired(t) {
				a.mode = modeSetExpired
			} else {
				a.mode = modeSet
			}
		case modeSumAdd, modeSumFresh, modeSumComputed:
			if err := a.sumFrom(old, t); err != nil {
				return false, err
			}
		}
	}
	return wait, nil
}

// confirmAtomic settles an ambiguous transaction by reading back one item
// it writes: the transaction committed (all or nothing) when the item
// carries this attempt's token. It never sends the transaction again.
func (s *Store) confirmAtomic(ctx context.Context, acts []*action, n int, cause error) (store.AtomicResult, error) {
	for _, a := range acts {
		if a.token == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		r, err := s.get(cctx, a.name, a.key)
		cancel()
		if err == nil && r.token == a.token {
			res := store.AtomicResult{OK: true, Versions: make([]int64, n)}
			for _, b := range acts {
				if b.mut != nil && b.mode != modeDelete {
					res.Versions[b.idx] = b.ver
				}
			}
			return res, nil
		}
		break
	}
	return store.AtomicResult{}, wrapErr("atomic (not applied, or its outcome is unknown)", cause)
}
