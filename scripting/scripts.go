package scripting

import (
	"context"
	"encoding/json"
	"time"

	"github.com/flowkv/flowkv/store"
)

// ScriptsNamespace is the reserved namespace stored scripts live in, one
// entry per script: key = the script's name, data = {"source": "…"}.
// Scripts cannot reach it (grants never cover reserved namespaces); use the
// raw store.
const ScriptsNamespace = store.ReservedPrefix + "scripts"

// Script is a stored script.
type Script struct {
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type scriptDoc struct {
	Source string `json:"source"`
}

// PutScript saves (creates or replaces) the script name in raw, the
// unguarded store. The source must compile (syntax errors are
// invalid_argument, with the position) and be at most the engine's
// MaxSourceBytes; name follows the store's key rules.
func (e *Engine) PutScript(ctx context.Context, raw store.Store, name, source string) (Script, error) {
	if err := raw.Limits().Normalize().ValidateKey(name); err != nil {
		return Script{}, store.Errorf(store.CodeOf(err), "script name: %s", store.Message(err))
	}
	if err := e.Check(ctx, name, source); err != nil {
		return Script{}, err
	}
	data, err := json.Marshal(scriptDoc{Source: source})
	if err != nil {
		return Script{}, store.Errorf(store.CodeInvalidArgument, "script %s: %v", name, err)
	}
	ent, err := raw.Upsert(ctx, ScriptsNamespace, name, data, store.WriteOptions{})
	if err != nil {
		return Script{}, err
	}
	return Script{Name: name, Source: source, Version: ent.Version, UpdatedAt: ent.UpdatedAt}, nil
}

// GetScript loads the script name from raw; not_found when absent.
func GetScript(ctx context.Context, raw store.Store, name string) (Script, error) {
	if err := raw.Limits().Normalize().ValidateKey(name); err != nil {
		return Script{}, store.Errorf(store.CodeOf(err), "script name: %s", store.Message(err))
	}
	e, err := raw.FindNameKey(ctx, ScriptsNamespace, name)
	if err != nil {
		if store.CodeOf(err) == store.CodeNotFound {
			return Script{}, store.Errorf(store.CodeNotFound, "no script named %q", name)
		}
		return Script{}, err
	}
	return scriptFrom(e)
}

func scriptFrom(e store.Entry) (Script, error) {
	var d scriptDoc
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return Script{}, store.Errorf(store.CodeInvalidArgument, "stored script %s is not a script record", e.Key)
	}
	return Script{Name: e.Key, Source: d.Source, Version: e.Version, UpdatedAt: e.UpdatedAt}, nil
}

// ListScripts returns up to limit stored scripts in name order after
// cursor, and the cursor of the next page ("" at the end).
func ListScripts(ctx context.Context, raw store.Store, cursor string, limit int) ([]Script, string, error) {
	p, err := raw.List(ctx, ScriptsNamespace, "", cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]Script, 0, len(p.Entries))
	for _, e := range p.Entries {
		s, err := scriptFrom(e)
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	return out, p.NextCursor, nil
}

// DeleteScript removes the script name and reports whether it existed.
func DeleteScript(ctx context.Context, raw store.Store, name string) (bool, error) {
	if err := raw.Limits().Normalize().ValidateKey(name); err != nil {
		return false, store.Errorf(store.CodeOf(err), "script name: %s", store.Message(err))
	}
	return raw.Delete(ctx, ScriptsNamespace, name, store.DeleteOptions{})
}

// RunStored loads the script name from raw and runs it with r (r.Source
// and r.Name are set from the stored script; r.Store, r.Grants and
// r.Input are the caller's).
func (e *Engine) RunStored(ctx context.Context, raw store.Store, name string, r Run) (Result, error) {
	sc, err := GetScript(ctx, raw, name)
	if err != nil {
		return Result{}, err
	}
	r.Source, r.Name = sc.Source, sc.Name
	return e.Run(ctx, r)
}
