// Package ui is flowkv's web UI: the store browser (namespaces, entries,
// search, edit, TTL, import/export) and the visual flow editor, rendered
// on the server with templ components (package templates) and enhanced with
// htmx. It signs in with an access token, keeps a server-side session,
// checks a CSRF token on every state-changing request, and reaches the data
// only through store.WithGrants with the session's grants, so it works on
// every backend.
//
// Mount it on an echo server with (*UI).Register; its routes live at the
// root ("/", "/login", "/entries", …) beside the API's /v1 routes.
package ui

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/static"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/web"
)

// Verifier checks access tokens (a *tokens.Manager is one:
// TokenVerifier). Verify checks a secret at sign-in; ByKey looks the
// session's token up by its record key on every request, so a revoked
// token ends its sessions (within the Manager's cache bound). An unknown
// or revoked token is an error with code unauthenticated.
type Verifier interface {
	Verify(ctx context.Context, secret string) (tokens.Token, error)
	ByKey(ctx context.Context, key string) (tokens.Token, error)
}

// Quotas counts a session's store calls against its token's quotas and
// reports usage for the pages (a *quota.Manager).
type Quotas interface {
	// ForToken wraps the session's store (already guarded by its grants).
	ForToken(s store.Store, tokenID string) store.Store
	TokenUsage(ctx context.Context, tokenID string) (quota.TokenUsage, error)
	NamespaceUsage(ctx context.Context, name string) (quota.NamespaceUsage, error)
}

