package web

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// Entries are the hot path's answers, so they are encoded by hand: the
// store hands out data as canonical JSON, which is appended as it is, and
// the rest are a few strings, numbers and timestamps. The output is what
// encoding/json produces for store.Entry without HTML escaping (a test
// compares the two).

// appendString appends s as a JSON string (encoding/json's escaping,
// without HTML escaping).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendEntry appends e as JSON.
func appendEntry(b []byte, e store.Entry) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, e.Name)
	b = append(b, `,"key":`...)
	b = appendString(b, e.Key)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, e.Version, 10)
	b = append(b, `,"flowUuid":`...)
	b = appendString(b, e.FlowUUID)
	b = append(b, `,"expiresAt":`...)
	if e.ExpiresAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, *e.ExpiresAt)
	}
	b = append(b, `,"createdAt":`...)
	b = appendTime(b, e.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendTime(b, e.UpdatedAt)
	return append(b, '}')
}

// appendPage appends p as {"items": [...], "nextCursor": "..."}.
func appendPage(b []byte, p store.Page) []byte {
	b = append(b, `{"items":[`...)
	for i, e := range p.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEntry(b, e)
	}
	b = append(b, `],"nextCursor":`...)
	b = appendString(b, p.NextCursor)
	return append(b, '}')
}

func writeJSONBytes(c echo.Context, status int, b []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)+1))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(append(b, '\n'))
	return err
}

// entryJSON answers one entry (the store's data is canonical JSON by
// contract, so it is appended as it is).
func entryJSON(c echo.Context, status int, e store.Entry) error {
	return writeJSONBytes(c, status, appendEntry(make([]byte, 0, 256+len(e.Data)), e))
}

// pageJSON answers a page of entries.
func pageJSON(c echo.Context, p store.Page) error {
	n := 64
	for _, e := range p.Entries {
		n += 256 + len(e.Data)
	}
	return writeJSONBytes(c, http.StatusOK, appendPage(make([]byte, 0, n), p))
}
