package blocks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Trigger types.
const (
	TriggerManual   = "manual"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
)

// Flow limits.
const (
	// MaxBlocks bounds the blocks of one flow.
	MaxBlocks = 100
	// MaxFlowBytes bounds a flow document.
	MaxFlowBytes = 256 << 10
	// DefaultFlowTimeout is a run's time limit when the flow sets none.
	DefaultFlowTimeout = time.Minute
	// MaxFlowTimeout bounds a flow's timeout.
	MaxFlowTimeout = time.Hour
)

// Flow is a flow document: blocks run in order with the flow's grants.
type Flow struct {
	// ID names the flow: 1–100 letters, digits, '.', '_' or '-'.
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// DataStores are the namespaces the flow may use ("*" for all
	// non-reserved ones): "orders" or "orders:write" for read and write,
	// "orders:read" for read only. See ParseDataStore.
	DataStores []string `json:"dataStores"`
	Trigger    Trigger  `json:"trigger"`
	// Timeout bounds one run (a Go duration such as "30s"; default 1m).
	Timeout string        `json:"timeout,omitempty"`
	Blocks  []BlockConfig `json:"blocks"`
	// Respond sets what the flow's webhook answers for a run that
	// succeeded (nil: {runId, status, output, error} with status 200).
	Respond *Respond `json:"respond,omitempty"`

	// pos is where the document ParseFlow read set each field (nil for a
	// flow built otherwise).
	pos *docPositions
}

// Respond is a flow's respond option. Its values may hold templates that
// see input, steps, flow and request, evaluated after the last block.
type Respond struct {
	// Status is the HTTP status (100–599; default 200): a number or an
	// expression ("{{ steps.check.allowed ? 200 : 429 }}").
	Status any `json:"status,omitempty"`
	// Body is the answer's JSON body (default: the last block's output).
	Body any `json:"body,omitempty"`
}

// ParseDataStore splits a dataStores item into its namespace and the
// access the flow declares: "orders:read" is read-only, "orders:write" and
// a bare "orders" are read and write. Only the suffixes ":read" and
// ":write" are access levels, so a namespace holding ':' is written as is
// ("a:b") or with a suffix ("a:b:read").
func ParseDataStore(item string) (string, store.Access) {
	if name, ok := strings.CutSuffix(item, ":read"); ok && name != "" {
		return name, store.Read
	}
	if name, ok := strings.CutSuffix(item, ":write"); ok && name != "" {
		return name, store.Write
	}
	return item, store.Write
}

// Grants are the grants the flow's runs get: each declared namespace at
// its declared access (the higher one when a namespace is listed twice).
func (f *Flow) Grants() store.Grants {
	g := store.Grants{}
	for _, it := range f.DataStores {
		n, a := ParseDataStore(it)
		if a > g[n] {
			g[n] = a
		}
	}
	return g
}

