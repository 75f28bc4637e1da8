package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/jsonx"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// PathParam returns the path parameter name (":name" in the route),
// percent-decoded: keys and names may hold any UTF-8, including "/", ":"
// and spaces, when the client percent-encodes them.
func PathParam(c echo.Context, name string) (string, error) {
	v, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", store.Errorf(store.CodeInvalidArgument, "%s: bad percent-encoding in the path", name)
	}
	return v, nil
}

// frame is the request's own state, allocated once per request by
// serveFrame: its response writer (the write deadline), the context before
// the request timeout, the authenticated token and the error code. Keeping
// them here instead of in echo's context map spares the request the map and
// a boxed token.
type frame struct {
	deadlineWriter
	undeadlined context.Context // the request's context before runBounded bounded it
	token       tokens.Token
	hasToken    bool
	code        store.Code // the error code of the answer, if any
}

// frameOf returns the request's frame, nil outside serveFrame (a handler
// called directly in a test).
func frameOf(c echo.Context) *frame {
	for w := c.Response().Writer; w != nil; {
		if f, ok := w.(*frame); ok {
			return f
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// serveFrame is the one server-wide middleware, an echo Pre middleware so
// it runs for every request, matched or not, before routing. In order it:
//
//   - makes echo route on the escaped path, always: then "%2F" inside a
//     segment is not a separator and PathParam can unescape every segment
//     the same way (echo itself routes on RawPath only when it differs from
//     the default encoding);
//   - installs the request's frame as the response writer, which sets the
//     connection's write deadline at the response's first byte
//     (deadlineWriter);
//   - bounds the handler by the request timeout (runBounded) and turns a
//     handler panic into an unavailable answer, the stack going to the log,
//     never to the client;
//   - turns errors into answers (c.Error) so the log line carries the final
//     status, then logs one line and records the metrics.
//
// It is one middleware, not five, because echo builds the middleware chain
// anew for every request: each middleware costs a closure per request.
//
// Nothing a client sends can grow the metrics or a log line without bound:
// the method is a label from a closed set (methodLabel), the route is the
// template echo matched or "unmatched", and the logged path is cut at
// maxLoggedPath bytes.
func (s *Server) serveFrame(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		u := c.Request().URL
		u.RawPath = u.EscapedPath()
		res := c.Response()
		f := &frame{deadlineWriter: deadlineWriter{ResponseWriter: res.Writer, timeout: s.limits.WriteTimeout}}
		res.Writer = f
		if err := s.recovered(c, f, next); err != nil {
			c.Error(err)
		}
		s.observe(c, f, start)
		if f.long {
			// net/http flushes what is buffered after the handler returns:
			// give that final write its own deadline too.
			f.arm()
		}
		return nil
	}
}

// recovered runs the bounded handler and turns its panic into an error.
func (s *Server) recovered(c echo.Context, f *frame, next echo.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("handler panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = store.Errorf(store.CodeUnavailable, "internal error")
		}
	}()
	return s.runBounded(c, f, next)
}

// observe records the metrics of an answered request and logs its line.
// Neither allocates beyond what slog's Record does for more than five
// attributes: the metric series are cached (metrics.request), the
// attributes live on the stack, and the line skips Logger.LogAttrs, which
// would walk the stack for a source position the request line never shows.
func (s *Server) observe(c echo.Context, f *frame, start time.Time) {
	now := time.Now()
	d := now.Sub(start)
	req, res := c.Request(), c.Response()
	route := c.Path()
	if route == "" || len(route) > maxRouteLabel {
		route = unmatchedRoute
	}
	method := methodLabel(req.Method)
	s.metrics.request(method, route, res.Status, d.Seconds())
	ctx := req.Context()
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var attrs [9]slog.Attr
	attrs[0] = slog.String("method", method)
	attrs[1] = slog.String("path", clip(req.URL.EscapedPath(), maxLoggedPath))
	attrs[2] = slog.String("route", route)
	attrs[3] = slog.Int("status", res.Status)
	attrs[4] = slog.Int64("bytes", res.Size)
	attrs[5] = slog.Float64("ms", float64(d.Microseconds())/1000)
	attrs[6] = slog.String("remote", remoteHost(req.RemoteAddr))
	n := 7
	if f.code != "" {
		attrs[n] = slog.String("code", string(f.code))
		n++
	}
	if f.hasToken {
		attrs[n] = slog.String("token", f.token.ID)
		n++
	}
	r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs[:n]...)
	_ = h.Handle(ctx, r)
}

const (
	// maxRouteLabel guards the closed set of route labels: echo only ever
	// reports a registered template, and none is this long.
	maxRouteLabel = 256
	// maxLoggedPath bounds the path in a request's log line: the longest
	// API path (a 128-byte name and a 256-byte key, percent-encoded) fits.
	maxLoggedPath = 2048
)

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// remoteHost is the peer's address without the port. Forwarded-for headers
// are not trusted: anyone can send them.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// bodyLimit refuses a body whose declared length is over the limit before
// reading any of it, and caps bodies of unknown length while reading.
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.limit {
			c.Response().Header().Set("Connection", "close")
			return store.Errorf(store.CodeTooLarge, "the request body is %d bytes, the limit is %d", r.ContentLength, s.limit)
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response().Writer, r.Body, s.limit)
		}
		return next(c)
	}
}

const (
	ctxGrants = "flowkv.grants"
	ctxToken  = "flowkv.token"
)

