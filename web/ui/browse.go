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

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/blocks/datastore"
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

// search is the entries page's query, as it appears in the URL: the key
// prefix, exact data and flowUuid filters, and the filter builder's
// condition rows (f, op, v repeated), match and order.
type search struct {
	Name, Prefix, Data, Flow string
	Conds                    []templates.ConditionRow
	Match, Order             string
}

// maxFilterRows bounds the condition rows read from a URL.
const maxFilterRows = 50

func searchOf(c echo.Context) search {
	q := search{
		Name:   c.QueryParam("name"),
		Prefix: c.QueryParam("prefix"),
		Data:   strings.TrimSpace(c.QueryParam("data")),
		Flow:   strings.TrimSpace(c.QueryParam("flowUuid")),
		Match:  c.QueryParam("match"),
		Order:  strings.TrimSpace(c.QueryParam("order")),
	}
	qp := c.QueryParams()
	q.Conds = filterRows(qp["f"], qp["op"], qp["v"])
	return q
}

// filterRows pairs the filter's inputs into rows, skipping rows without
// a field.
func filterRows(fields, ops, vals []string) []templates.ConditionRow {
	var out []templates.ConditionRow
	for i, f := range fields {
		if f = strings.TrimSpace(f); f == "" || len(out) == maxFilterRows {
			continue
		}
		r := templates.ConditionRow{Field: f, Op: "eq"}
		if i < len(ops) && ops[i] != "" {
			r.Op = ops[i]
		}
		if i < len(vals) {
			r.Value = vals[i]
		}
		out = append(out, r)
	}
	return out
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
	for _, r := range q.Conds {
		v.Add("f", r.Field)
		v.Add("op", r.Op)
		v.Add("v", r.Value)
	}
	if q.Match == string(store.MatchAny) {
		v.Set("match", q.Match)
	}
	if q.Order != "" {
		v.Set("order", q.Order)
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

// filtering reports whether the filter builder is in use (store.Query).
func (q search) filtering() bool { return len(q.Conds) > 0 || q.Order != "" }

// storeQuery is the filter as a store.Query: the rows (a value is JSON
// when it parses as JSON, else a string), the key prefix and flowUuid as
// $key and $flowUuid conditions.
func (q search) storeQuery() (store.Query, error) {
	sq := store.Query{Name: q.Name, Match: store.Match(q.Match)}
	if q.Data != "" {
		return sq, store.Errorf(store.CodeInvalidArgument, "the exact data search cannot be combined with conditions: add a condition instead")
	}
	for _, r := range q.Conds {
		sq.Where = append(sq.Where, store.Condition{Field: r.Field, Op: store.Operator(r.Op), Value: valueJSON(r.Value)})
	}
	if q.Prefix != "" {
		if sq.Match == store.MatchAny && len(sq.Where) > 0 {
			return sq, store.Errorf(store.CodeInvalidArgument, "the key prefix cannot be combined with match any: add a $key startsWith condition instead")
		}
		b, _ := json.Marshal(prefixOf(q.Prefix))
		sq.Where = append(sq.Where, store.Condition{Field: "$key", Op: store.OpStartsWith, Value: b})
	}
	if q.Flow != "" {
		if sq.Match == store.MatchAny && len(sq.Where) > 0 {
			return sq, store.Errorf(store.CodeInvalidArgument, "the flowUuid filter cannot be combined with match any: add a $flowUuid condition instead")
		}
		b, _ := json.Marshal(q.Flow)
		sq.Where = append(sq.Where, store.Condition{Field: "$flowUuid", Op: store.OpEq, Value: b})
	}
	sq.OrderBy = orderOf(q.Order)
	return sq, nil
}

// valueJSON is a condition value typed in a form: JSON when it parses as
// JSON (10, true, "10", [1,2]), else the text as a string.
func valueJSON(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(text)
	return b
}

// orderOf reads "-total,customer".
func orderOf(s string) []store.Order {
	var out []store.Order
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if f, ok := strings.CutPrefix(part, "-"); ok {
			out = append(out, store.Order{Field: f, Desc: true})
		} else {
			out = append(out, store.Order{Field: part})
		}
	}
	return out
}

// sortURL sorts by field: ascending, or descending when the answer is
// ascending by it already.
func (q search) sortURL(field string) (string, string) {
	sorted := ""
	next := field
	switch q.Order {
	case field:
		sorted, next = "asc", "-"+field
	case "-" + field:
		sorted = "desc"
	}
	q.Order = next
	return q.url("/entries", "", 1), sorted
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

// prefixOf reads a key prefix (store.ResolvePrefix: ["users"] is a Deno
// KV key prefix).
func prefixOf(s string) string { return store.ResolvePrefix(s) }

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
		CSRF:      s.sess.CSRF,
	}
	if err := s.grants.Allow(q.Name, store.Read); err != nil {
		return u.fail(c, err)
	}
	qv, err := u.quotaView(c, q.Name)
	if err != nil {
		return u.fail(c, err)
	}
	v.Quota = qv
	v.Conds, v.Match, v.Order, v.Ops = q.Conds, q.Match, q.Order, filterOps()
	pg, dataErr, err := u.query(c, s.st, q, cursor, PageSize)
	v.DataError = dataErr
	if err != nil {
		if store.CodeOf(err) != store.CodeInvalidArgument {
			return u.fail(c, err)
		}
		v.Error = store.Message(err)
	}
	v.Count, v.CountNote, v.Index = pg.Count, pg.countNote, pg.Index
	ctx := c.Request().Context()
	if ixs, err := s.st.Indexes(ctx, q.Name); err == nil {
		for _, ix := range ixs {
			v.Indexes = append(v.Indexes, templates.IndexRow{Field: ix.Field, State: string(ix.State)})
		}
	}
	// The field picker offers the fields seen on this page (or, when it is
	// empty, on the namespace's first page); the table shows the filter's
	// fields and the most common others as columns.
	sample := pg.Entries
	if len(sample) == 0 {
		if p, err := s.st.List(ctx, q.Name, "", "", PageSize); err == nil {
			sample = p.Entries
		}
	}
	v.Fields = fieldsSeen(sample)
	var cols []string
	seen := map[string]bool{}
	addCol := func(f string) {
		pf, err := store.ParseField(f)
		if err != nil || !pf.IsData() || seen[pf.String()] || len(cols) >= maxColumns {
			return
		}
		seen[pf.String()] = true
		cols = append(cols, pf.String())
	}
	for _, r := range q.Conds {
		addCol(r.Field)
	}
	for _, o := range orderOf(q.Order) {
		addCol(o.Field)
	}
	for _, f := range v.Fields {
		if !strings.Contains(f, ".") {
			addCol(f)
		}
	}
	for _, f := range cols {
		su, sorted := q.sortURL(f)
		v.Columns = append(v.Columns, templates.Column{Field: f, SortURL: su, Sorted: sorted})
	}
	v.MetaSort = map[string]templates.Column{}
	for _, f := range []string{"$key", "$version", "$updatedAt", "$expiresAt"} {
		su, sorted := q.sortURL(f)
		v.MetaSort[f] = templates.Column{Field: f, SortURL: su, Sorted: sorted}
	}
	if q.filtering() {
		for k, vals := range q.values() {
			for _, val := range vals {
				v.Query = append(v.Query, templates.QueryParam{Name: k, Value: val})
			}
		}
		sort.SliceStable(v.Query, func(i, j int) bool { return v.Query[i].Name < v.Query[j].Name })
	}
	now := u.now()
	for _, e := range pg.Entries {
		row := templates.EntryRow{
			Key: shownKey(e.Key), URL: entryURL(e.Name, e.Key), Preview: rowPreview(e.Data),
			Version: e.Version, ExpiresIn: expiresIn(e.ExpiresAt, now),
			Updated: ago(e.UpdatedAt, now), UpdatedAt: e.UpdatedAt.UTC(), FlowUUID: e.FlowUUID,
		}
		doc := store.NewDoc(&e)
		for _, f := range cols {
			pf, _ := store.ParseField(f)
			row.Cells = append(row.Cells, truncate(doc.Get(pf).JSON(), 60))
		}
		v.Rows = append(v.Rows, row)
	}
	if pg.NextCursor != "" {
		v.NextURL = q.url("/entries", pg.NextCursor, page+1)
	}
	if isPartial(c) {
		return render(c, http.StatusOK, templates.EntriesResults(v))
	}
	return render(c, http.StatusOK, templates.Entries(u.page(c, q.Name, "namespaces"), v))
}

