package dynamostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/flowkv/flowkv/store"
)

// maxVersionRetries bounds retries after another writer's clock was ahead.
const maxVersionRetries = 8

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// register records name in the namespace registry (once per process).
func (s *Store) register(ctx context.Context, name string) error {
	if _, ok := s.known.Load(name); ok {
		return nil
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item:      keyOf(registryPK, name),
	})
	if err != nil {
		return wrapErr("register namespace "+name, err)
	}
	s.known.Store(name, true)
	return nil
}

// checkCap refuses creating an entry in a full namespace (when a cap is
// configured). The count and the write are separate requests, so
// concurrent creates can overshoot the cap by their number.
func (s *Store) checkCap(ctx context.Context, name string, creating int) error {
	limit := s.limits.MaxEntriesPerName
	if limit <= 0 || creating <= 0 {
		return nil
	}
	n, err := s.countLive(ctx, name, limit)
	if err != nil {
		return err
	}
	if n+int64(creating) > limit {
		return store.Errorf(store.CodeTooLarge, "namespace %s holds %d entries, the limit is %d", name, n, limit)
	}
	return nil
}

type writeKind int

const (
	kindInsert writeKind = iota
	kindUpdate
	kindCreate // upsert's second step: the entry is not live
	kindImport
)

// Insert creates an entry; already_exists when a live one is present.
func (s *Store) Insert(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	d, err := s.limits.PrepareInsert(name, key, data, opts)
	if err != nil {
		return store.Entry{}, err
	}
	if err := s.register(ctx, name); err != nil {
		return store.Entry{}, err
	}
	if err := s.checkCap(ctx, name, 1); err != nil {
		return store.Entry{}, err
	}
	e, _, err := s.write(ctx, kindInsert, name, key, d, opts, nil)
	return e, err
}

// Update overwrites a live entry; not_found when absent, conflict when
// opts.IfVersion does not match.
func (s *Store) Update(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	d, err := s.limits.PrepareWrite(name, key, data, opts)
	if err != nil {
		return store.Entry{}, err
	}
	e, _, err := s.write(ctx, kindUpdate, name, key, d, opts, nil)
	return e, err
}

// Upsert overwrites a live entry or creates one: first as an update, and
// when the entry is not live, as a create (two requests then).
func (s *Store) Upsert(ctx context.Context, name, key string, data json.RawMessage, opts store.WriteOptions) (store.Entry, error) {
	d, err := s.limits.PrepareWrite(name, key, data, opts)
	if err != nil {
		return store.Entry{}, err
	}
	if err := s.register(ctx, name); err != nil {
		return store.Entry{}, err
	}
	for range maxVersionRetries {
		e, _, err := s.write(ctx, kindUpdate, name, key, d, opts, nil)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return e, err
		}
		if opts.IfVersion > 0 {
			return store.Entry{}, store.Errorf(store.CodeConflict, "%s/%s does not exist with version %d", name, key, opts.IfVersion)
		}
		if err := s.checkCap(ctx, name, 1); err != nil {
			return store.Entry{}, err
		}
		e, _, err = s.write(ctx, kindCreate, name, key, d, opts, nil)
		if err == nil || !errors.Is(err, store.ErrExists) {
			return e, err
		}
		// Someone created it in between: overwrite it as an update.
	}
	return store.Entry{}, store.Errorf(store.CodeConflict, "%s/%s changed concurrently too often", name, key)
}

// Import restores an exported entry: data, flowUuid, expiry and
// timestamps as exported, the version at least the exported one and above
// any version the entry had here.
func (s *Store) Import(ctx context.Context, e store.Entry) (store.Entry, error) {
	e, err := s.limits.PrepareImport(e)
	if err != nil {
		return store.Entry{}, err
	}
	d := e.Data
	if err := s.register(ctx, e.Name); err != nil {
		return store.Entry{}, err
	}
	out, _, err := s.write(ctx, kindImport, e.Name, e.Key, d, store.WriteOptions{FlowUUID: e.FlowUUID}, &e)
	return out, err
}

