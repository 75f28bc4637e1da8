package store

import (
	"strconv"
	"time"

	"github.com/flowkv/flowkv/internal/jsonx"
)

// AppendJSON appends e as JSON: the object encoding/json writes for
// Entry's struct tags with HTML escaping off, byte for byte, with Data
// (canonical JSON by contract) appended as it is, or null when empty.
// This is the one encoder of entries: the HTTP API calls it on its hot
// path, and the CLI and dumps reach it through MarshalJSON.
func (e Entry) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = jsonx.AppendString(b, e.Name)
	b = append(b, `,"key":`...)
	b = jsonx.AppendString(b, e.Key)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, e.Version, 10)
	b = append(b, `,"flowUuid":`...)
	b = jsonx.AppendString(b, e.FlowUUID)
	b = append(b, `,"expiresAt":`...)
	if e.ExpiresAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *e.ExpiresAt)
	}
	b = append(b, `,"createdAt":`...)
	b = appendJSONTime(b, e.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendJSONTime(b, e.UpdatedAt)
	return append(b, '}')
}

// MarshalJSON is AppendJSON for encoding/json, which then applies its own
// HTML escaping when it is on (as json.Marshal has it), so the bytes are
// what it would write for the struct. A type that embeds Entry inherits
// this method: give it its own MarshalJSON.
func (e Entry) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256+len(e.Data))), nil
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