// Namespaces are the names of the flow's declared namespaces, in order,
// without their access suffixes or duplicates.
func (f *Flow) Namespaces() []string {
	out := make([]string, 0, len(f.DataStores))
	seen := map[string]bool{}
	for _, it := range f.DataStores {
		n, _ := ParseDataStore(it)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Trigger says what starts a flow besides a manual run (a manual run is
// always possible).
type Trigger struct {
	// Type is manual (default), webhook or schedule.
	Type string `json:"type"`
	// Every runs a schedule flow at each multiple of this duration since the
	// Unix epoch ("5m", "1h"; at least 1s).
	Every string `json:"every,omitempty"`
	// Cron runs a schedule flow by a 5-field cron expression in UTC
	// ("*/5 * * * *", "0 3 * * mon-fri", "@hourly").
	Cron string `json:"cron,omitempty"`
	// Input is the input of scheduled runs.
	Input json.RawMessage `json:"input,omitempty"`
	// Secret, when set on a webhook flow, must be sent as the
	// X-Flowkv-Secret header (or ?secret=) to run it. It is write-only: a
	// document gives it, the engine stores only its SHA-256, and no JSON
	// rendering of a Trigger holds it (secretSet says whether one is set).
	// A document without the field keeps the stored secret; secret: ""
	// removes it.
	Secret string `json:"-"`

	// secretGiven is set when the document had the secret field.
	secretGiven bool
	// secretHash is the hex SHA-256 of the stored secret.
	secretHash string
}

// HasSecret reports whether the trigger has a webhook secret: the one
// given (SetSecret, a parsed document), else the stored one.
func (t Trigger) HasSecret() bool {
	if t.secretGiven {
		return t.Secret != ""
	}
	return t.Secret != "" || t.secretHash != ""
}

// SetSecret makes the trigger carry secret when put; "" removes the
// stored one (while a Trigger whose SetSecret was not called keeps it).
func (t *Trigger) SetSecret(secret string) { t.Secret, t.secretGiven = secret, true }

// triggerDoc is a Trigger's JSON form.
type triggerDoc struct {
	Type  string          `json:"type"`
	Every string          `json:"every,omitempty"`
	Cron  string          `json:"cron,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// Secret is read from documents; written only by FlowDocument.
	Secret *string `json:"secret,omitempty"`
	// SecretSet is written to say a secret is set; ignored when read.
	SecretSet bool `json:"secretSet,omitempty"`
}

// MarshalJSON writes the trigger without its secret, with secretSet: true
// when it has one.
func (t Trigger) MarshalJSON() ([]byte, error) {
	return json.Marshal(triggerDoc{Type: t.Type, Every: t.Every, Cron: t.Cron, Input: t.Input, SecretSet: t.HasSecret()})
}

// UnmarshalJSON reads a trigger object strictly (unknown fields are
// errors); secret is taken, secretSet ignored.
func (t *Trigger) UnmarshalJSON(data []byte) error {
	var d triggerDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			c := *ute
			c.Field = "trigger." + c.Field
			return &c
		}
		return err
	}
	*t = Trigger{Type: d.Type, Every: d.Every, Cron: d.Cron, Input: d.Input}
	if d.Secret != nil {
		t.Secret, t.secretGiven = *d.Secret, true
	}
	return nil
}

// FlowDocument renders f as a JSON flow document for PutFlow, with the
// trigger's secret when one was given (SetSecret or a parsed document) —
// the one rendering that carries it.
func FlowDocument(f *Flow) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil || !f.Trigger.secretGiven {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	t := f.Trigger
	secret := t.Secret
	tb, err := json.Marshal(triggerDoc{Type: t.Type, Every: t.Every, Cron: t.Cron, Input: t.Input, Secret: &secret})
	if err != nil {
		return nil, err
	}
	m["trigger"] = tb
	return json.Marshal(m)
}

// BlockConfig is one block of a flow document: id, type, if, and the block
// type's own fields, all at the same level.
type BlockConfig struct {
	ID   string
	Type string
	// If, when set, is the condition the block runs under.
	If any
	// Fields are the block's own fields as written (JSON types, numbers as
	// json.Number), expressions not evaluated.
	Fields map[string]any
}

// MarshalJSON writes the block flat: {"id", "type", "if", fields…}.
func (b BlockConfig) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(b.Fields)+3)
	for k, v := range b.Fields {
		m[k] = v
	}
	m["id"] = b.ID
	m["type"] = b.Type
	if b.If != nil {
		m["if"] = b.If
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a flat block object.
func (b *BlockConfig) UnmarshalJSON(data []byte) error {
	v, err := decodeJSON(data)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("a block must be an object, got %s", kindOf(v))
	}
	*b = BlockConfig{Fields: map[string]any{}}
	for k, x := range m {
		switch k {
		case "id":
			b.ID, _ = x.(string)
			if _, isText := x.(string); !isText && x != nil {
				b.ID = fmt.Sprint(x)
			}
		case "type":
			b.Type, _ = x.(string)
		case "if":
			b.If = x
		default:
			b.Fields[k] = x
		}
	}
	return nil
}
