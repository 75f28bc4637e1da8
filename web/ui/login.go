package ui

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

func (u *UI) loginPage(c echo.Context) error {
	if u.sessions.live(c.Request()) {
		return c.Redirect(http.StatusSeeOther, "/namespaces")
	}
	return u.renderLogin(c, http.StatusOK, "")
}

func (u *UI) renderLogin(c echo.Context, status int, msg string) error {
	tok := randomToken()
	u.setCookie(c, loginCookie, tok, 3600)
	p := templates.Page{Title: "Sign in", Flash: flashText(c.QueryParam("done"))}
	return render(c, status, templates.Login(p, templates.LoginView{CSRF: tok, Error: msg, Next: localPath(c.FormValue("next"))}))
}

// maxNext bounds the next parameter: every page of the UI has a shorter
// address, and the sign-in page repeats it in its form.
const maxNext = 2048

// localPath returns next when it is a path on this site, else "". Only a
// plain absolute path ("/entries?name=orders") passes: browsers drop tabs
// and newlines from addresses and read "\" as "/", so "/\t/evil.example",
// "/\evil.example" and "//evil.example" all leave the site; they, and
// anything with a scheme, host, control character, space, backslash or
// non-ASCII byte, or whose decoded path starts with "//", are refused.
func localPath(next string) string {
	if len(next) == 0 || len(next) > maxNext || next[0] != '/' {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == '\\' || c >= 0x7f {
			return ""
		}
	}
	if len(next) > 1 && next[1] == '/' {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	// Decoded, the path must not read as another site either (a proxy or
	// a later redirect may decode it): no "//" start, no control
	// characters, no backslashes.
	if strings.HasPrefix(u.Path, "//") || strings.ContainsFunc(u.Path, func(r rune) bool { return r < ' ' || r == '\\' || r == 0x7f }) {
		return ""
	}
	return next
}

// clientKey is the rate limiter's key: the connection's address (not a
// forwarded header, which a client could forge). An IPv6 client is keyed by
// its /64, the smallest block a subscriber is usually given: one host can
// use every address in it, so keying by address would give it 2^64 buckets.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// maxLoginBody bounds the sign-in form (a token of at most 1 KiB, the CSRF
// token and next): the route is public, so nothing larger is read, parsed
// or spooled to disk.
const maxLoginBody = 16 << 10

func (u *UI) login(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLoginBody)
	if !sameOrigin(r) {
		return u.forbidden(c, "Cross-origin request refused.")
	}
	ck, err := r.Cookie(loginCookie)
	sent := c.FormValue(csrfField)
	if err != nil || sent == "" || !equalSecret(sent, ck.Value) {
		return u.forbidden(c, "Missing or invalid CSRF token: reload the sign-in page and try again.")
	}
	key := clientKey(r)
	if blocked, wait := u.limiter.blocked(key); blocked {
		c.Response().Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		return u.renderLogin(c, http.StatusTooManyRequests, "Too many failed sign-ins. Wait "+itoa(int(wait.Seconds())+1)+" seconds and try again.")
	}
	token := strings.TrimSpace(c.FormValue("token"))
	tok, err := u.cfg.Verify.Verify(r.Context(), token)
	if err != nil || token == "" {
		if err == nil || store.CodeOf(err) == store.CodeUnauthenticated || store.CodeOf(err) == store.CodeInvalidArgument {
			u.limiter.fail(key)
			return u.renderLogin(c, http.StatusUnauthorized, "That token is not valid.")
		}
		return u.fail(c, err)
	}
	ss, err := u.sessions.create(r.Context(), tok.Key, grantsLabel(tok.Grants))
	if err != nil {
		return u.fail(c, err)
	}
	u.setCookie(c, sessionCookie, ss.id, 0)
	u.setCookie(c, loginCookie, "", -1)
	// After sign-in only a path on this site is followed; anything else
	// goes to "/" (and no next at all to the namespaces).
	next := "/namespaces"
	if raw := c.FormValue("next"); raw != "" {
		if next = localPath(raw); next == "" {
			next = "/"
		}
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) logout(c echo.Context) error {
	if err := u.sessions.drop(c.Request().Context(), state(c).sess.id); err != nil {
		return u.fail(c, err) // not signed out: say so rather than pretend
	}
	u.setCookie(c, sessionCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, "/login?done=signed-out")
}

// grantsLabel describes grants in the top bar ("all namespaces: write").
func grantsLabel(g store.Grants) string {
	if a := g[store.Wildcard]; a > store.NoAccess {
		return "all namespaces: " + a.String()
	}
	return truncate(strings.Join(g.Strings(), ", "), 60)
}
