package web

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/jsonx"
	"github.com/flowkv/flowkv/store"
)

// Entries are the hot path's answers, so they are written as bytes with
// store.Entry.AppendJSON (the one encoder of entries, which the CLI and
// dumps use too) rather than through encoding/json.

// appendPage appends p as {"items": [...], "nextCursor": "..."}.
func appendPage(b []byte, p store.Page) []byte {
	b = append(b, `{"items":[`...)
	for i, e := range p.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	b = append(b, `],"nextCursor":`...)
	b = jsonx.AppendString(b, p.NextCursor)
	return append(b, '}')
}

// jsonContentType is the Content-Type header's value, shared by every
// answer (header values are only ever replaced or appended to, which
// copies).
var jsonContentType = []string{echo.MIMEApplicationJSON}

// unbufferedAnswer is the size from which net/http no longer buffers a whole
// answer before sending its headers (bufferBeforeChunkingSize); below it,
// net/http computes Content-Length itself.
const unbufferedAnswer = 2048

func writeJSONBytes(c echo.Context, status int, b []byte) error {
	h := c.Response().Header()
	h[echo.HeaderContentType] = jsonContentType
	if len(b)+1 >= unbufferedAnswer {
		h[echo.HeaderContentLength] = []string{strconv.Itoa(len(b) + 1)}
	}
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(append(b, '\n'))
	return err
}

// answerBufs holds the buffers entry answers are encoded into: net/http
// copies an answer out before Write returns, so the buffer is free again.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledAnswer bounds the buffers kept for reuse (an entry may be
// megabytes; most are small).
const maxPooledAnswer = 64 << 10

// entryJSON answers one entry (the store's data is canonical JSON by
// contract, so it is appended as it is).
func entryJSON(c echo.Context, status int, e store.Entry) error {
	bp := answerBufs.Get().(*[]byte)
	b := e.AppendJSON((*bp)[:0])
	err := writeJSONBytes(c, status, b)
	if cap(b) <= maxPooledAnswer {
		*bp = b[:0]
		answerBufs.Put(bp)
	}
	return err
}

// pageJSON answers a page of entries.
func pageJSON(c echo.Context, p store.Page) error {
	n := 64
	for _, e := range p.Entries {
		n += 256 + len(e.Data)
	}
	return writeJSONBytes(c, http.StatusOK, appendPage(make([]byte, 0, n), p))
}
