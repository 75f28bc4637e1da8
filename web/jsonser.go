package web

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/labstack/echo/v4"
)

// jsonSerializer is echo's JSON serializer without HTML escaping ("<" stays
// "<" in messages and data) and with one write per answer from a pooled
// buffer. Request bodies are decoded by Server.Bind, not here.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (jsonSerializer) Serialize(c echo.Context, v any, indent string) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bufPool.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := c.Response().Write(buf.Bytes())
	return err
}
