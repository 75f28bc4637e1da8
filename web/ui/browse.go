package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

// PageSize is how many entries one page of the entries table shows.
const PageSize = 50

func (u *UI) namespaces(c echo.Context) error {
	s := state(c)
	names, err := s.st.Names(c.Request().Context())
	listErr := ""
	if err != nil {
		if store.CodeOf(err) != store.CodeResourceExhausted {
			return u.fail(c, err)
		}
		// Past the monthly quota the page still shows the usage.
		listErr, names = store.Message(err), nil
	}
	// Namespaces granted by name but still empty are listed too.
	seen := map[string]bool{}
	for _, n := range names {
		seen[n.Name] = true
	}
	for _, n := range s.grants.Names() {
		if !seen[n] {
			names = append(names, store.NameCount{Name: n})
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name < names[j].Name })
	filter := strings.TrimSpace(c.QueryParam("q"))
	v := templates.NamespacesView{Filter: filter, Total: len(names), CanCreate: canWriteSome(s.grants), Error: listErr}
	if v.Usage, err = u.usage(c); err != nil {
		return u.fail(c, err)
	}
	lf := strings.ToLower(filter)
	for _, n := range names {
		if lf != "" && !strings.Contains(strings.ToLower(n.Name), lf) {
			continue
		}
		v.Rows = append(v.Rows, templates.NamespaceRow{
			Name: n.Name, Count: n.Count, Access: s.grants.Level(n.Name).String(),
			URL: "/entries?name=" + url.QueryEscape(n.Name),
		})
	}
	status := http.StatusOK
	if listErr != "" {
		status = http.StatusTooManyRequests
	}
	if isPartial(c) {
		return render(c, status, templates.NamespaceList(v))
	}
	return render(c, status, templates.Namespaces(u.page(c, "Namespaces", "namespaces"), v))
}

// usage is the session token's usage, nil when quotas are off.
func (u *UI) usage(c echo.Context) (*templates.UsageView, error) {
	if u.cfg.Quotas == nil {
		return nil, nil
	}
	tu, err := u.cfg.Quotas.TokenUsage(c.Request().Context(), state(c).tok.ID)
	if err != nil {
		return nil, err
	}
	return &templates.UsageView{
		Month: tu.Month, Ops: tu.Ops, OpsPerMonth: tu.OpsPerMonth, ResetsAt: tu.ResetsAt.Format(time.RFC3339),
		ScriptRuns: tu.ScriptRuns, MaxScriptRuns: tu.MaxScriptRuns,
	}, nil
}

// quotaView is namespace name's quota and usage, nil when it has none.
func (u *UI) quotaView(c echo.Context, name string) (*templates.QuotaView, error) {
	if u.cfg.Quotas == nil {
		return nil, nil
	}
	nu, err := u.cfg.Quotas.NamespaceUsage(c.Request().Context(), name)
	if err != nil || nu.Quota == nil {
		return nil, err
	}
	return &templates.QuotaView{Entries: nu.Entries, MaxEntries: nu.Quota.Entries, Bytes: nu.Bytes, MaxBytes: nu.Quota.Bytes}, nil
}

func canWriteSome(g store.Grants) bool {
	for n, a := range g {
		if a >= store.Write && !store.IsReserved(n) {
			return true
		}
	}
	return false
}

// search is the entries page's query, as it appears in the URL.
type search struct {
	Name, Prefix, Data, Flow string
}

func searchOf(c echo.Context) search {
	return search{
		Name:   c.QueryParam("name"),
		Prefix: c.QueryParam("prefix"),
		Data:   strings.TrimSpace(c.QueryParam("data")),
		Flow:   strings.TrimSpace(c.QueryParam("flowUuid")),
	}
}

func (q search) values() url.Values {
	v := url.Values{}
	v.Set("name", q.Name)
	if q.Prefix != "" {
		v.Set("prefix", q.Prefix)
	}
	if q.Data != "" {
		v.Set("data", q.Data)
	}
	if q.Flow != "" {
		v.Set("flowUuid", q.Flow)
	}
	return v
}

func (q search) url(path, cursor string, page int) string {
	v := q.values()
	if cursor != "" {
		v.Set("cursor", cursor)
		v.Set("page", strconv.Itoa(page))
	}
	return path + "?" + v.Encode()
}

func entryURL(name, key string) string {
	return "/entry?" + url.Values{"name": {name}, "key": {shownKey(key)}}.Encode()
}

// rowPreview is the data column of an entry row: a Deno KV value with no
// JSON form shows as its type and text.
func rowPreview(data []byte) string {
	if w, ok := denokv.UnwrapData(data); ok {
		return "Deno KV " + w.Type + ": " + w.Text
	}
	return preview(data, 160)
}

// shownKey is a key as pages show it and send it back: a Deno KV key as
// its JSON array (["users","1"]), a flat key as it is. Handlers read keys
// with keyOf, which inverts it.
func shownKey(key string) string {
	if j, ok := store.JSONKeyOf(key); ok {
		return j
	}
	return key
}

// keyOf reads a key from a page or a person: a JSON array of Deno KV
// parts names the Deno KV key (store.ResolveKey).
func keyOf(s string) string { return store.ResolveKey(s) }

