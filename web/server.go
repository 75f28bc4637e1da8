// Package web is flowkv's HTTP face: one echo server holding the REST API
// (/v1/…, bearer tokens with per-namespace grants), the operational
// endpoints (/healthz, /readyz, /metrics) and whatever other packages mount
// (the web UI at /, webhooks at /hooks/…).
//
// Routes are added with Server.Handle, which also documents them in
// /v1/openapi.json; other files of this package (routes_scripts.go,
// routes_flows.go) and other packages (web/ui) plug in with Register. See
// docs/http.md, section "Adding routes".
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/changes"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// DefaultBodyOverhead is what the default body limit allows beyond the
// store's data limit (the JSON envelope around a value).
const DefaultBodyOverhead = 64 << 10

// Options configure a Server.
type Options struct {
	// Store is the raw, unguarded store (required). Requests see it through
	// store.WithGrants with their token's grants; tokens live in it too.
	Store store.Store
	// Logger receives one line per request; nil means slog.Default().
	Logger *slog.Logger
	// BodyLimit bounds request bodies in bytes; 0 means the store's
	// MaxDataBytes + DefaultBodyOverhead.
	BodyLimit int64
	// TokenCache bounds the token cache (tokens.Manager.SetCacheFor): a
	// verified token is trusted without reading the store, and a
	// revocation by another process (flowkv token revoke, another server)
	// takes effect within TokenCache. 0 means tokens.DefaultCacheBound
	// (1s); negative turns the cache off (every request reads its token).
	TokenCache time.Duration
	// Version is reported by /healthz.
	Version string
	// Quotas counts each token's store operations and script runs and
	// enforces token and namespace quotas (package quota). nil makes New
	// open one over the store, closed with the server; its owner closes a
	// given one (after the server, before the store).
	Quotas *quota.Manager
	// NoQuotas turns the quota layer off (benchmarks compare with it on):
	// nothing is counted or enforced and the quota routes answer 503.
	NoQuotas bool
	// Timeouts and header limit of the HTTP server (Serve); see Limits.
	Limits Limits
	// Changes is the hub that hears every write (Deno KV watch streams
	// listen to it). When set, Store already publishes to it
	// (changes.Notify over the store the whole process shares, so writes by
	// flows and scripts are heard too); nil makes a hub and wraps Store.
	Changes *changes.Hub
	// HookWait is how long a webhook call waits for its run before it
	// answers 202 with the run's id (0: DefaultHookWait; negative: until
	// the run ends).
	HookWait time.Duration
	// Extra carries optional dependencies for routes added with Register,
	// by a name the registering file chooses ("scripts", "flows", "ui").
	// A registrar reads its own entry with a type assertion and skips its
	// routes (or serves 503) when the entry is absent.
	Extra map[string]any
}

// Limits bound what one connection may cost the server, so that no client
// (signed in or not) can hold connections open or make the server buffer
// without end. Zero fields take the defaults (DefaultLimits); a negative
// duration means no limit.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body: the
	// body-read deadline. A client trickling a body is cut off when it
	// passes (the connection is closed). A route that accepts larger
	// uploads moves it for its request with
	// http.NewResponseController(c.Response()).SetReadDeadline. Once a
	// handler has read the body to its end the deadline no longer applies,
	// so a long-running handler is not cancelled by it.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, counted from its first byte
	// (the time a handler computes before answering does not count; its
	// own limits bound that): a client that stops reading is cut off. A
	// route that streams for longer (an export, a watch) calls
	// LongResponse, after which each write must make progress within
	// WriteTimeout instead.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers (431 beyond).
	MaxHeaderBytes int
	// RequestTimeout bounds every handler: the request's context ends
	// after it, so store calls and scripts started for it stop (flow runs
	// are detached: their flow's timeout bounds them),
	// and the answer is 408 timeout. Routes that stream for long (an
	// export, a watch: LongResponse) are bounded by write progress instead.
	RequestTimeout time.Duration
}