// Config configures the UI.
type Config struct {
	// Store is the raw store; every access goes through
	// store.WithGrants(Store, session grants).
	Store store.Store
	// Verify checks tokens at sign-in and on each request.
	Verify Verifier
	// Quotas, when set, counts every store call of a session against its
	// token's quotas (namespace quotas included) and shows usage on the
	// namespace pages; nil turns that off.
	Quotas Quotas
	// Flows is the flow engine for the flow editor; nil hides flows.
	Flows FlowService
	// Specs lists the block types for the flow editor's palette; nil
	// means blocks.Specs.
	Specs func() []blocks.Spec
	// SecureCookies forces the Secure cookie attribute (behind a TLS
	// proxy); requests over TLS always get it.
	SecureCookies bool
	// SessionTTL is how long an idle session lasts (default 12h). Sessions
	// live in Store (SessionsNamespace), shared by every server over it.
	SessionTTL time.Duration
	// MaxImportBytes bounds an uploaded import file (default 64 MiB).
	MaxImportBytes int64
	// MaxPendingImportBytes bounds the files that dry runs keep until they
	// are applied, over all sessions (default 4 × MaxImportBytes). One
	// session keeps one dry run; one token's sessions together keep at most
	// a quarter of this (never less than MaxImportBytes).
	MaxPendingImportBytes int64
	// Logger receives one line per failure (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// UI serves the web UI. Create it with New; it is safe for concurrent use.
type UI struct {
	cfg      Config
	sessions *sessions
	limiter  *failLimiter
	imports  *importCache
	log      *slog.Logger
	now      func() time.Time
}

// New returns a UI for cfg. Store and Verify are required.
func New(cfg Config) *UI {
	if cfg.Store == nil || cfg.Verify == nil {
		panic("ui: New needs Config.Store and Config.Verify")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxImportBytes <= 0 {
		cfg.MaxImportBytes = 64 << 20
	}
	if cfg.MaxPendingImportBytes < cfg.MaxImportBytes {
		cfg.MaxPendingImportBytes = 4 * cfg.MaxImportBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Specs == nil {
		cfg.Specs = blocks.Specs
	}
	return &UI{
		cfg:      cfg,
		sessions: newSessions(cfg.Store, cfg.SessionTTL),
		limiter:  newFailLimiter(5, 30*time.Second, cfg.Now),
		imports:  newImportCache(cfg.MaxPendingImportBytes, max(cfg.MaxImportBytes, cfg.MaxPendingImportBytes/4), cfg.Now),
		log:      cfg.Logger,
		now:      cfg.Now,
	}
}

// route is one UI route; state-changing ones (POST) check the CSRF token.
type route struct {
	method, path string
	handler      echo.HandlerFunc
	// public routes need no session.
	public bool
}

func (u *UI) routes() []route {
	return []route{
		{http.MethodGet, "/login", u.loginPage, true},
		{http.MethodPost, "/login", u.login, true},
		{http.MethodPost, "/logout", u.logout, false},
		{http.MethodGet, "/", u.home, false},
		{http.MethodGet, "/namespaces", u.namespaces, false},
		{http.MethodGet, "/entries", u.entries, false},
		{http.MethodPost, "/entries/delete", u.bulkDelete, false},
		{http.MethodPost, "/entries/delete-matching", u.deleteMatching, false},
		{http.MethodPost, "/index/create", u.createIndex, false},
		{http.MethodPost, "/index/delete", u.dropIndex, false},
		{http.MethodGet, "/entry", u.entry, false},
		{http.MethodPost, "/entry/save", u.saveEntry, false},
		{http.MethodPost, "/entry/ttl", u.setTTL, false},
		{http.MethodGet, "/entry/delete", u.deleteConfirm, false},
		{http.MethodGet, "/new", u.newEntryPage, false},
		{http.MethodPost, "/new", u.createEntry, false},
		{http.MethodGet, "/export", u.export, false},
		{http.MethodGet, "/import", u.importPage, false},
		{http.MethodPost, "/import", u.importDryRun, false},
		{http.MethodPost, "/import/apply", u.importApply, false},
		{http.MethodGet, "/flows", u.flows, false},
		{http.MethodGet, "/flows/new", u.newFlow, false},
		{http.MethodGet, "/flows/card", u.flowCard, false},
		{http.MethodGet, "/flow", u.flow, false},
		{http.MethodPost, "/flow/save", u.saveFlow, false},
		{http.MethodPost, "/flow/run", u.runFlow, false},
		{http.MethodPost, "/flow/add", u.addBlock, false},
		{http.MethodPost, "/flow/source", u.saveSource, false},
		{http.MethodPost, "/flow/draft", u.draftRun, false},
		{http.MethodGet, "/flow/delete", u.deleteFlowPage, false},
		{http.MethodPost, "/flow/delete", u.deleteFlow, false},
		{http.MethodGet, "/run", u.runPage, false},
	}
}

// StateChangingRoutes lists the UI's POST routes (all check CSRF).
func (u *UI) StateChangingRoutes() []string {
	var out []string
	for _, r := range u.routes() {
		if r.method != http.MethodGet {
			out = append(out, r.path)
		}
	}
	return out
}

// Register mounts the UI's routes and /static/* on e. It adds no
// middleware to e itself: each route carries its own (security headers,
// session, CSRF), so the API's routes are untouched.
func (u *UI) Register(e *echo.Echo) {
	for _, r := range u.routes() {
		mw := []echo.MiddlewareFunc{u.headers}
		switch r.method + " " + r.path {
		case "GET /export":
			// A download as long as the namespace: each write must make
			// progress within the server's write timeout, not the whole file.
			mw = append(mw, web.Streaming)
		case "POST /import":
			// Up to MaxImportBytes: more time than the server's read timeout.
			mw = append(mw, u.uploadDeadline)
		}
		if !r.public {
			mw = append(mw, u.requireSession)
		}
		e.Add(r.method, r.path, r.handler, mw...)
	}
	sub, _ := fs.Sub(static.FS, ".")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	e.GET("/static/*", func(c echo.Context) error {
		r := c.Request()
		// No directory listings.
		if strings.HasSuffix(r.URL.Path, "/") {
			return echo.ErrNotFound
		}
		// One range at most: a multi-range request ("bytes=0-0,0-0,…")
		// would make the answer many times larger than the request (a part
		// header per range); the whole file is served instead.
		if strings.Contains(r.Header.Get("Range"), ",") {
			r.Header.Del("Range")
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(c.Response(), r)
		return nil
	})
}

// uploadTimeout is how long an import upload may take to arrive (64 MiB at
// 256 KiB/s), instead of the server's read timeout.
const uploadTimeout = 5 * time.Minute

// uploadDeadline moves the request's read deadline to uploadTimeout, for a
// signed-in browser only: anyone else keeps the server's read timeout, so
// the longer deadline cannot be used to hold connections open. (It runs
// before requireSession, whose CSRF check reads the form.)
func (u *UI) uploadDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u.sessions.live(c.Request()) {
			// ErrNotSupported outside a real server: nothing to move.
			_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(uploadTimeout))
			// Nor does the server's request timeout cut the import of a
			// large file: its writes are bounded by their progress.
			web.LongResponse(c)
		}
		return next(c)
	}
}

// Handler returns a standalone http.Handler serving only the UI (tests,
// benchmarks, or mounting under a plain mux).
func (u *UI) Handler() http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	u.Register(e)
	return e
}

// headers sets the security headers of every UI page.
func (u *UI) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("Vary", "HX-Request, Cookie")
		return next(c)
	}
}

func (u *UI) home(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/namespaces")
}
