package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

// maxDeleteMatching bounds the entries one "delete all matching" counts
// and deletes; a larger set takes another confirmation.
const maxDeleteMatching = 100_000

// formSearch is the search a form carries as hidden q.* inputs (the bulk
// form and the delete confirmation).
func formSearch(form url.Values) search {
	q := search{
		Name:   form.Get("name"),
		Prefix: form.Get("q.prefix"),
		Data:   strings.TrimSpace(form.Get("q.data")),
		Flow:   strings.TrimSpace(form.Get("q.flowUuid")),
		Match:  form.Get("q.match"),
		Order:  strings.TrimSpace(form.Get("q.order")),
	}
	q.Conds = filterRows(form["q.f"], form["q.op"], form["q.v"])
	return q
}

// matching pages through the filter's matches (keys only), calling fn for
// each page, up to limit entries; it reports whether it stopped early.
func matching(c echo.Context, st store.Store, q search, limit int, fn func([]store.Entry) error) (more bool, err error) {
	sq, err := q.storeQuery()
	if err != nil {
		return false, err
	}
	sq.Limit = st.Limits().MaxListLimit
	seen := 0
	for {
		p, err := st.Query(c.Request().Context(), sq)
		if err != nil {
			return false, err
		}
		if seen+len(p.Entries) > limit {
			p.Entries = p.Entries[:limit-seen]
			more = true
		}
		seen += len(p.Entries)
		if err := fn(p.Entries); err != nil {
			return false, err
		}
		if more || p.NextCursor == "" || p.NextCursor == sq.Cursor {
			return more, nil
		}
		sq.Cursor = p.NextCursor
	}
}

// deleteMatching deletes every entry a filter matches: first a
// confirmation stating how many match, then the deletion (of those that
// match when confirmed).
func (u *UI) deleteMatching(c echo.Context) error {
	s := state(c)
	form, err := c.FormParams()
	if err != nil {
		return u.badRequest(c, "The form could not be read.")
	}
	q := formSearch(form)
	back := q.url("/entries", "", 1)
	if err := s.grants.Allow(q.Name, store.Write); err != nil {
		return u.fail(c, err)
	}
	if !q.filtering() {
		return u.badRequest(c, "Delete all matching needs a filter (a condition or an order).")
	}
	if form.Get("confirm") != "yes" {
		var n int64
		more, err := matching(c, s.st, q, maxDeleteMatching, func(es []store.Entry) error { n += int64(len(es)); return nil })
		if err != nil {
			return u.fail(c, err)
		}
		v := templates.DeleteMatchingView{Name: q.Name, Count: n, AtLeast: more, CSRF: s.sess.CSRF, BackURL: back}
		for _, r := range q.Conds {
			v.Summary = append(v.Summary, r.Field+" "+r.Op+" "+r.Value)
		}
		if q.Prefix != "" {
			v.Summary = append(v.Summary, "$key startsWith "+q.Prefix)
		}
		if q.Flow != "" {
			v.Summary = append(v.Summary, "$flowUuid eq "+q.Flow)
		}
		if q.Match == string(store.MatchAny) && len(v.Summary) > 1 {
			v.Summary = append([]string{"any of:"}, v.Summary...)
		}
		for k, vals := range q.values() {
			for _, val := range vals {
				v.Query = append(v.Query, templates.QueryParam{Name: k, Value: val})
			}
		}
		return render(c, http.StatusOK, templates.DeleteMatchingConfirm(u.page(c, "Delete matching", "namespaces"), v))
	}
	ctx := c.Request().Context()
	deleted := 0
	_, err = matching(c, s.st, q, maxDeleteMatching, func(es []store.Entry) error {
		for _, e := range es {
			ok, err := s.st.Delete(ctx, e.Name, e.Key, store.DeleteOptions{})
			if err != nil {
				return err
			}
			if ok {
				deleted++
			}
		}
		return nil
	})
	if err != nil {
		return u.fail(c, fmt.Errorf("after deleting %d entries: %w", deleted, err))
	}
	return c.Redirect(http.StatusSeeOther, back+"&done=deleted-"+strconv.Itoa(deleted))
}

// createIndex declares an index on a field of the namespace.
func (u *UI) createIndex(c echo.Context) error {
	return u.indexChange(c, func(st store.Store, name, field string) error {
		_, err := st.CreateIndex(c.Request().Context(), name, field)
		return err
	}, "index-created")
}

// dropIndex removes a declared index.
func (u *UI) dropIndex(c echo.Context) error {
	return u.indexChange(c, func(st store.Store, name, field string) error {
		_, err := st.DropIndex(c.Request().Context(), name, field)
		return err
	}, "index-deleted")
}

func (u *UI) indexChange(c echo.Context, op func(st store.Store, name, field string) error, done string) error {
	s := state(c)
	name, field := c.FormValue("name"), strings.TrimSpace(c.FormValue("field"))
	if err := s.grants.Allow(name, store.Write); err != nil {
		return u.fail(c, err)
	}
	if err := op(s.st, name, field); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/entries?"+url.Values{"name": {name}, "done": {done}}.Encode()+"#indexes")
}