// DefaultLimits are the Limits used for zero fields.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
	RequestTimeout:    2 * time.Minute,
}

// withDefaults fills zero fields from DefaultLimits and turns negative
// durations into 0 (net/http's "none").
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	l.ReadHeaderTimeout = pick(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = pick(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = pick(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = pick(l.IdleTimeout, d.IdleTimeout)
	l.RequestTimeout = pick(l.RequestTimeout, d.RequestTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// Server is the HTTP server. Build it with New; serve it with Serve or use
// Handler in tests. It is safe for concurrent use once built.
type Server struct {
	opts    Options
	e       *echo.Echo
	v1      *echo.Group
	raw     store.Store // the Options.Store, wrapped to count operations
	tokens  *tokens.Manager
	log     *slog.Logger
	metrics *metrics
	limit   int64
	quotas  *quota.Manager // nil when Options.NoQuotas
	limits  Limits
	changes *changes.Hub
	stop    chan struct{}
	once    sync.Once
	ready   readiness
	apiDoc  apiDocCache

	mu      sync.Mutex
	docs    []RouteDoc
	closers []func() error
}

// Registrar adds routes (or anything else) to a Server being built.
type Registrar func(s *Server) error

var (
	regMu      sync.Mutex
	registrars = map[string]Registrar{}
)

// Register makes every Server built afterwards call fn during New, in the
// order of the names. Call it from an init function:
//
//	func init() { web.Register("scripts", registerScriptRoutes) }
//
// A duplicate name panics (a programming error).
func Register(name string, fn Registrar) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registrars[name]; dup {
		panic("web: Register called twice for " + name)
	}
	registrars[name] = fn
}

// New builds a Server: middleware, error handler, the built-in routes and
// then every registered Registrar.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("web: Options.Store is required")
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Store)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.changes = opts.Changes
	notified := opts.Store
	if s.changes == nil {
		s.changes = changes.NewHub()
		notified = changes.Notify(opts.Store, s.changes)
	}
	s.stop = make(chan struct{})
	s.raw = countingStore{Store: notified, m: s.metrics}
	s.tokens = tokens.New(s.raw)
	s.tokens.SetCacheFor(opts.TokenCache)
	s.limits = opts.Limits.withDefaults()
	s.limit = opts.BodyLimit
	if s.limit <= 0 {
		s.limit = int64(opts.Store.Limits().Normalize().MaxDataBytes) + DefaultBodyOverhead
	}
	if !opts.NoQuotas {
		s.quotas = opts.Quotas
		if s.quotas == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			m, err := quota.Open(ctx, s.raw, quota.Options{Logger: s.log})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("web: %w", err)
			}
			s.quotas = m
			s.OnClose(m.Close)
		}
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonSerializer{}
	// One middleware for every request (routing on the escaped path, the
	// write deadline, the request timeout, panics, the log line and the
	// metrics): echo allocates each middleware anew per request.
	e.Pre(s.serveFrame)
	s.e = e
	s.v1 = e.Group("/v1", s.authenticate)

	s.addBuiltinRoutes()

	regMu.Lock()
	names := make([]string, 0, len(registrars))
	for n := range registrars {
		names = append(names, n)
	}
	sort.Strings(names)
	regs := make([]Registrar, len(names))
	for i, n := range names {
		regs[i] = registrars[n]
	}
	regMu.Unlock()
	for i, fn := range regs {
		if err := fn(s); err != nil {
			return nil, fmt.Errorf("web: register %s: %w", names[i], err)
		}
	}
	return s, nil
}

// Echo returns the echo instance, for routes that are not part of the API
// (the web UI's pages and assets). API routes go through Handle.
func (s *Server) Echo() *echo.Echo { return s.e }

// V1 returns the /v1 group; its middleware requires a valid bearer token.
// Prefer Handle, which also documents the route in the OpenAPI document.
func (s *Server) V1() *echo.Group { return s.v1 }

