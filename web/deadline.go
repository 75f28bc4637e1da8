package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// ctxUndeadlined holds a request's context before requestDeadline bounded
// it (LongResponse goes back to it).
const ctxUndeadlined = "flowkv.undeadlined"

// requestDeadline is the middleware that bounds every handler by
// Limits.RequestTimeout: the request's context ends then, and an error the
// handler returns because of it says so (408 timeout).
func (s *Server) requestDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	d := s.limits.RequestTimeout
	if d <= 0 {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		parent := r.Context()
		ctx, cancel := context.WithTimeout(parent, d)
		defer cancel()
		c.Set(ctxUndeadlined, parent)
		c.SetRequest(r.WithContext(ctx))
		err := next(c)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil && c.Request().Context() == ctx {
			return store.Errorf(store.CodeTimeout, "the request ran longer than the server's request timeout (%s)", d)
		}
		return err
	}
}

// deadlineWriter sets the connection's write deadline as a response is
// written: once, at its first byte, to WriteTimeout later; or, after
// LongResponse, before every write and flush. net/http clears the write
// deadline after each response, so nothing carries over to the next
// request on the connection.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	long    bool
	armed   bool
}

func (w *deadlineWriter) arm() {
	if w.armed && !w.long {
		return
	}
	w.armed = true
	// ErrNotSupported under a test recorder: nothing to bound there.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
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
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeDeadline is the Pre middleware that installs deadlineWriter on
// every request, matched or not.
func (s *Server) writeDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	d := s.limits.WriteTimeout
	if d <= 0 {
		return next
	}
	return func(c echo.Context) error {
		res := c.Response()
		w := &deadlineWriter{ResponseWriter: res.Writer, rc: http.NewResponseController(res.Writer), timeout: d}
		res.Writer = w
		err := next(c)
		if w.long {
			// net/http flushes what is buffered after the handler returns:
			// give that final write its own deadline too.
			w.arm()
		}
		return err
	}
}

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
	if parent, ok := c.Get(ctxUndeadlined).(context.Context); ok {
		c.SetRequest(c.Request().WithContext(parent))
	}
	for w := c.Response().Writer; w != nil; {
		if dw, ok := w.(*deadlineWriter); ok {
			dw.long = true
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
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
