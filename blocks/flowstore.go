package blocks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/store"
)

// StoredFlow is a flow as stored.
type StoredFlow struct {
	// Flow is the flow; its trigger renders secretSet, never the secret.
	Flow *Flow `json:"flow"`
	// UUID is generated when the flow is first stored and kept by later puts.
	UUID string `json:"uuid"`
	// Source is the document as it was put (YAML or JSON), without the
	// trigger's secret (a document that had one is re-encoded without it).
	Source    string    `json:"source"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type flowRecord struct {
	Flow   *Flow  `json:"flow"`
	UUID   string `json:"uuid"`
	Source string `json:"source"`
	// SecretHash is the hex SHA-256 of the webhook secret ("" for none).
	SecretHash string `json:"secretHash,omitempty"`
}

// PutFlow parses and validates a flow document and stores it (creating or
// replacing the flow with its id). A refused flow is a *ValidationError
// listing every problem. The flow keeps its UUID across puts.
//
// The trigger's secret is stored as its SHA-256 only, and the stored
// source loses it. A document without trigger.secret keeps the stored
// secret; secret: "" removes it.
func (e *Engine) PutFlow(ctx context.Context, src []byte) (StoredFlow, error) {
	f, err := ParseFlow(src)
	if err != nil {
		return StoredFlow{}, err
	}
	if err := Validate(f); err != nil {
		return StoredFlow{}, err
	}
	given, hash, source := f.Trigger.secretGiven, "", string(src)
	if given {
		if f.Trigger.Secret != "" {
			hash = hashSecret(f.Trigger.Secret)
		}
		source = redactSource(src, f, f.Trigger.Secret)
	}
	f.Trigger.Secret, f.Trigger.secretGiven = "", false
	for attempt := 0; ; attempt++ {
		old, err := e.st.FindNameKey(ctx, FlowsNamespace, f.ID)
		var rec flowRecord
		var ent store.Entry
		switch {
		case err == nil:
			var prev flowRecord
			if jerr := json.Unmarshal(old.Data, &prev); jerr != nil || prev.UUID == "" {
				prev.UUID = uuid.NewString()
			}
			if !given {
				hash = prev.SecretHash
				if hash == "" && prev.Flow != nil && prev.Flow.Trigger.Secret != "" {
					hash = hashSecret(prev.Flow.Trigger.Secret) // stored before secrets were hashed
				}
			}
			f.Trigger.secretHash = hash
			rec = flowRecord{Flow: f, UUID: prev.UUID, Source: source, SecretHash: hash}
			data, merr := json.Marshal(rec)
			if merr != nil {
				return StoredFlow{}, merr
			}
			ent, err = e.st.Upsert(ctx, FlowsNamespace, f.ID, data, store.WriteOptions{IfVersion: old.Version})
		case errors.Is(err, store.ErrNotFound):
			f.Trigger.secretHash = hash
			rec = flowRecord{Flow: f, UUID: uuid.NewString(), Source: source, SecretHash: hash}
			data, merr := json.Marshal(rec)
			if merr != nil {
				return StoredFlow{}, merr
			}
			ent, err = e.st.Insert(ctx, FlowsNamespace, f.ID, data, store.WriteOptions{})
		default:
			return StoredFlow{}, fmt.Errorf("blocks: read flow %s: %w", f.ID, err)
		}
		if err != nil {
			if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) && attempt < 10 {
				continue // a concurrent put won; read again
			}
			return StoredFlow{}, fmt.Errorf("blocks: store flow %s: %w", f.ID, err)
		}
		e.forget(f.ID)
		idx, _ := json.Marshal(map[string]string{"id": f.ID})
		if _, err := e.st.Upsert(ctx, FlowUUIDsNamespace, rec.UUID, idx, store.WriteOptions{}); err != nil {
			return StoredFlow{}, fmt.Errorf("blocks: store flow uuid %s: %w", f.ID, err)
		}
		return storedFromEntry(ent, rec), nil
	}
}

func storedFromEntry(ent store.Entry, rec flowRecord) StoredFlow {
	return StoredFlow{Flow: rec.Flow, UUID: rec.UUID, Source: rec.Source, Version: ent.Version,
		CreatedAt: ent.CreatedAt, UpdatedAt: ent.UpdatedAt}
}

func decodeFlowEntry(ent store.Entry) (StoredFlow, error) {
	sf, _, err := decodeFlowRecord(ent)
	return sf, err
}

// decodeFlowRecord decodes a stored flow. A record stored before secrets
// were hashed (its flow holds the secret in clear) is returned with the
// secret hashed and removed from the source, and legacy set.
func decodeFlowRecord(ent store.Entry) (sf StoredFlow, legacy *flowRecord, err error) {
	var rec flowRecord
	if err := json.Unmarshal(ent.Data, &rec); err != nil || rec.Flow == nil {
		return StoredFlow{}, nil, store.Errorf(store.CodeUnavailable, "stored flow %s is damaged", ent.Key)
	}
	if t := &rec.Flow.Trigger; t.secretGiven {
		if rec.SecretHash == "" && t.Secret != "" {
			rec.SecretHash = hashSecret(t.Secret)
		}
		rec.Source = redactSource([]byte(rec.Source), rec.Flow, t.Secret)
		t.Secret, t.secretGiven = "", false
		legacy = &rec
	}
	rec.Flow.Trigger.secretHash = rec.SecretHash
	return storedFromEntry(ent, rec), legacy, nil
}

// GetFlow returns a stored flow or not_found.
func (e *Engine) GetFlow(ctx context.Context, id string) (StoredFlow, error) {
	if !ValidFlowID(id) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	ent, err := e.st.FindNameKey(ctx, FlowsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	if err != nil {
		return StoredFlow{}, fmt.Errorf("blocks: read flow %s: %w", id, err)
	}
	return decodeFlowEntry(ent)
}

// FlowByUUID returns the stored flow with the given UUID or not_found.
func (e *Engine) FlowByUUID(ctx context.Context, id string) (StoredFlow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	ent, err := e.st.FindNameKey(ctx, FlowUUIDsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	if err != nil {
		return StoredFlow{}, err
	}
	var idx struct{ ID string }
	_ = json.Unmarshal(ent.Data, &idx)
	sf, err := e.GetFlow(ctx, idx.ID)
	if err == nil && sf.UUID != id {
		return StoredFlow{}, store.Errorf(store.CodeNotFound, "no flow with uuid %q", id)
	}
	return sf, err
}

// ListFlows returns every stored flow in id order.
func (e *Engine) ListFlows(ctx context.Context) ([]StoredFlow, error) {
	var out []StoredFlow
	cursor := ""
	for {
		p, err := e.st.List(ctx, FlowsNamespace, "", cursor, e.limits.MaxListLimit)
		if err != nil {
			return nil, fmt.Errorf("blocks: list flows: %w", err)
		}
		for _, ent := range p.Entries {
			sf, legacy, err := decodeFlowRecord(ent)
			if err != nil {
				e.log.Warn("blocks: skipping damaged flow record", "flow", ent.Key)
				continue
			}
			if legacy != nil {
				e.migrateFlow(ctx, ent, legacy)
			}
			out = append(out, sf)
		}
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// migrateFlow rewrites a flow record stored before secrets were hashed
// (ListFlows does it, so serve's scheduler migrates every flow at start).
// A concurrent put wins.
func (e *Engine) migrateFlow(ctx context.Context, ent store.Entry, rec *flowRecord) {
	data, err := json.Marshal(rec)
	if err == nil {
		_, err = e.st.Update(ctx, FlowsNamespace, ent.Key, data, store.WriteOptions{IfVersion: ent.Version})
	}
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		e.log.Warn("blocks: could not hash a stored webhook secret", "flow", ent.Key, "err", err)
	}
}

// errFlowDeleted ends the runs of a flow that is deleted while they go on.
var errFlowDeleted = store.Errorf(store.CodeNotFound, "the flow was deleted while this run was going")

// DeleteFlow removes a stored flow and reports whether it existed. Its
// runs going on in this process are cancelled at once (and not recorded),
// a Scheduler on this engine drops its schedule at once, and its run
// records are deleted (a flow re-created under the same id gets a new UUID
// and no history either way).
func (e *Engine) DeleteFlow(ctx context.Context, id string) (bool, error) {
	sf, err := e.GetFlow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok, err := e.st.Delete(ctx, FlowsNamespace, id, store.DeleteOptions{})
	if err != nil {
		return false, err
	}
	_, _ = e.st.Delete(ctx, FlowUUIDsNamespace, sf.UUID, store.DeleteOptions{})
	e.forget(id)
	e.cancelRuns(sf.UUID)
	if err := e.deleteRuns(ctx, sf.UUID); err != nil {
		e.log.Warn("blocks: could not delete the runs of a deleted flow (they expire with their TTL)", "flow", id, "err", err)
	}
	return ok, nil
}

// cancelRuns marks flowUUID deleted and cancels its runs going on.
func (e *Engine) cancelRuns(flowUUID string) {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if _, ok := e.deleted[flowUUID]; !ok {
		e.deleted[flowUUID] = struct{}{}
		e.deletedOrder = append(e.deletedOrder, flowUUID)
		if len(e.deletedOrder) > maxDeleted {
			delete(e.deleted, e.deletedOrder[0])
			e.deletedOrder = e.deletedOrder[1:]
		}
	}
	for r := range e.active[flowUUID] {
		r.cancel(errFlowDeleted)
	}
	delete(e.since, flowUUID)
}

// loadFlow returns the compiled stored flow, cached per stored version.
func (e *Engine) loadFlow(ctx context.Context, id string) (*compiledFlow, string, error) {
	if !ValidFlowID(id) {
		return nil, "", store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	e.mu.Lock()
	c, ok := e.cache[id]
	e.mu.Unlock()
	if ok && e.opts.FlowCacheTTL > 0 && time.Since(c.checked) < e.opts.FlowCacheTTL {
		return c.cf, c.uuid, nil
	}
	checked := time.Now()
	ent, err := e.st.FindNameKey(ctx, FlowsNamespace, id)
	if errors.Is(err, store.ErrNotFound) {
		if ok { // deleted by another process
			e.mu.Lock()
			delete(e.cache, id)
			e.mu.Unlock()
		}
		return nil, "", store.Errorf(store.CodeNotFound, "no flow %q", id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("blocks: read flow %s: %w", id, err)
	}
	if ok && c.version == ent.Version {
		c.checked = checked
		e.mu.Lock()
		e.cache[id] = c
		e.mu.Unlock()
		return c.cf, c.uuid, nil
	}
	sf, err := decodeFlowEntry(ent)
	if err != nil {
		return nil, "", err
	}
	cf, err := compile(sf.Flow)
	if err != nil {
		// A flow stored by an older binary may not validate any more.
		return nil, "", fmt.Errorf("stored flow %s no longer validates: %w", id, err)
	}
	e.mu.Lock()
	e.cache[id] = cachedFlow{version: ent.Version, cf: cf, uuid: sf.UUID, checked: checked}
	e.mu.Unlock()
	return cf, sf.UUID, nil
}

// forget drops a flow from the cache and tells the scheduler.
func (e *Engine) forget(id string) {
	e.mu.Lock()
	delete(e.cache, id)
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}