// RawStore returns the unguarded store: only for flowkv's own records in
// reserved namespaces. Requests' data goes through StoreFor.
func (s *Server) RawStore() store.Store { return s.raw }

// Quotas returns the quota manager, nil when Options.NoQuotas.
func (s *Server) Quotas() *quota.Manager { return s.quotas }

// Tokens returns the token manager (the web UI signs in with a token).
func (s *Server) Tokens() *tokens.Manager { return s.tokens }

// Changes returns the hub that hears every write made through the server.
func (s *Server) Changes() *changes.Hub { return s.changes }

// Stopping is closed when the server starts shutting down: long-lived
// responses (watch streams) end then, so in-flight requests can finish.
func (s *Server) Stopping() <-chan struct{} { return s.stop }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Extra returns the optional dependency registered under name, or nil.
func (s *Server) Extra(name string) any { return s.opts.Extra[name] }

// Limits returns the connection limits in effect (defaults filled in).
func (s *Server) Limits() Limits { return s.limits }

// BodyLimit returns the request body limit in bytes.
func (s *Server) BodyLimit() int64 { return s.limit }

// OnClose registers fn to run when the server shuts down (after in-flight
// requests finish, before the store closes), in reverse order.
func (s *Server) OnClose(fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, fn)
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Handle adds an API route and its documentation. path uses echo's syntax
// (":name" segments, matched on the escaped path: read them with
// PathParam). Paths under /v1/ require a bearer token (the group's
// middleware) unless doc.Public; others (/hooks/…) are public and must
// authenticate themselves. Every API route must be added here so /v1/openapi.json lists
// exactly the served routes (a test compares the two). mw is applied once,
// here: a middleware keeps per-request state in the handler it returns.
func (s *Server) Handle(method, path string, h echo.HandlerFunc, doc RouteDoc, mw ...echo.MiddlewareFunc) {
	doc.Method, doc.Path = method, path
	if doc.Summary == "" {
		panic("web: Handle " + method + " " + path + " needs a RouteDoc.Summary")
	}
	s.mu.Lock()
	s.docs = append(s.docs, doc)
	s.mu.Unlock()
	// The route's middleware is applied here, once: given to echo, it
	// would be applied again on every request (a closure each). The body
	// limit is per API route: the web UI's uploads have their own.
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	h = s.bodyLimit(h)
	if strings.HasPrefix(path, "/v1/") && !doc.Public {
		// The /v1 group's middleware (authenticate), also applied once; the
		// group still answers the paths no route matches (401 before 404).
		h = s.authenticate(h)
	}
	s.e.Add(method, path, h)
}

// Routes returns the documentation of every route added with Handle.
func (s *Server) Routes() []RouteDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RouteDoc(nil), s.docs...)
}

// Serve serves on ln until ctx is done, then shuts down gracefully:
// in-flight requests finish (up to grace), then the OnClose functions run.
// It does not close the store; the caller owns it.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	// No http.Server.WriteTimeout: it would count from the request's
	// headers and cut long computations and streams alike. writeDeadline
	// sets the connection's write deadline per response instead.
	// HTTP/1.1, and HTTP/2 without TLS (h2c with prior knowledge): Deno's
	// KV Connect client speaks HTTP/2 to http:// URLs.
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Protocols:         &protos,
		Handler:           s.e,
		ReadHeaderTimeout: s.limits.ReadHeaderTimeout,
		ReadTimeout:       s.limits.ReadTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    s.limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.once.Do(func() { close(s.stop) })
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		err = hs.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// Close runs the OnClose functions (once).
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.mu.Lock()
	cl := s.closers
	s.closers = nil
	s.mu.Unlock()
	var errs []error
	for i := len(cl) - 1; i >= 0; i-- {
		errs = append(errs, cl[i]())
	}
	return errors.Join(errs...)
}