// prefixOf reads a key prefix: a JSON array of Deno KV parts is the prefix
// of the Deno KV keys that start with those parts.
func prefixOf(s string) string {
	if !store.LooksLikeJSONKey(s) {
		return s
	}
	parts, err := store.ParseJSONKey(s)
	if err != nil {
		return s
	}
	b, err := store.PackTuple(parts)
	if err != nil {
		return s
	}
	return store.TupleKey(b)
}

func (u *UI) entries(c echo.Context) error {
	s := state(c)
	q := searchOf(c)
	if q.Name == "" {
		return c.Redirect(http.StatusSeeOther, "/namespaces")
	}
	page, _ := strconv.Atoi(c.QueryParam("page"))
	if page < 1 {
		page = 1
	}
	cursor := c.QueryParam("cursor")
	v := templates.EntriesView{
		Name: q.Name, Prefix: q.Prefix, Data: q.Data, Flow: q.Flow, Page: page,
		FirstURL:  q.url("/entries", "", 1),
		ExportURL: q.url("/export", "", 1),
		NewURL:    "/new?name=" + url.QueryEscape(q.Name),
		ImportURL: "/import?name=" + url.QueryEscape(q.Name),
		CanWrite:  s.grants.Level(q.Name) >= store.Write,
		CSRF:      s.sess.csrf,
	}
	if err := s.grants.Allow(q.Name, store.Read); err != nil {
		return u.fail(c, err)
	}
	qv, err := u.quotaView(c, q.Name)
	if err != nil {
		return u.fail(c, err)
	}
	v.Quota = qv
	pg, dataErr, err := u.query(c, s.st, q, cursor, PageSize)
	v.DataError = dataErr
	if err != nil {
		if store.CodeOf(err) != store.CodeInvalidArgument {
			return u.fail(c, err)
		}
		v.Error = store.Message(err)
	}
	now := u.now()
	for _, e := range pg.Entries {
		v.Rows = append(v.Rows, templates.EntryRow{
			Key: shownKey(e.Key), URL: entryURL(e.Name, e.Key), Preview: rowPreview(e.Data),
			Version: e.Version, ExpiresIn: expiresIn(e.ExpiresAt, now),
			Updated: ago(e.UpdatedAt, now), UpdatedAt: e.UpdatedAt.UTC(), FlowUUID: e.FlowUUID,
		})
	}
	if pg.NextCursor != "" {
		v.NextURL = q.url("/entries", pg.NextCursor, page+1)
	}
	if isPartial(c) {
		return render(c, http.StatusOK, templates.EntriesResults(v))
	}
	return render(c, http.StatusOK, templates.Entries(u.page(c, q.Name, "namespaces"), v))
}

// query runs a search: a key-prefix scan (List) when only the prefix is
// set, else a filtered Fetch. dataErr explains a data filter that is not
// JSON yet (while typing); then nothing matches.
func (u *UI) query(c echo.Context, st store.Store, q search, cursor string, limit int) (pg store.Page, dataErr string, err error) {
	ctx := c.Request().Context()
	if q.Data == "" && q.Flow == "" {
		pg, err = st.List(ctx, q.Name, prefixOf(q.Prefix), cursor, limit)
		return pg, "", err
	}
	fq := store.FetchQuery{Name: q.Name, KeyPrefix: prefixOf(q.Prefix), FlowUUID: q.Flow, Limit: limit, Cursor: cursor}
	if q.Data != "" {
		if msg := jsonProblem([]byte(q.Data)); msg != "" {
			return store.Page{}, "Data search needs a complete JSON value: " + msg, nil
		}
		fq.Data = json.RawMessage(q.Data)
	}
	pg, err = st.Fetch(ctx, fq)
	return pg, "", err
}

// preview is data shortened to about n bytes on a rune boundary.
func preview(data json.RawMessage, n int) string {
	return truncate(string(data), n)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func expiresIn(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return humanDuration(t.Sub(now))
}

func ago(t time.Time, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	if d < 48*time.Hour {
		return humanDuration(d) + " ago"
	}
	return t.UTC().Format("2006-01-02")
}

// humanDuration prints d coarsely: 45s, 12m, 3h 5m, 4d 2h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// jsonProblem returns "" for valid JSON, else the parse error with its
// line and column.
func jsonProblem(data []byte) string {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	err := dec.Decode(&v)
	if err == nil {
		off := dec.InputOffset()
		rest := data[off:]
		if trimmed := strings.TrimLeft(string(rest), " \t\r\n"); trimmed != "" {
			line, col := lineCol(data, off+int64(len(rest)-len(trimmed))+1)
			return fmt.Sprintf("unexpected data after the JSON value at line %d, column %d", line, col)
		}
		return ""
	}
	var se *json.SyntaxError
	if ok := asSyntax(err, &se); ok {
		line, col := lineCol(data, se.Offset)
		return fmt.Sprintf("%s at line %d, column %d", se.Error(), line, col)
	}
	if strings.Contains(err.Error(), "EOF") {
		line, col := lineCol(data, int64(len(data)))
		return fmt.Sprintf("unexpected end of JSON input at line %d, column %d", line, col)
	}
	return err.Error()
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	// The decoder's offset is just past the bad byte.
	if col > 1 {
		col--
	}
	return line, col
}
