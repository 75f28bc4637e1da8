package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

// entryView builds the entry page's model from e.
func (u *UI) entryView(c echo.Context, e store.Entry) templates.EntryView {
	s := state(c)
	now := u.now()
	pretty := prettyJSON(e.Data)
	v := templates.EntryView{
		Name: e.Name, Key: shownKey(e.Key), Version: e.Version, FlowUUID: e.FlowUUID,
		Created: e.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		Updated: e.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		Pretty:  pretty, Tokens: templates.HighlightJSON(pretty), Size: len(e.Data),
		CanWrite: s.grants.Level(e.Name) >= store.Write, CSRF: s.sess.CSRF,
		BackURL:  "/entries?name=" + url.QueryEscape(e.Name),
		EditData: pretty, TTLUnit: "never",
	}
	if w, ok := denokv.UnwrapData(e.Data); ok {
		v.DenoType, v.DenoText = w.Type, w.Text
	}
	if e.ExpiresAt != nil {
		v.ExpiresAt = e.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC")
		v.ExpiresIn = expiresIn(e.ExpiresAt, now)
		v.TTLUnit, v.TTLValue = "seconds", strconv.Itoa(int(e.ExpiresAt.Sub(now).Seconds()))
	}
	return v
}

func (u *UI) entry(c echo.Context) error {
	s := state(c)
	e, err := s.st.FindNameKey(c.Request().Context(), c.QueryParam("name"), keyOf(c.QueryParam("key")))
	if err != nil {
		return u.fail(c, err)
	}
	return render(c, http.StatusOK, templates.Entry(u.page(c, shownKey(e.Key), "namespaces"), u.entryView(c, e)))
}

func formVersion(c echo.Context) int64 {
	v, _ := strconv.ParseInt(c.FormValue("version"), 10, 64)
	return v
}

// saveEntry writes edited data if the entry is still at the version the
// edit started from; otherwise it shows both versions (nothing is
// overwritten). The entry keeps its expiry.
func (u *UI) saveEntry(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	name, key, base := c.FormValue("name"), keyOf(c.FormValue("key")), formVersion(c)
	if err := s.grants.Allow(name, store.Write); err != nil {
		return u.fail(c, err)
	}
	text := c.FormValue("data")
	cur, err := s.st.FindNameKey(ctx, name, key)
	if err != nil && store.CodeOf(err) != store.CodeNotFound {
		return u.fail(c, err)
	}
	if err != nil {
		return u.gone(c, name, key, text, base)
	}
	if msg := jsonProblem([]byte(text)); msg != "" {
		v := u.entryView(c, cur)
		v.EditData, v.EditError = text, "Invalid JSON, not saved: "+msg
		return render(c, http.StatusUnprocessableEntity, templates.Entry(u.page(c, key, "namespaces"), v))
	}
	if cur.Version != base {
		return u.conflict(c, cur, text, base, &cur)
	}
	var ttl time.Duration
	if cur.ExpiresAt != nil {
		ttl = cur.ExpiresAt.Sub(u.now())
		if ttl <= 0 {
			ttl = time.Millisecond
		}
	}
	_, err = s.st.Update(ctx, name, key, json.RawMessage(text), store.WriteOptions{TTL: ttl, IfVersion: base})
	switch store.CodeOf(err) {
	case "":
		return c.Redirect(http.StatusSeeOther, entryURL(name, key)+"&done=saved")
	case store.CodeConflict, store.CodeNotFound:
		now, ferr := s.st.FindNameKey(ctx, name, key)
		if ferr != nil {
			return u.gone(c, name, key, text, base)
		}
		return u.conflict(c, now, text, base, &now)
	case store.CodeInvalidArgument, store.CodeTooLarge, store.CodeResourceExhausted:
		v := u.entryView(c, cur)
		v.EditData, v.EditError = text, "Not saved: "+store.Message(err)
		return render(c, statusOf(err), templates.Entry(u.page(c, key, "namespaces"), v))
	default:
		return u.fail(c, err)
	}
}

