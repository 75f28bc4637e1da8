package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
	"github.com/flowkv/flowkv/web"
)

// render writes comp as the response with status.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page returns the Page of a signed-in request.
func (u *UI) page(c echo.Context, title, nav string) templates.Page {
	p := templates.Page{Title: title, Nav: nav}
	if s := state(c); s != nil {
		p.CSRF = s.sess.CSRF
		p.Who = s.sess.Label
	}
	if msg := flashText(c.QueryParam("done")); msg != "" {
		p.Flash = msg
	}
	return p
}

// flashText maps the fixed ?done= codes of redirects to messages, so no
// user-controlled text is reflected from the URL.
func flashText(code string) string {
	switch code {
	case "saved":
		return "Saved."
	case "created":
		return "Entry created."
	case "deleted":
		return "Deleted."
	case "ttl":
		return "Expiry updated."
	case "imported":
		return "Import written."
	case "flow-saved":
		return "Flow saved."
	case "flow-deleted":
		return "Flow deleted."
	case "signed-out":
		return "Signed out."
	case "index-created":
		return "Index created."
	case "index-deleted":
		return "Index deleted."
	}
	if n, ok := strings.CutPrefix(code, "deleted-"); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return "Deleted " + n + " matching entries."
		}
	}
	return ""
}

// statusOf is the HTTP status of err: the API's mapping (docs/design.md), so a
// page and the API answer the same error with the same status.
func statusOf(err error) int {
	return web.StatusOf(store.CodeOf(err))
}

// fail renders err as an error page with the status of its code; the
// message is store.Message (never SQL or internals).
func (u *UI) fail(c echo.Context, err error) error {
	status := statusOf(err)
	if status >= 500 {
		u.log.Error("ui request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
		err = store.Errorf(store.CodeTooLarge, "the upload is larger than %d bytes", mbe.Limit)
	}
	return render(c, status, templates.ErrorPage(u.page(c, "Error", ""), status, store.Message(err)))
}

func (u *UI) forbidden(c echo.Context, msg string) error {
	return render(c, http.StatusForbidden, templates.ErrorPage(u.page(c, "Forbidden", ""), http.StatusForbidden, msg))
}

func (u *UI) badRequest(c echo.Context, msg string) error {
	return render(c, http.StatusBadRequest, templates.ErrorPage(u.page(c, "Bad request", ""), http.StatusBadRequest, msg))
}

func prettyJSON(data json.RawMessage) string { return templates.PrettyJSON(data) }

// isPartial reports whether htmx asked for a fragment (not a history
// restore, which needs the whole page).
func isPartial(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-History-Restore-Request") != "true"
}
