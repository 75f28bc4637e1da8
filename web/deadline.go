package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// runBounded runs next bounded by Limits.RequestTimeout: the request's
// context ends then, and an error the handler returns because of it says so
// (408 timeout). The context before the bound is kept in the request's
// frame (LongResponse goes back to it).
func (s *Server) runBounded(c echo.Context, f *frame, next echo.HandlerFunc) error {
	d := s.limits.RequestTimeout
	if d <= 0 {
		return next(c)
	}
	r := c.Request()
	parent := r.Context()
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	f.undeadlined = parent
	c.SetRequest(r.WithContext(ctx))
	err := next(c)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil && c.Request().Context() == ctx {
		return store.Errorf(store.CodeTimeout, "the request ran longer than the server's request timeout (%s)", d)
	}
	return err
}

// deadlineWriter sets the connection's write deadline as a response is
// written: once, at its first byte, to WriteTimeout later; or, after
// LongResponse, before every write and flush. net/http clears the write
// deadline after each response, so nothing carries over to the next
// request on the connection.
type deadlineWriter struct {
	http.ResponseWriter
	timeout time.Duration // 0: no write deadline
	long    bool
	armed   bool
}

// The connection's writer (net/http's) has these methods itself; asking it
// directly spares an http.ResponseController per request, which is the
// fallback for a wrapped writer.
type (
	writeDeadliner interface{ SetWriteDeadline(time.Time) error }
	errorFlusher   interface{ FlushError() error }
)

func (w *deadlineWriter) arm() {
	if w.timeout <= 0 || w.armed && !w.long {
		return
	}
	w.armed = true
	t := time.Now().Add(w.timeout)
	if d, ok := w.ResponseWriter.(writeDeadliner); ok {
		_ = d.SetWriteDeadline(t)
		return
	}
	// ErrNotSupported under a test recorder: nothing to bound there.
	_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush (and echo's
// Response.Flush) call.
func (w *deadlineWriter) FlushError() error {
	w.arm()
	if f, ok := w.ResponseWriter.(errorFlusher); ok {
		return f.FlushError()
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LongResponse lifts the whole-response write deadline (Limits.WriteTimeout
// from the first byte) for the current request: from now on every write and
// flush must instead make progress within WriteTimeout, so a client that
// stops reading is still cut off but a stream may last as long as it
// writes. Routes that stream for long (exports, watch streams) call it
// before writing, or add the Streaming middleware. It also lifts the
// request timeout (Limits.RequestTimeout) from the request's context: call
// it before taking the context. The write part is a no-op on a server
// without a write timeout.
func LongResponse(c echo.Context) {
	f := frameOf(c)
	if f == nil {
		return
	}
	if f.undeadlined != nil {
		c.SetRequest(c.Request().WithContext(f.undeadlined))
	}
	f.long = true
}

// Streaming is route middleware that calls LongResponse:
//
//	s.Handle(http.MethodGet, "/v1/export", h, doc, web.Streaming)
func Streaming(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		LongResponse(c)
		return next(c)
	}
}