// gone answers a save of an entry that expired or was deleted while it
// was edited: the new-entry form, filled with the edited data, offers to
// re-create it (an insert: it fails if someone re-created it meanwhile).
// Status 409.
func (u *UI) gone(c echo.Context, name, key, text string, base int64) error {
	v := templates.NewEntryView{
		Name: name, Key: shownKey(key), Data: text, TTLUnit: "never", CSRF: state(c).sess.CSRF,
		Namespaces: u.writableNames(c), Gone: true, GoneVersion: base,
	}
	return render(c, http.StatusConflict, templates.NewEntry(u.page(c, "Re-create "+shownKey(key), "namespaces"), v))
}

// conflict renders the entry page (the current entry, or base when it was
// deleted) with the conflict panel; status 409.
func (u *UI) conflict(c echo.Context, shown store.Entry, yours string, base int64, theirs *store.Entry) error {
	if shown.Data == nil {
		shown.Data = json.RawMessage("null")
	}
	v := u.entryView(c, shown)
	cv := &templates.ConflictView{Yours: yours, YourBase: base, Deleted: theirs == nil}
	if theirs != nil {
		cv.Theirs = templates.HighlightJSON(prettyJSON(theirs.Data))
		cv.TheirsVersion = theirs.Version
	} else {
		v.CanWrite = false
	}
	v.Conflict = cv
	v.EditData = yours
	return render(c, http.StatusConflict, templates.Entry(u.page(c, shownKey(shown.Key), "namespaces"), v))
}

// ttlOf reads the timeoutUnit + timeoutValue form fields.
func ttlOf(c echo.Context) (time.Duration, error) {
	unit := c.FormValue("timeoutUnit")
	if unit == "" || unit == "never" {
		return 0, nil
	}
	val, err := strconv.ParseFloat(strings.TrimSpace(c.FormValue("timeoutValue")), 64)
	if err != nil {
		return 0, store.Errorf(store.CodeInvalidArgument, "TTL value must be a positive number")
	}
	return store.TimeoutTTL(unit, val)
}

func (u *UI) setTTL(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	name, key, base := c.FormValue("name"), keyOf(c.FormValue("key")), formVersion(c)
	if err := s.grants.Allow(name, store.Write); err != nil {
		return u.fail(c, err)
	}
	cur, err := s.st.FindNameKey(ctx, name, key)
	if err != nil {
		return u.fail(c, err)
	}
	ttl, err := ttlOf(c)
	if err != nil {
		v := u.entryView(c, cur)
		v.TTLError = store.Message(err)
		return render(c, http.StatusBadRequest, templates.Entry(u.page(c, key, "namespaces"), v))
	}
	if cur.Version != base {
		return u.conflict(c, cur, prettyJSON(cur.Data), base, &cur)
	}
	_, err = s.st.Update(ctx, name, key, cur.Data, store.WriteOptions{TTL: ttl, IfVersion: base})
	if store.CodeOf(err) == store.CodeConflict {
		now, ferr := s.st.FindNameKey(ctx, name, key)
		if ferr != nil {
			return u.fail(c, ferr)
		}
		return u.conflict(c, now, prettyJSON(cur.Data), base, &now)
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, entryURL(name, key)+"&done=ttl")
}

func (u *UI) deleteConfirm(c echo.Context) error {
	s := state(c)
	name, key := c.QueryParam("name"), keyOf(c.QueryParam("key"))
	if err := s.grants.Allow(name, store.Write); err != nil {
		return u.fail(c, err)
	}
	v := templates.DeleteView{Name: name, Keys: []string{shownKey(key)}, Version: formVersion(c), CSRF: s.sess.CSRF, BackURL: entryURL(name, key)}
	return render(c, http.StatusOK, templates.DeleteConfirm(u.page(c, "Delete", "namespaces"), v))
}