// newWrite prepares the dataWrite of a single-entry write at t.
func (s *Store) newWrite(kind writeKind, name, key string, data json.RawMessage, opts store.WriteOptions, imp *store.Entry, t time.Time, atLeast int64) dataWrite {
	w := dataWrite{
		name: name, key: key, data: data, now: t, flow: opts.FlowUUID,
		ver: s.clock.next(atLeast), token: newToken(),
		expires: store.ExpiresAt(t, opts.TTL), created: ":now",
	}
	if w.expires != nil {
		x := w.expires.Truncate(time.Microsecond)
		w.expires = &x
	}
	if len(data) > chunkSize {
		w.parts = split(data)
	}
	switch kind {
	case kindUpdate:
		w.created = "if_not_exists(#c, :now)"
	case kindImport:
		w.created, w.createdAt, w.updatedAt = ":c", imp.CreatedAt.UTC(), imp.UpdatedAt.UTC()
		if w.createdAt.IsZero() {
			w.createdAt = t
		}
		if w.updatedAt.IsZero() {
			w.updatedAt = t
		}
		w.expires = nil
		if imp.ExpiresAt != nil {
			x := imp.ExpiresAt.UTC().Truncate(time.Microsecond)
			w.expires = &x
		}
	}
	return w
}

// write runs one conditional UpdateItem for kind and maps its outcome:
// a stale version (another writer's clock ahead) retries with a higher
// one; other condition failures become already_exists, not_found or
// conflict. It returns the old record on a condition failure. imp is the
// imported entry for kindImport. Values above chunkSize go to
// writeChunked.
func (s *Store) write(ctx context.Context, kind writeKind, name, key string, data json.RawMessage, opts store.WriteOptions, imp *store.Entry) (store.Entry, record, error) {
	if len(data) > chunkSize {
		e, err := s.writeChunked(ctx, kind, name, key, data, opts, imp)
		return e, record{}, err
	}
	atLeast := int64(0)
	if imp != nil {
		atLeast = imp.Version
	}
	ds, err := s.decls(ctx, name)
	if err != nil {
		return store.Entry{}, record{}, err
	}
	var tokens []string // of attempts that failed ambiguously and did not apply
	for range maxVersionRetries {
		t := now()
		w := s.newWrite(kind, name, key, data, opts, imp, t, atLeast)
		w.decls = ds
		vals := item{}
		var cond string
		switch kind {
		case kindInsert, kindCreate:
			cond = condNotLive + " AND " + condNewer
		case kindUpdate:
			cond = condLive + " AND " + condNewer
			if opts.IfVersion > 0 {
				cond += " AND #v = :iv"
				vals[":iv"] = avN(opts.IfVersion)
			}
		case kindImport:
			cond = condNewer
		}
		if err := tooLarge(w); err != nil {
			return store.Entry{}, record{}, err
		}
		upd := w.update(vals)
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                           &s.table,
			Key:                                 keyOf(name, key),
			UpdateExpression:                    &upd,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            exprNames(upd, cond),
			ExpressionAttributeValues:           exprValues(vals, upd, cond),
			ReturnValues:                        types.ReturnValueAllOld,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}, writeOpt)
		if err != nil {
			var cf *types.ConditionalCheckFailedException
			if !errors.As(err, &cf) {
				if ambiguous(err) {
					e, resend, err := s.settle(ctx, w, err)
					if resend {
						tokens = append(tokens, w.token)
						continue
					}
					return e, record{}, err
				}
				return store.Entry{}, record{}, wrapErr(fmt.Sprintf("write %s/%s", name, key), err)
			}
			old, derr := decode(cf.Item)
			if derr != nil {
				return store.Entry{}, record{}, derr
			}
			if old.exists && slices.Contains(tokens, old.token) {
				s.dropStaleChunks(ctx, name, key, old.ver)
				return old.entry, record{}, nil // an earlier attempt applied after all
			}
			live := old.live(t)
			switch {
			case (kind == kindInsert || kind == kindCreate) && live:
				return store.Entry{}, old, store.Errorf(store.CodeAlreadyExists, "%s/%s already exists", name, key)
			case kind == kindUpdate && !live:
				return store.Entry{}, old, store.Errorf(store.CodeNotFound, "%s/%s not found", name, key)
			case kind == kindUpdate && opts.IfVersion > 0 && old.ver != opts.IfVersion:
				return store.Entry{}, old, store.Errorf(store.CodeConflict, "%s/%s has version %d, not %d", name, key, old.ver, opts.IfVersion)
			case old.ver >= w.ver:
				atLeast = max(atLeast, old.ver+1)
				continue
			default:
				// The item changed between the evaluation and now; retry.
				continue
			}
		}
		e := w.entry()
		if len(out.Attributes) > 0 {
			old, _ := decode(out.Attributes)
			if kind == kindUpdate && old.exists {
				e.CreatedAt = old.entry.CreatedAt
			}
			if old.parts > 0 {
				s.dropChunks(ctx, chunkRef{name, key, old.ver, old.parts})
			}
		}
		return e, record{}, nil
	}
	return store.Entry{}, record{}, store.Errorf(store.CodeConflict, "%s/%s changed concurrently too often", name, key)
}