// authenticate is the /v1 group's middleware: a valid, unrevoked bearer
// token or 401 unauthenticated. The token's grants go into the context.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return store.Errorf(store.CodeUnauthenticated, "send the header Authorization: Bearer <token>")
		}
		t, err := s.tokens.Verify(c.Request().Context(), strings.TrimSpace(secret))
		if err != nil {
			return err
		}
		SetToken(c, t)
		return next(c)
	}
}

// SetToken records the request's authenticated token (the /v1 middleware
// does it; the web UI does it from its session).
func SetToken(c echo.Context, t tokens.Token) {
	if f := frameOf(c); f != nil {
		f.token, f.hasToken = t, true
		return
	}
	c.Set(ctxToken, t)
	c.Set(ctxGrants, t.Grants)
}

// Grants returns the grants of the request's token; none when the request
// is not authenticated.
func Grants(c echo.Context) store.Grants {
	if f := frameOf(c); f != nil && f.hasToken {
		return f.token.Grants
	}
	g, _ := c.Get(ctxGrants).(store.Grants)
	return g
}

// Token returns the request's token and whether there is one.
func Token(c echo.Context) (tokens.Token, bool) {
	if f := frameOf(c); f != nil && f.hasToken {
		return f.token, true
	}
	t, ok := c.Get(ctxToken).(tokens.Token)
	return t, ok
}

// HasScope reports whether the request's token carries scope
// (tokens.ScopeFlows, tokens.ScopeAdmin; admin implies every scope).
func HasScope(c echo.Context, scope string) bool {
	t, ok := Token(c)
	return ok && t.Has(scope)
}

// RequireScope is access_denied, naming what needs the scope, unless the
// request's token carries scope.
func RequireScope(c echo.Context, scope, what string) error {
	if HasScope(c, scope) {
		return nil
	}
	return store.Errorf(store.CodeAccessDenied, "%s needs a token with scope %s", what, scope)
}

// StoreFor returns the store as the request's token may use it:
// store.WithGrants over the raw store, each call counted against the
// token's quotas and namespace quotas enforced. Use it for every user data
// access.
func (s *Server) StoreFor(c echo.Context) store.Store {
	st := store.WithGrants(s.raw, Grants(c))
	if s.quotas == nil {
		return st
	}
	if t, ok := Token(c); ok {
		return s.quotas.ForToken(st, t.ID)
	}
	return s.quotas.Namespaces(st)
}

// ScriptStore is the store to hand a script run of the request's token
// (scripting.Run.Store, which the run wraps with the token's grants): the
// raw store with the script's calls counted against the token's quotas.
func (s *Server) ScriptStore(c echo.Context) store.Store {
	if s.quotas == nil {
		return s.raw
	}
	if t, ok := Token(c); ok {
		return s.quotas.ForToken(s.raw, t.ID)
	}
	return s.quotas.Namespaces(s.raw)
}

// StartScriptRun admits a script run of the request's token within its
// concurrent run quota (resource_exhausted past it). Call release when the
// run ends.
func (s *Server) StartScriptRun(c echo.Context) (release func(), err error) {
	t, ok := Token(c)
	if s.quotas == nil || !ok {
		return func() {}, nil
	}
	return s.quotas.StartRun(t.ID)
}

// Bind decodes the JSON request body into v strictly: unknown fields,
// wrong types, trailing data and nesting deeper than the store's MaxDepth
// (+1 for the envelope) are invalid_argument with a message naming the
// field; a body over the limit is too_large. Any Content-Type is accepted
// (curl -d sends a form type).
func (s *Server) Bind(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return store.Errorf(store.CodeInvalidArgument, "reading the request body failed")
	}
	return DecodeJSON(body, v, s.raw.Limits().Normalize().MaxDepth+1)
}

// DecodeJSON is Bind's decoder over bytes.
func DecodeJSON(body []byte, v any, maxDepth int) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return store.Errorf(store.CodeInvalidArgument, "the request body is empty: send a JSON object")
	}
	if err := checkDepth(body, maxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return store.Errorf(store.CodeInvalidArgument, "the request body has data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return store.Errorf(store.CodeInvalidArgument, "the request body is not valid JSON: %s at byte %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return store.Errorf(store.CodeInvalidArgument, "the request body must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
		}
		return store.Errorf(store.CodeInvalidArgument, "%s: want a JSON %s, got %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return store.Errorf(store.CodeInvalidArgument, "the request body is not valid JSON: unexpected end of input")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return store.Errorf(store.CodeInvalidArgument, "unknown field %s", f)
	}
	return store.Errorf(store.CodeInvalidArgument, "the request body is not valid: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return k
}

// checkDepth refuses JSON nested deeper than max, naming the top-level
// field the deep value is under.
func checkDepth(b []byte, max int) error {
	at, field := jsonx.TooDeep(b, max)
	switch {
	case at < 0:
		return nil
	case len(field) == 0:
		return store.Errorf(store.CodeInvalidArgument, "the request body is nested deeper than %d levels", max)
	}
	return store.Errorf(store.CodeInvalidArgument, "%s: nested deeper than %d levels", field, max-1)
}

// QueryInt reads an integer query parameter; absent is def.
func QueryInt(c echo.Context, name string, def int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, store.Errorf(store.CodeInvalidArgument, "%s: want an integer, got %q", name, v)
	}
	return n, nil
}