// maxColumns bounds the data columns of the entries table.
const maxColumns = 5

// filterOps are the filter builder's operators (the Search block's).
func filterOps() []blocks.Option {
	f, _ := datastore.Spec.Field("where")
	return f.Options
}

// fieldsSeen lists the data fields of entries (top-level keys and the keys
// of objects under them), most common first.
func fieldsSeen(es []store.Entry) []string {
	n := map[string]int{}
	for _, e := range es {
		var m map[string]json.RawMessage
		if json.Unmarshal(e.Data, &m) != nil {
			continue
		}
		for k, raw := range m {
			top := (store.Field{Path: []store.PathPart{{Key: k}}}).String()
			n[top]++
			var sub map[string]json.RawMessage
			if json.Unmarshal(raw, &sub) == nil {
				for sk := range sub {
					n[(store.Field{Path: []store.PathPart{{Key: k}, {Key: sk}}}).String()]++
				}
			}
		}
	}
	out := make([]string, 0, len(n))
	for f := range n {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if n[out[i]] != n[out[j]] {
			return n[out[i]] > n[out[j]]
		}
		return out[i] < out[j]
	})
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

// result is one page of a search, with the filter's count.
type result struct {
	store.Page
	Count     *int64
	countNote string
	Index     string
}

// query runs a search: the filter builder's query (store.Query) when it
// has conditions or an order; else a key-prefix scan (List) when only the
// prefix is set, else a filtered Fetch. dataErr explains a data filter that
// is not JSON yet (while typing); then nothing matches.
func (u *UI) query(c echo.Context, st store.Store, q search, cursor string, limit int) (pg result, dataErr string, err error) {
	ctx := c.Request().Context()
	if q.filtering() {
		sq, err := q.storeQuery()
		if err != nil {
			return result{}, "", err
		}
		sq.Cursor, sq.Limit, sq.Count = cursor, limit, true
		p, err := st.Query(ctx, sq)
		if store.CodeOf(err) == store.CodeInvalidArgument && strings.Contains(store.Text(err), "counting") {
			// The page without its count: the namespace is too large to
			// count without an index.
			note := store.Text(err)
			sq.Count = false
			p, err = st.Query(ctx, sq)
			pg.countNote = note
		}
		pg.Page = store.Page{Entries: p.Entries, NextCursor: p.NextCursor}
		pg.Count, pg.Index = p.Count, p.Index
		return pg, "", err
	}
	if q.Data == "" && q.Flow == "" {
		pg.Page, err = st.List(ctx, q.Name, prefixOf(q.Prefix), cursor, limit)
		return pg, "", err
	}
	fq := store.FetchQuery{Name: q.Name, KeyPrefix: prefixOf(q.Prefix), FlowUUID: q.Flow, Limit: limit, Cursor: cursor}
	if q.Data != "" {
		if msg := jsonProblem([]byte(q.Data)); msg != "" {
			return result{}, "Data search needs a complete JSON value: " + msg, nil
		}
		fq.Data = json.RawMessage(q.Data)
	}
	pg.Page, err = st.Fetch(ctx, fq)
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