// bulkDelete deletes the posted keys of one namespace once confirmed;
// unconfirmed, it renders the confirmation (changing nothing).
func (u *UI) bulkDelete(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return u.badRequest(c, "The form could not be read.")
	}
	name := form.Get("name")
	shown := form["key"]
	keys := make([]string, len(shown))
	for i, k := range shown {
		keys[i] = keyOf(k)
	}
	back := "/entries?name=" + url.QueryEscape(name)
	if err := s.grants.Allow(name, store.Write); err != nil {
		return u.fail(c, err)
	}
	if len(keys) == 0 {
		return c.Redirect(http.StatusSeeOther, back)
	}
	version := formVersion(c)
	if form.Get("confirm") != "yes" {
		v := templates.DeleteView{Name: name, Keys: shown, CSRF: s.sess.CSRF, BackURL: back}
		return render(c, http.StatusOK, templates.DeleteConfirm(u.page(c, "Delete", "namespaces"), v))
	}
	for _, k := range keys {
		opts := store.DeleteOptions{}
		if len(keys) == 1 {
			opts.IfVersion = version
		}
		if _, err := s.st.Delete(ctx, name, k, opts); err != nil {
			if store.CodeOf(err) == store.CodeConflict {
				cur, ferr := s.st.FindNameKey(ctx, name, k)
				if ferr == nil {
					return u.conflict(c, cur, prettyJSON(cur.Data), version, &cur)
				}
			}
			return u.fail(c, err)
		}
	}
	return c.Redirect(http.StatusSeeOther, back+"&done=deleted")
}

func (u *UI) newEntryPage(c echo.Context) error {
	s := state(c)
	v := templates.NewEntryView{Name: c.QueryParam("name"), Data: "{\n  \n}", TTLUnit: "never", CSRF: s.sess.CSRF}
	v.Namespaces = u.writableNames(c)
	return render(c, http.StatusOK, templates.NewEntry(u.page(c, "New entry", "namespaces"), v))
}

// writableNames lists namespaces the session may write, for suggestions.
func (u *UI) writableNames(c echo.Context) []string {
	s := state(c)
	var out []string
	if names, err := s.st.Names(c.Request().Context()); err == nil {
		for _, n := range names {
			if s.grants.Level(n.Name) >= store.Write {
				out = append(out, n.Name)
			}
		}
	}
	for _, n := range s.grants.Names() {
		if s.grants.Level(n) >= store.Write && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (u *UI) createEntry(c echo.Context) error {
	s := state(c)
	v := templates.NewEntryView{
		Name: strings.TrimSpace(c.FormValue("name")), Key: c.FormValue("key"), Data: c.FormValue("data"),
		TTLUnit: c.FormValue("timeoutUnit"), TTLValue: c.FormValue("timeoutValue"), CSRF: s.sess.CSRF,
	}
	again := func(status int, msg string) error {
		v.Error = msg
		v.Namespaces = u.writableNames(c)
		return render(c, status, templates.NewEntry(u.page(c, "New entry", "namespaces"), v))
	}
	if msg := jsonProblem([]byte(v.Data)); msg != "" {
		return again(http.StatusUnprocessableEntity, "Invalid JSON, not created: "+msg)
	}
	ttl, err := ttlOf(c)
	if err != nil {
		return again(http.StatusBadRequest, store.Message(err))
	}
	e, err := s.st.Insert(c.Request().Context(), v.Name, keyOf(v.Key), json.RawMessage(v.Data), store.WriteOptions{TTL: ttl})
	if err != nil {
		if store.CodeOf(err) == store.CodeUnavailable || store.CodeOf(err) == store.CodeTimeout {
			return u.fail(c, err)
		}
		return again(statusOf(err), store.Message(err))
	}
	return c.Redirect(http.StatusSeeOther, entryURL(e.Name, e.Key)+"&done=created")
}
