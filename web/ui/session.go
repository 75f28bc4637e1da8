package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

const (
	sessionCookie = "flowkv_session"
	// loginCookie carries the sign-in form's CSRF token before a session
	// exists (double submit).
	loginCookie = "flowkv_login"
	csrfField   = "_csrf"
	csrfHeader  = "X-CSRF-Token"
)

// session is a signed-in browser. Only its random id travels in the
// cookie; the token stays in server memory so every request re-verifies it
// (a revoked token signs its sessions out at once).
type session struct {
	id      string
	token   string
	csrf    string
	label   string
	expires time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(token, label string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Drop expired sessions while here, so the map cannot grow forever.
	for id, x := range s.m {
		if now.After(x.expires) {
			delete(s.m, id)
		}
	}
	ss := &session{id: randomToken(), token: token, csrf: randomToken(), label: label, expires: now.Add(s.ttl)}
	s.m[ss.id] = ss
	return ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	now := s.now()
	if now.After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	ss.expires = now.Add(s.ttl)
	cp := *ss
	return &cp
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// reqState is what requireSession puts on the echo context.
type reqState struct {
	sess   *session
	tok    tokens.Token
	grants store.Grants
	st     store.Store
}

const stateKey = "flowkv.ui.state"

func state(c echo.Context) *reqState {
	s, _ := c.Get(stateKey).(*reqState)
	return s
}

func (u *UI) secure(c echo.Context) bool {
	return u.cfg.SecureCookies || c.Request().TLS != nil
}

func (u *UI) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.secure(c),
	})
}

// requireSession loads the session and its grants. A GET without one goes
// to /login; any other method is refused with 403. Non-GET requests must
// also carry the session's CSRF token (form field _csrf or header
// X-CSRF-Token) and, when the browser sends one, a same-origin Origin.
func (u *UI) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		var ss *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			ss = u.sessions.get(ck.Value)
		}
		if ss == nil {
			if safe {
				// Come back here after sign-in, unless the address is too
				// long to carry (localPath would refuse it anyway).
				to := "/login"
				if uri := r.URL.RequestURI(); len(uri) <= maxNext {
					to += "?next=" + url.QueryEscape(uri)
				}
				return toLogin(c, to)
			}
			return u.forbidden(c, "Your session has ended: sign in again.")
		}
		if !safe {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, u.cfg.MaxImportBytes+1<<20)
			if !sameOrigin(r) {
				return u.forbidden(c, "Cross-origin request refused.")
			}
			sent := r.Header.Get(csrfHeader)
			if sent == "" {
				sent = c.FormValue(csrfField)
			}
			if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(ss.csrf)) != 1 {
				return u.forbidden(c, "Missing or invalid CSRF token: reload the page and try again.")
			}
		}
		tok, err := u.cfg.Verify(r.Context(), ss.token)
		if err != nil {
			if store.CodeOf(err) == store.CodeUnauthenticated {
				u.sessions.drop(ss.id)
				u.setCookie(c, sessionCookie, "", -1)
				if safe {
					return toLogin(c, "/login")
				}
				return u.forbidden(c, "Your token is no longer valid: sign in again.")
			}
			return u.fail(c, err)
		}
		st := store.WithGrants(u.cfg.Store, tok.Grants)
		if u.cfg.Quotas != nil {
			st = u.cfg.Quotas.ForToken(st, tok.ID)
		}
		c.Set(stateKey, &reqState{sess: ss, tok: tok, grants: tok.Grants, st: st})
		return next(c)
	}
}

// toLogin sends a signed-out browser to the sign-in page. For an htmx
// fragment request it redirects the whole window (HX-Redirect) instead of
// swapping the sign-in page into the fragment.
func toLogin(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// sameOrigin rejects requests whose Origin header names another site.
// Browsers send Origin on every cross-site POST; its absence (old clients,
// same-origin navigations in some browsers) is left to the CSRF token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	ou, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(ou.Host, r.Host)
}

// failLimiter limits failed sign-ins per client address: a bucket of
// burst attempts refilled one per every interval.
type failLimiter struct {
	mu       sync.Mutex
	burst    float64
	interval time.Duration
	now      func() time.Time
	m        map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newFailLimiter(burst int, interval time.Duration, now func() time.Time) *failLimiter {
	return &failLimiter{burst: float64(burst), interval: interval, now: now, m: map[string]*bucket{}}
}

// maxLimiterKeys bounds the failLimiter's memory (a variable for tests).
var maxLimiterKeys = 10000

func (l *failLimiter) refill(key string) *bucket {
	now := l.now()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxLimiterKeys {
			l.forget(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	b.tokens += float64(now.Sub(b.at)) / float64(l.interval)
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.at = now
	return b
}

// forget drops the buckets that have refilled by now (they hold no
// information); if failures from more than maxLimiterKeys clients are still
// pending, it drops them all rather than grow: memory stays bounded, and a
// client that sprays that many addresses gets burst attempts from each of
// them anyway.
func (l *failLimiter) forget(now time.Time) {
	for k, x := range l.m {
		if x.tokens+float64(now.Sub(x.at))/float64(l.interval) >= l.burst {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxLimiterKeys {
		clear(l.m)
	}
}

// blocked reports whether key has no attempts left, and how long until it
// gets one.
func (l *failLimiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) * float64(l.interval))
}

// fail records a failed attempt by key.
func (l *failLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens--
	if b.tokens < 0 {
		b.tokens = 0
	}
}
