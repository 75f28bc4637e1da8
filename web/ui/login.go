package ui

import (
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

func (u *UI) loginPage(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && u.sessions.get(ck.Value) != nil {
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

// localPath keeps next only when it is a path on this site.
func localPath(next string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") {
		return next
	}
	return ""
}

// clientKey is the rate limiter's key: the connection's address (not a
// forwarded header, which a client could forge).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (u *UI) login(c echo.Context) error {
	r := c.Request()
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
	tok, err := u.cfg.Verify(r.Context(), token)
	if err != nil || token == "" {
		if err == nil || store.CodeOf(err) == store.CodeUnauthenticated || store.CodeOf(err) == store.CodeInvalidArgument {
			u.limiter.fail(key)
			return u.renderLogin(c, http.StatusUnauthorized, "That token is not valid.")
		}
		return u.fail(c, err)
	}
	ss := u.sessions.create(token, grantsLabel(tok.Grants))
	u.setCookie(c, sessionCookie, ss.id, 0)
	u.setCookie(c, loginCookie, "", -1)
	next := localPath(c.FormValue("next"))
	if next == "" {
		next = "/namespaces"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) logout(c echo.Context) error {
	u.sessions.drop(state(c).sess.id)
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