// entry is the entry a successful write of w stored.
func (w dataWrite) entry() store.Entry {
	e := store.Entry{
		Name: w.name, Key: w.key, Data: w.data, Version: w.ver, FlowUUID: w.flow,
		ExpiresAt: w.expires, CreatedAt: w.now, UpdatedAt: w.now,
	}
	if !w.createdAt.IsZero() {
		e.CreatedAt = w.createdAt
	}
	if !w.updatedAt.IsZero() {
		e.UpdatedAt = w.updatedAt
	}
	return e
}

// ambiguous reports whether a failed request may have been applied: the
// request may have reached DynamoDB (no API error came back, or a 5xx).
func ambiguous(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if notSent(err) == aws.TrueTernary {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorFault() == smithy.FaultServer
	}
	return true
}

// confirm settles an ambiguous write by reading the item back: the write
// applied when the item carries its token. It never writes; the caller may
// send the write again (with a new token) only when it did not apply and
// ctx is still live.
func (s *Store) confirm(ctx context.Context, w dataWrite) (store.Entry, bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r, err := s.get(cctx, w.name, w.key)
	if err != nil {
		return store.Entry{}, false, err
	}
	if r.token == w.token {
		return r.entry, true, nil
	}
	return store.Entry{}, false, nil
}

// settle handles an ambiguous failure of write w: success when it applied;
// resend (true) when it provably did not and ctx is live; else an error.
func (s *Store) settle(ctx context.Context, w dataWrite, cause error) (store.Entry, bool, error) {
	e, applied, err := s.confirm(ctx, w)
	switch {
	case applied:
		s.dropStaleChunks(ctx, w.name, w.key, e.Version)
		return e, false, nil
	case err == nil && ctx.Err() == nil:
		return store.Entry{}, true, nil
	}
	return store.Entry{}, false, wrapErr(fmt.Sprintf("write %s/%s (not applied, or its outcome is unknown)", w.name, w.key), cause)
}

// Delete turns a live entry into a tombstone that keeps its version and
// reports whether there was one. With opts.IfVersion, a missing entry or
// another version is conflict.
func (s *Store) Delete(ctx context.Context, name, key string, opts store.DeleteOptions) (bool, error) {
	if err := s.limits.ValidateNameKey(name, key); err != nil {
		return false, err
	}
	if opts.IfVersion < 0 {
		return false, store.Errorf(store.CodeInvalidArgument, "ifVersion must not be negative")
	}
	t := now()
	vals := item{":now": avN(t.UnixMicro())}
	upd := tombstoneUpdate(vals, t, 1)
	cond := condLive
	if opts.IfVersion > 0 {
		cond += " AND #v = :iv"
		vals[":iv"] = avN(opts.IfVersion)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       keyOf(name, key),
		UpdateExpression:          &upd,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  exprNames(upd, cond),
		ExpressionAttributeValues: exprValues(vals, upd, cond),
		ReturnValues:              types.ReturnValueAllOld,
	}, writeOpt)
	var cf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		if p := partsOf(out.Attributes); p > 0 {
			v, _ := getN(out.Attributes, aVer)
			s.dropChunks(ctx, chunkRef{name, key, v, p})
		}
		return true, nil
	case errors.As(err, &cf):
		if opts.IfVersion > 0 {
			return false, store.Errorf(store.CodeConflict, "%s/%s does not exist with version %d", name, key, opts.IfVersion)
		}
		return false, nil
	default:
		return false, wrapErr(fmt.Sprintf("delete %s/%s", name, key), err)
	}
}
