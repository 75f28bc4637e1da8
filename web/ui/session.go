package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// SessionsNamespace holds the UI's sessions, in the store every server of
// a deployment shares: a session made on one server works on every other,
// survives a restart, and signing out (deleting it) ends it everywhere.
// It is reserved: no token's grants reach it.
const SessionsNamespace = store.ReservedPrefix + "sessions"

// session is a signed-in browser. Only its random id travels in the
// cookie, and only the id's SHA-256 is the record's key (a reader of the
// database cannot take over a session). The record names the token by its
// record key, never its secret, and every request looks the token up
// (tokens.Manager.ByKey, cached), so a revoked token signs its sessions
// out on every server within the token cache's bound.
type session struct {
	id       string // the cookie's value, never stored
	TokenKey string `json:"token"`
	CSRF     string `json:"csrf"`
	Label    string `json:"label"`
}

// sessions keeps sessions in the store with a TTL: an idle session lasts
// ttl; use renews it (a write at most every tenth of ttl, not per request).
type sessions struct {
	st  store.Store
	ttl time.Duration
}

func newSessions(st store.Store, ttl time.Duration) *sessions {
	return &sessions{st: st, ttl: ttl}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionKey is the record key of the session whose cookie value is id.
func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func (s *sessions) create(ctx context.Context, tokenKey, label string) (*session, error) {
	ss := &session{id: randomToken(), TokenKey: tokenKey, CSRF: randomToken(), Label: label}
	data, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Insert(ctx, SessionsNamespace, sessionKey(ss.id), data, store.WriteOptions{TTL: s.ttl}); err != nil {
		return nil, err
	}
	return ss, nil
}

// get returns the live session with cookie value id, nil when there is
// none (never made, expired, signed out); an error only when the store
// fails.
func (s *sessions) get(ctx context.Context, id string) (*session, error) {
	if id == "" || len(id) > 128 {
		return nil, nil
	}
	e, err := s.st.FindNameKey(ctx, SessionsNamespace, sessionKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ss session
	if json.Unmarshal(e.Data, &ss) != nil || ss.TokenKey == "" || ss.CSRF == "" {
		return nil, nil // a damaged record signs nobody in
	}
	ss.id = id
	if e.ExpiresAt != nil && time.Until(*e.ExpiresAt) < s.ttl-s.ttl/10 {
		// Renew an idle timer that has run for a tenth of ttl. Only an
		// existing record at this version is renewed: a sign-out on
		// another server meanwhile wins (not_found or conflict, ignored).
		_, _ = s.st.Update(ctx, SessionsNamespace, e.Key, e.Data, store.WriteOptions{TTL: s.ttl, IfVersion: e.Version})
	}
	return &ss, nil
}

// live reports whether the request carries a live session's cookie
// (store failures count as no).
func (s *sessions) live(r *http.Request) bool {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	ss, err := s.get(r.Context(), ck.Value)
	return err == nil && ss != nil
}

func (s *sessions) drop(ctx context.Context, id string) error {
	_, err := s.st.Delete(ctx, SessionsNamespace, sessionKey(id), store.DeleteOptions{})
	return err
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
			if ss, err = u.sessions.get(r.Context(), ck.Value); err != nil {
				return u.fail(c, err)
			}
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
			if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(ss.CSRF)) != 1 {
				return u.forbidden(c, "Missing or invalid CSRF token: reload the page and try again.")
			}
		}
		tok, err := u.cfg.Verify.ByKey(r.Context(), ss.TokenKey)
		if err != nil {
			if store.CodeOf(err) == store.CodeUnauthenticated {
				_ = u.sessions.drop(r.Context(), ss.id) // gone already is fine
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
