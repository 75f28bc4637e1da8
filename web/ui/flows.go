package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

// FlowService is what the flow editor needs from the flow engine;
// *blocks.Engine implements it.
type FlowService interface {
	ListFlows(ctx context.Context) ([]blocks.StoredFlow, error)
	GetFlow(ctx context.Context, id string) (blocks.StoredFlow, error)
	PutFlow(ctx context.Context, src []byte) (blocks.StoredFlow, error)
	RunFlow(ctx context.Context, id string, req blocks.RunRequest) (*blocks.Run, error)
	RunsOf(ctx context.Context, flowUUID, cursor string, limit int) (blocks.RunPage, error)
	RunOf(ctx context.Context, flowUUID, runID string) (blocks.Run, error)
	RunByID(ctx context.Context, runID string) (blocks.Run, error)
	RunDocument(ctx context.Context, src []byte, req blocks.RunRequest) (*blocks.Run, error)
	DeleteFlow(ctx context.Context, id string) (bool, error)
	FlowByUUID(ctx context.Context, flowUUID string) (blocks.StoredFlow, error)
}

var _ FlowService = (*blocks.Engine)(nil)

// flowRenamer is an engine that renames a stored flow, keeping its UUID
// (and so its run history and the entries it wrote). The editor renames
// through it when the Flow id changes; without it a changed id is refused
// rather than saved as a second flow.
type flowRenamer interface {
	RenameFlow(ctx context.Context, from, to string) (blocks.StoredFlow, error)
}

// flowAccess reports whether grants give at least want on every namespace
// the flow declares ("*" needs the wildcard grant; want NoAccess: the
// access each namespace is declared with).
func flowAccess(g store.Grants, dataStores []string, want store.Access) bool {
	for _, it := range dataStores {
		n, declared := blocks.ParseDataStore(it)
		need := want
		if need == store.NoAccess {
			need = declared
		}
		if n == store.Wildcard {
			if g[store.Wildcard] < need {
				return false
			}
			continue
		}
		if g.Level(n) < need {
			return false
		}
	}
	return true
}

// canManageFlows reports whether the session's token may save, run and
// delete flows (scope flows).
func canManageFlows(s *reqState) bool { return s.tok.Has(tokens.ScopeFlows) }

// errNoFlowsScope refuses flow changes to a token without scope flows.
var errNoFlowsScope = store.Errorf(store.CodeAccessDenied, "saving and running flows needs a token with scope flows")

// lastRuns returns up to n runs of the flow with UUID flowUUID that the
// session may read, newest first; with status set, only runs of that
// status among the most recent runScanLimit.
func (u *UI) lastRuns(ctx context.Context, s *reqState, flowUUID, status string, n int) []blocks.Run {
	var out []blocks.Run
	cursor, seen := "", 0
	for len(out) < n && seen < runScanLimit {
		limit := n
		if status != "" {
			limit = 100
		}
		rp, err := u.cfg.Flows.RunsOf(ctx, flowUUID, cursor, limit)
		if err != nil {
			return out
		}
		for _, r := range rp.Runs {
			if len(out) < n && r.Readable(s.grants) == nil && (status == "" || r.Status == status) {
				out = append(out, r)
			}
		}
		seen += len(rp.Runs)
		if rp.NextCursor == "" || status == "" {
			break
		}
		cursor = rp.NextCursor
	}
	return out
}

// runScanLimit bounds how many recent runs a status filter looks through.
const runScanLimit = 1000

func (u *UI) flowsEnabled(c echo.Context) error {
	if u.cfg.Flows == nil {
		return render(c, http.StatusNotFound, templates.ErrorPage(u.page(c, "Flows", "flows"), http.StatusNotFound, "The flow engine is not enabled on this server."))
	}
	return nil
}

func flowURL(id string) string { return "/flow?id=" + url.QueryEscape(id) }

func (u *UI) flows(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	s := state(c)
	ctx := c.Request().Context()
	list, err := u.cfg.Flows.ListFlows(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	v := templates.FlowsView{CSRF: s.sess.CSRF, CanWrite: canManageFlows(s)}
	now := u.now()
	for _, f := range list {
		if f.Flow == nil || !flowAccess(s.grants, f.Flow.DataStores, store.Read) {
			continue
		}
		row := templates.FlowRow{
			ID: f.Flow.ID, URL: flowURL(f.Flow.ID), Blocks: len(f.Flow.Blocks),
			DataStores: strings.Join(f.Flow.DataStores, ", "), Trigger: triggerText(f.Flow.Trigger),
			LastStatus: "never run",
		}
		if runs := u.lastRuns(ctx, s, f.UUID, "", 1); len(runs) > 0 {
			row.LastStatus = runs[0].Status
			row.LastRun = ago(runs[0].StartedAt, now)
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, http.StatusOK, templates.Flows(u.page(c, "Flows", "flows"), v))
}

func triggerText(t blocks.Trigger) string {
	switch {
	case t.Type == blocks.TriggerSchedule && t.Every != "":
		return "every " + t.Every
	case t.Type == blocks.TriggerSchedule:
		return "cron " + t.Cron
	case t.Type == "":
		return blocks.TriggerManual
	}
	return t.Type
}

func (u *UI) palette() []templates.PaletteItem {
	var out []templates.PaletteItem
	for _, sp := range u.cfg.Specs() {
		out = append(out, templates.PaletteItem{Type: sp.Type, Label: sp.Label, Description: sp.Description})
	}
	return out
}

func (u *UI) spec(t string) (blocks.Spec, bool) {
	for _, sp := range u.cfg.Specs() {
		if sp.Type == t {
			return sp, true
		}
	}
	return blocks.Spec{}, false
}

func (u *UI) newFlow(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	s := state(c)
	if !canManageFlows(s) {
		return u.fail(c, errNoFlowsScope)
	}
	v := templates.FlowView{IsNew: true, Trigger: blocks.TriggerManual, Palette: u.palette(), CSRF: s.sess.CSRF, CanWrite: true, RunInput: "{}", DraftInput: "{}"}
	return render(c, http.StatusOK, templates.FlowPage(u.page(c, "New flow", "flows"), v))
}

func (u *UI) flow(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	s := state(c)
	sf, err := u.cfg.Flows.GetFlow(c.Request().Context(), c.QueryParam("id"))
	if err != nil {
		return u.fail(c, err)
	}
	if !flowAccess(s.grants, sf.Flow.DataStores, store.Read) {
		return u.fail(c, store.Errorf(store.CodeAccessDenied, "the flow uses namespaces your token cannot read"))
	}
	v := u.flowView(c, sf.Flow)
	v.UUID = sf.UUID
	v.Source = sf.Source
	v.Saved = c.QueryParam("done") == "flow-saved"
	v.RunFilter = runStatusFilter(c.QueryParam("runs"))
	u.addRuns(c, &v)
	p := u.page(c, sf.Flow.ID, "flows")
	p.Flash = "" // the page says "Flow saved." itself, once
	return render(c, http.StatusOK, templates.FlowPage(p, v))
}

// flowView renders a flow document as editor cards.
func (u *UI) flowView(c echo.Context, f *blocks.Flow) templates.FlowView {
	s := state(c)
	v := templates.FlowView{
		ID: f.ID, DataStores: strings.Join(f.DataStores, ", "), Trigger: f.Trigger.Type,
		TriggerEvery: f.Trigger.Every, Palette: u.palette(), CSRF: s.sess.CSRF,
		CanWrite: canManageFlows(s) && flowAccess(s.grants, f.DataStores, store.NoAccess), RunInput: "{}",
		SecretSet: f.Trigger.HasSecret(), DraftInput: "{}",
	}
	if f.Trigger.Type == blocks.TriggerWebhook && blocks.ValidFlowID(f.ID) {
		v.WebhookURL = hookURL(c.Request(), f.ID)
	}
	if v.Trigger == "" {
		v.Trigger = blocks.TriggerManual
	}
	if f.Trigger.Cron != "" {
		v.TriggerEvery = f.Trigger.Cron
	}
	for i, b := range f.Blocks {
		bv := u.blockView("c"+strconv.Itoa(i+1), b)
		bv.ReadOnly = !v.CanWrite
		v.Blocks = append(v.Blocks, bv)
	}
	return v
}

// hookURL is the address of flow id's webhook on this server, as the
// browser reached it.
func hookURL(r *http.Request, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/hooks/" + url.PathEscape(id)
}

func (u *UI) addRuns(c echo.Context, v *templates.FlowView) {
	if v.UUID == "" {
		return
	}
	for _, r := range u.lastRuns(c.Request().Context(), state(c), v.UUID, v.RunFilter, 20) {
		v.Runs = append(v.Runs, runView(r, u.now()))
	}
}

// runStatusFilter is the run history's status filter from the query
// ("" for all runs, or an unknown status).
func runStatusFilter(s string) string {
	switch s {
	case "succeeded", "failed":
		return s
	}
	return ""
}

// runURL is the page of run id of the flow with UUID flowUUID.
func runURL(flowUUID, id string) string {
	return "/run?flow=" + url.QueryEscape(flowUUID) + "&id=" + url.QueryEscape(id)
}

func runView(r blocks.Run, now time.Time) templates.RunView {
	rv := templates.RunView{
		ID: r.ID, URL: runURL(r.FlowUUID, r.ID), Status: r.Status, Started: ago(r.StartedAt, now), Trigger: r.Trigger,
		Duration: fmt.Sprintf("%.1f ms", r.DurationMS), Input: truncate(string(r.Input), 200),
	}
	if r.Error != nil {
		rv.Error = runErrorText(r.Error)
	}
	for _, b := range r.Blocks {
		st := templates.StepView{Block: b.ID, Type: b.Type, Status: b.Status, Duration: fmt.Sprintf("%.1f ms", b.DurationMS)}
		if len(b.Output) > 0 {
			st.Output = templates.HighlightJSON(prettyJSON(b.Output))
		}
		if b.Error != nil {
			st.Error = runErrorText(b.Error)
		}
		rv.Steps = append(rv.Steps, st)
	}
	for _, l := range r.Logs {
		rv.Logs = append(rv.Logs, templates.LogView{Time: l.Time.UTC().Format("15:04:05.000"), Block: l.Block, Level: l.Level, Message: l.Message})
	}
	return rv
}

// runErrorText is a run's or block's error as the pages show it.
func runErrorText(e *blocks.RunError) string {
	msg := string(e.Code) + ": " + e.Message
	if e.Block != "" && !strings.Contains(e.Message, e.Block) {
		msg = "block " + e.Block + ": " + msg
	}
	if e.Line > 0 {
		msg += fmt.Sprintf(" (at line %d, column %d of the code)", e.Line, e.Column)
	}
	return msg
}

// runPage shows one run: input, each block's status, output, error and
// duration, the output and the console logs. Reading it needs read on
// every namespace the flow declared when the run ran.
func (u *UI) runPage(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	s := state(c)
	ctx := c.Request().Context()
	var r blocks.Run
	var err error
	if flowUUID := c.QueryParam("flow"); flowUUID != "" {
		r, err = u.cfg.Flows.RunOf(ctx, flowUUID, c.QueryParam("id"))
	} else {
		r, err = u.cfg.Flows.RunByID(ctx, c.QueryParam("id"))
	}
	if err != nil {
		return u.fail(c, err)
	}
	if err := r.Readable(s.grants); err != nil {
		return u.fail(c, err)
	}
	v := templates.RunPageView{
		Run: runView(r, u.now()), Flow: r.Flow, FlowUUID: r.FlowUUID,
		StartedAt:  r.StartedAt.UTC().Format("2006-01-02 15:04:05.000 MST"),
		FinishedAt: r.FinishedAt.UTC().Format("2006-01-02 15:04:05.000 MST"),
		Input:      templates.HighlightJSON(prettyJSON(orNull(r.Input))),
		Output:     templates.HighlightJSON(prettyJSON(orNull(r.Output))),
		DataStores: strings.Join(r.DataStores, ", "), Truncated: r.Truncated,
	}
	if r.Request != nil {
		if b, err := json.Marshal(r.Request); err == nil {
			v.Request = templates.HighlightJSON(prettyJSON(b))
		}
	}
	if r.Response != nil {
		if b, err := json.Marshal(r.Response); err == nil {
			v.Response = templates.HighlightJSON(prettyJSON(b))
		}
	}
	if sf, err := u.cfg.Flows.FlowByUUID(ctx, r.FlowUUID); err == nil && sf.Flow != nil {
		v.Flow, v.FlowURL = sf.Flow.ID, flowURL(sf.Flow.ID)
	}
	return render(c, http.StatusOK, templates.RunPage(u.page(c, "Run of "+v.Flow, "flows"), v))
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// fieldInput is the form input name of a card's field.
func fieldInput(card, field string) string { return "b." + card + "." + field }

// displayValue turns a stored field value into input text.
func displayValue(fd blocks.Field, v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case bool:
		return strconv.FormatBool(x), x
	case string:
		if fd.Type == blocks.TypeJSON && json.Valid([]byte(strings.TrimSpace(x))) {
			b, _ := json.Marshal(x) // keep it a string on the way back
			return string(b), false
		}
		return x, false
	case json.Number:
		return x.String(), false
	default:
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return fmt.Sprint(x), false
		}
		return string(b), false
	}
}

// blockView builds a card from a block's configuration.
func (u *UI) blockView(card string, b blocks.BlockConfig) templates.BlockView {
	bv := templates.BlockView{Card: card, ID: b.ID, Type: b.Type}
	sp, ok := u.spec(b.Type)
	if !ok {
		bv.Unknown = true
		bv.Label = b.Type
		return bv
	}
	bv.Label = sp.Label
	values := b.Fields
	if values == nil {
		values = map[string]any{}
	}
	ifText, _ := displayValue(blocks.Field{Type: blocks.TypeExpression}, b.If)
	for _, cf := range blocks.CommonFields {
		if cf.Name == "if" {
			bv.Fields = append(bv.Fields, templates.FieldView{Spec: cf, Input: fieldInput(card, "if"), Value: ifText})
		}
	}
	for _, fd := range sp.Fields {
		val, set := values[fd.Name]
		if !set {
			val = fd.Default
		}
		text, checked := displayValue(fd, val)
		fv := templates.FieldView{Spec: fd, Input: fieldInput(card, fd.Name), Value: text, Checked: checked, Options: fd.Options}
		if fd.Type == blocks.TypeConditions {
			fv.Rows = conditionRows(val)
		}
		var conds []string
		for _, c := range fd.ShowWhen {
			conds = append(conds, c.Field+"="+strings.Join(c.In, "|"))
		}
		fv.ShowWhen = strings.Join(conds, ";")
		fv.Hidden = !conditionsHold(sp, fd.ShowWhen, values)
		bv.Fields = append(bv.Fields, fv)
	}
	return bv
}

// conditionsHold mirrors the engine's ShowWhen rule for the editor: every
// condition's sibling value (or its default) is one of In; an expression
// counts as holding.
func conditionsHold(sp blocks.Spec, conds []blocks.Condition, values map[string]any) bool {
	for _, c := range conds {
		v, ok := values[c.Field]
		if !ok || v == nil {
			if f, found := sp.Field(c.Field); found {
				v = f.Default
			}
		}
		text := ""
		switch x := v.(type) {
		case string:
			text = x
		case nil:
		default:
			text = strings.TrimSpace(fmt.Sprint(x))
		}
		if strings.Contains(text, "{{") {
			continue
		}
		match := false
		for _, w := range c.In {
			if w == text {
				match = true
			}
		}
		if !match {
			return false
		}
	}
	return true
}

// flowCard renders a new card for a block dropped from the palette.
func (u *UI) flowCard(c echo.Context) error {
	t := c.QueryParam("type")
	if _, ok := u.spec(t); !ok {
		return u.badRequest(c, "unknown block type")
	}
	card := c.QueryParam("card")
	if !cardRe(card) {
		card = "n" + strconv.FormatInt(u.now().UnixNano(), 36)
	}
	taken := map[string]bool{}
	for _, id := range strings.Split(c.QueryParam("taken"), ",") {
		taken[id] = true
	}
	return render(c, http.StatusOK, templates.BlockCard(u.blockView(card, blocks.BlockConfig{ID: freeBlockID(t, taken), Type: t})))
}

func cardRe(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// conditionRows shows a conditions value as editor rows: each value as
// JSON, except a string that does not look like JSON, shown as it is (the
// form reads such text back as a string).
func conditionRows(v any) []templates.ConditionRow {
	rows, _ := v.([]any)
	var out []templates.ConditionRow
	for _, r := range rows {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		row := templates.ConditionRow{}
		row.Field, _ = m["field"].(string)
		row.Op, _ = m["op"].(string)
		switch x := m["value"].(type) {
		case nil:
			row.Value = "null"
		case string:
			row.Value = x
			if json.Valid([]byte(strings.TrimSpace(x))) {
				b, _ := json.Marshal(x) // "10" stays the string "10"
				row.Value = string(b)
			}
		default:
			b, _ := json.Marshal(x)
			row.Value = string(b)
		}
		out = append(out, row)
	}
	return out
}

// formConditions reads the rows of a conditions field (inputs
// NAME.field, NAME.op, NAME.value, one per row in order); a row without a
// field is an empty one and skipped. A value is JSON when it parses as
// JSON, else text (a string, or a {{ … }} expression).
func formConditions(form map[string][]string, name string) ([]any, bool) {
	fields, present := form[name+".field"]
	ops, vals := form[name+".op"], form[name+".value"]
	var rows []any
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		row := map[string]any{"field": f, "op": "eq"}
		if i < len(ops) {
			row["op"] = ops[i]
		}
		text := ""
		if i < len(vals) {
			text = vals[i]
		}
		if v, ok := parseValue(blocks.Field{Type: blocks.TypeJSON}, text); ok {
			row["value"] = v
		} else {
			row["value"] = ""
		}
		rows = append(rows, row)
	}
	return rows, present
}

// parseValue turns input text into a field value of the field's type.
// Text that does not parse as the type (an expression) stays text.
func parseValue(fd blocks.Field, text string) (any, bool) {
	switch fd.Type {
	case blocks.TypeBoolean:
		return text == "true", true
	case blocks.TypeNumber, blocks.TypeInteger:
		t := strings.TrimSpace(text)
		if t == "" {
			return nil, false
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return json.Number(t), true
		}
		return t, true
	case blocks.TypeJSON:
		t := strings.TrimSpace(text)
		if t == "" {
			return nil, false
		}
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			return v, true
		}
		return text, true
	case blocks.TypeCode, blocks.TypeText:
		if text == "" {
			return nil, false
		}
		return text, true
	default:
		t := strings.TrimSpace(text)
		if t == "" {
			return nil, false
		}
		return t, true
	}
}

// flowFromForm builds a flow document from the editor's form, starting
// from the stored flow (kept fields: description, timeout, trigger input
// and secret). A non-empty secret field sets a new webhook secret,
// clearSecret removes it; otherwise the stored one is kept.
func (u *UI) flowFromForm(c echo.Context, form url.Values, base *blocks.Flow) (*blocks.Flow, []string) {
	f := &blocks.Flow{}
	if base != nil {
		cp := *base
		f = &cp
	}
	f.ID = strings.TrimSpace(form.Get("id"))
	f.DataStores = nil
	for _, n := range strings.Split(form.Get("dataStores"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			f.DataStores = append(f.DataStores, n)
		}
	}
	f.Trigger.Type = form.Get("trigger")
	f.Trigger.Every, f.Trigger.Cron = "", ""
	switch {
	case form.Get("secret") != "":
		f.Trigger.SetSecret(form.Get("secret"))
	case form.Get("clearSecret") == "true":
		f.Trigger.SetSecret("")
	}
	if f.Trigger.Type == blocks.TriggerSchedule {
		when := strings.TrimSpace(form.Get("every"))
		if strings.Contains(when, " ") || strings.HasPrefix(when, "@") {
			f.Trigger.Cron = when
		} else {
			f.Trigger.Every = when
		}
	}
	f.Blocks = nil
	cards := form["card"]
	for _, card := range cards {
		if !cardRe(card) {
			continue
		}
		get := func(name string) string {
			vs := form[fieldInput(card, name)]
			if len(vs) == 0 {
				return ""
			}
			return vs[len(vs)-1] // a checkbox follows its hidden "false"
		}
		b := blocks.BlockConfig{ID: strings.TrimSpace(get("id")), Type: get("type"), Fields: map[string]any{}}
		stored := storedBlock(base, b.ID)
		if t := strings.TrimSpace(get("if")); t != "" {
			b.If = t
		}
		if sp, ok := u.spec(b.Type); ok {
			for _, fd := range sp.Fields {
				if fd.Type == blocks.TypeConditions {
					if rows, present := formConditions(form, fieldInput(card, fd.Name)); present && len(rows) > 0 {
						b.Fields[fd.Name] = rows
					}
					continue
				}
				if _, present := form[fieldInput(card, fd.Name)]; !present {
					continue
				}
				if v, set := parseValue(fd, keepLineEndings(get(fd.Name), stored[fd.Name])); set {
					b.Fields[fd.Name] = v
				}
			}
			// Drop fields the chosen options hide (the form keeps them).
			for _, fd := range sp.Fields {
				if _, set := b.Fields[fd.Name]; set && !conditionsHold(sp, fd.ShowWhen, b.Fields) {
					delete(b.Fields, fd.Name)
				}
			}
		}
		f.Blocks = append(f.Blocks, b)
	}
	return f, cards
}

// flowForm is the editor's form as posted: the flow it describes, the
// card ids in order, and the stored flow it edits (none for a new one).
type flowForm struct {
	form     url.Values
	flow     *blocks.Flow
	cards    []string
	orig     string
	baseUUID string
	source   string
}

// readFlowForm reads the editor's form for a token with scope flows;
// the flow it edits must be one the token may use as declared. On error
// the answer has been written (or is the returned error).
func (u *UI) readFlowForm(c echo.Context) (*flowForm, error) {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return nil, err
	}
	s := state(c)
	ctx := c.Request().Context()
	if !canManageFlows(s) {
		return nil, u.fail(c, errNoFlowsScope)
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, u.badRequest(c, "The form could not be read.")
	}
	ff := &flowForm{form: form, orig: form.Get("original")}
	var base *blocks.Flow
	if ff.orig != "" {
		sf, err := u.cfg.Flows.GetFlow(ctx, ff.orig)
		if err != nil && store.CodeOf(err) != store.CodeNotFound {
			return nil, u.fail(c, err)
		}
		if err == nil {
			if !flowAccess(s.grants, sf.Flow.DataStores, store.NoAccess) {
				return nil, u.fail(c, store.Errorf(store.CodeAccessDenied, "the flow uses namespaces your token cannot use as the flow declares them"))
			}
			base, ff.baseUUID, ff.source = sf.Flow, sf.UUID, sf.Source
		}
	}
	ff.flow, ff.cards = u.flowFromForm(c, form, base)
	return ff, nil
}

// view renders the form's flow again (after problems, an added block, a
// draft run), keeping the form's card ids so problems land on the right
// card, and the draft input.
func (ff *flowForm) view(c echo.Context, u *UI) templates.FlowView {
	v := u.flowView(c, ff.flow)
	v.IsNew = ff.orig == ""
	v.UUID = ff.baseUUID
	v.Source = ff.source
	if v.IsNew || ff.orig != ff.flow.ID {
		v.WebhookURL = ""
	}
	for i := range v.Blocks {
		if i < len(ff.cards) && cardRe(ff.cards[i]) {
			v.Blocks[i] = u.blockView(ff.cards[i], ff.flow.Blocks[i])
			v.Blocks[i].ReadOnly = !v.CanWrite
		}
	}
	if in, ok := ff.form["draftInput"]; ok {
		v.DraftInput = in[0]
	}
	if !v.IsNew {
		u.addRuns(c, &v)
	}
	return v
}

func (u *UI) saveFlow(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	s := state(c)
	ctx := c.Request().Context()
	if !canManageFlows(s) {
		return u.fail(c, errNoFlowsScope)
	}
	ff, err := u.readFlowForm(c)
	if err != nil || ff == nil {
		return err
	}
	f, orig := ff.flow, ff.orig
	again := func(status int, problems []blocks.Problem, general string) error {
		v := ff.view(c, u)
		if general != "" {
			v.Problems = append(v.Problems, general)
		}
		attachProblems(&v, problems)
		return render(c, status, templates.FlowPage(u.page(c, "Flow", "flows"), v))
	}
	if !flowAccess(s.grants, f.DataStores, store.NoAccess) {
		return again(http.StatusForbidden, nil, "Your token lacks the access dataStores declares on a namespace (write, or read for ns:read), so it cannot save this flow.")
	}
	if orig != "" && f.ID != orig {
		if _, err := u.cfg.Flows.GetFlow(ctx, f.ID); err == nil {
			return again(http.StatusConflict, []blocks.Problem{{Field: "id", Message: "another flow already has this id"}}, "")
		}
	} else if orig == "" && f.ID != "" {
		if _, err := u.cfg.Flows.GetFlow(ctx, f.ID); err == nil {
			return again(http.StatusConflict, []blocks.Problem{{Field: "id", Message: "a flow with this id already exists"}}, "")
		}
	}
	src, err := blocks.FlowDocument(f)
	if err != nil {
		return u.fail(c, err)
	}
	renaming := ff.baseUUID != "" && f.ID != orig
	if renaming {
		rn, ok := u.cfg.Flows.(flowRenamer)
		if !ok {
			return again(http.StatusUnprocessableEntity, []blocks.Problem{{Field: "id", Message: "this server cannot rename a flow (keeping its flowUuid and run history); save it under " + strconv.Quote(orig)}}, "")
		}
		// Check the document before renaming, so a refused save renames
		// nothing.
		if pf, perr := blocks.ParseFlow(src); perr == nil {
			err = blocks.Validate(pf)
		} else {
			err = perr
		}
		if err == nil {
			_, err = rn.RenameFlow(ctx, orig, f.ID)
		}
	}
	if err == nil {
		_, err = u.cfg.Flows.PutFlow(ctx, src)
	}
	if err != nil {
		var ve *blocks.ValidationError
		if asValidation(err, &ve) {
			return again(http.StatusUnprocessableEntity, ve.Problems, "")
		}
		if store.CodeOf(err) == store.CodeInvalidArgument || store.CodeOf(err) == store.CodeTooLarge {
			return again(statusOf(err), nil, store.Message(err))
		}
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, flowURL(f.ID)+"&done=flow-saved")
}

// attachProblems puts each problem next to its block card and field, or
// on top for the flow's own fields.
func attachProblems(v *templates.FlowView, ps []blocks.Problem) {
	for _, p := range ps {
		placed := false
		for i := range v.Blocks {
			b := &v.Blocks[i]
			if p.Block == "" || (p.Block != b.ID && p.Block != "#"+strconv.Itoa(i+1)) {
				continue
			}
			placed = true
			for j := range b.Fields {
				if b.Fields[j].Spec.Name == p.Field {
					b.Fields[j].Problems = append(b.Fields[j].Problems, p.Message)
					b.Fields[j].Hidden = false
					p.Field = "\x00done"
				}
			}
			if p.Field != "\x00done" {
				msg := p.Message
				if p.Field != "" {
					msg = p.Field + ": " + msg
				}
				b.Problems = append(b.Problems, msg)
			}
			break
		}
		if !placed {
			msg := p.Message
			if p.Field != "" {
				msg = p.Field + ": " + msg
			}
			if p.Block != "" {
				msg = "block " + p.Block + ": " + msg
			}
			v.Problems = append(v.Problems, msg)
		}
	}
}

func (u *UI) runFlow(c echo.Context) error {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return err
	}
	ctx := c.Request().Context()
	sf, err := u.manageableFlow(c, c.FormValue("id"))
	if err != nil || sf == nil {
		return err
	}
	v := u.flowView(c, sf.Flow)
	v.UUID = sf.UUID
	input := strings.TrimSpace(c.FormValue("input"))
	if input == "" {
		input = "null"
	}
	v.RunInput = c.FormValue("input")
	status := http.StatusOK
	if msg := jsonProblem([]byte(input)); msg != "" {
		v.Problems = append(v.Problems, "Run input is not valid JSON: "+msg)
		status = http.StatusUnprocessableEntity
	} else {
		run, err := u.cfg.Flows.RunFlow(ctx, sf.Flow.ID, blocks.RunRequest{Input: json.RawMessage(input), Trigger: blocks.TriggerManual})
		if err != nil {
			if store.CodeOf(err) == store.CodeUnavailable {
				return u.fail(c, err)
			}
			v.Problems = append(v.Problems, "The run could not start: "+store.Message(err))
			status = statusOf(err)
		} else {
			rv := runView(*run, u.now())
			v.Run = &rv
		}
	}
	u.addRuns(c, &v)
	return render(c, status, templates.FlowPage(u.page(c, sf.Flow.ID, "flows"), v))
}

func asValidation(err error, target **blocks.ValidationError) bool { return errors.As(err, target) }

// storedBlock returns the fields of block id in the stored flow base (nil
// when there is none).
func storedBlock(base *blocks.Flow, id string) map[string]any {
	if base == nil {
		return nil
	}
	for _, b := range base.Blocks {
		if b.ID == id {
			return b.Fields
		}
	}
	return nil
}

// keepLineEndings undoes the browser's line-ending change: a form sends
// every textarea's lines ended by CRLF (HTML's form encoding), whatever
// the text had. The text is given back with LF, unless the stored value
// it edits had CRLF endings, which it keeps: the editor never converts
// them.
func keepLineEndings(text string, stored any) string {
	if !strings.Contains(text, "\r\n") {
		return text
	}
	if s, ok := stored.(string); ok && strings.Contains(s, "\r\n") {
		return text
	}
	return strings.ReplaceAll(text, "\r\n", "\n")
}

// addBlock appends a block of the posted type ("add") to the form's flow
// and shows the editor again, nothing saved: the palette without
// JavaScript (each palette item is a submit button of the flow form).
func (u *UI) addBlock(c echo.Context) error {
	ff, err := u.readFlowForm(c)
	if err != nil || ff == nil {
		return err
	}
	t := ff.form.Get("add")
	if _, ok := u.spec(t); !ok {
		return u.badRequest(c, "unknown block type")
	}
	taken := map[string]bool{}
	for _, b := range ff.flow.Blocks {
		taken[b.ID] = true
	}
	ff.flow.Blocks = append(ff.flow.Blocks, blocks.BlockConfig{ID: freeBlockID(t, taken), Type: t})
	n := len(ff.flow.Blocks) - 1
	ff.cards = append(ff.cards[:min(n, len(ff.cards)):min(n, len(ff.cards))], "n"+strconv.FormatInt(u.now().UnixNano(), 36))
	v := ff.view(c, u)
	return render(c, http.StatusOK, templates.FlowPage(u.page(c, "Flow", "flows"), v))
}

// freeBlockID is t, or t followed by the first number that makes it an id
// no block in taken has.
func freeBlockID(t string, taken map[string]bool) string {
	id := t
	for i := 1; taken[id]; i++ {
		id = t + strconv.Itoa(i)
	}
	return id
}

// draftRun runs the form's flow as it is, unsaved (a run of a flow
// document, recorded under the draft's file UUID, not the flow's
// history), or with "test" set one block of it alone, with the draft
// input. It needs what saving needs.
func (u *UI) draftRun(c echo.Context) error {
	ff, err := u.readFlowForm(c)
	if err != nil || ff == nil {
		return err
	}
	s := state(c)
	f := *ff.flow
	v := ff.view(c, u)
	page := func(status int) error {
		return render(c, status, templates.FlowPage(u.page(c, "Flow", "flows"), v))
	}
	if !flowAccess(s.grants, f.DataStores, store.NoAccess) {
		v.Problems = append(v.Problems, "Your token lacks the access dataStores declares on a namespace, so it cannot run this flow.")
		return page(http.StatusForbidden)
	}
	if !blocks.ValidFlowID(f.ID) {
		f.ID = "draft"
	}
	f.Trigger = blocks.Trigger{Type: blocks.TriggerManual}
	if card := ff.form.Get("test"); card != "" {
		f.Blocks = nil
		for i, cd := range ff.cards {
			if cd == card && i < len(ff.flow.Blocks) {
				f.Blocks = []blocks.BlockConfig{ff.flow.Blocks[i]}
			}
		}
		if f.Blocks == nil {
			return u.badRequest(c, "no such block in the form")
		}
	}
	input := strings.TrimSpace(ff.form.Get("draftInput"))
	if input == "" {
		input = "null"
	}
	if msg := jsonProblem([]byte(input)); msg != "" {
		v.Problems = append(v.Problems, "Draft input is not valid JSON: "+msg)
		return page(http.StatusUnprocessableEntity)
	}
	src, err := blocks.FlowDocument(&f)
	if err != nil {
		return u.fail(c, err)
	}
	run, err := u.cfg.Flows.RunDocument(c.Request().Context(), src, blocks.RunRequest{Input: json.RawMessage(input), Trigger: blocks.TriggerManual})
	var ve *blocks.ValidationError
	switch {
	case err == nil:
		rv := runView(*run, u.now())
		rv.Draft = true
		v.Run = &rv
		return page(http.StatusOK)
	case asValidation(err, &ve):
		attachProblems(&v, ve.Problems)
		return page(http.StatusUnprocessableEntity)
	case store.CodeOf(err) == store.CodeUnavailable:
		return u.fail(c, err)
	}
	v.Problems = append(v.Problems, "The draft could not run: "+store.Message(err))
	return page(statusOf(err))
}

// deleteFlowPage asks to confirm deleting a flow.
func (u *UI) deleteFlowPage(c echo.Context) error {
	sf, err := u.manageableFlow(c, c.QueryParam("id"))
	if err != nil || sf == nil {
		return err
	}
	s := state(c)
	v := templates.DeleteFlowView{ID: sf.Flow.ID, CSRF: s.sess.CSRF, Back: flowURL(sf.Flow.ID), Runs: len(u.lastRuns(c.Request().Context(), s, sf.UUID, "", 100))}
	return render(c, http.StatusOK, templates.DeleteFlowPage(u.page(c, "Delete "+sf.Flow.ID, "flows"), v))
}

// deleteFlow deletes a flow (its runs in progress are cancelled and its
// schedule stops: blocks.Engine.DeleteFlow).
func (u *UI) deleteFlow(c echo.Context) error {
	sf, err := u.manageableFlow(c, c.FormValue("id"))
	if err != nil || sf == nil {
		return err
	}
	if _, err := u.cfg.Flows.DeleteFlow(c.Request().Context(), sf.Flow.ID); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/flows?done=flow-deleted")
}

// manageableFlow returns stored flow id when the session may change it
// (scope flows and the access its dataStores declare); otherwise it
// writes the error page and returns nil.
func (u *UI) manageableFlow(c echo.Context, id string) (*blocks.StoredFlow, error) {
	if err := u.flowsEnabled(c); err != nil || u.cfg.Flows == nil {
		return nil, err
	}
	s := state(c)
	if !canManageFlows(s) {
		return nil, u.fail(c, errNoFlowsScope)
	}
	sf, err := u.cfg.Flows.GetFlow(c.Request().Context(), id)
	if err != nil {
		return nil, u.fail(c, err)
	}
	if !flowAccess(s.grants, sf.Flow.DataStores, store.NoAccess) {
		return nil, u.fail(c, store.Errorf(store.CodeAccessDenied, "the flow uses namespaces your token cannot use as the flow declares them"))
	}
	return &sf, nil
}

// saveSource stores the flow's source exactly as typed (YAML or JSON,
// comments kept), with the line endings the stored source had (a browser
// posts a textarea with CRLF). A refused document shows its problems with
// the text kept.
func (u *UI) saveSource(c echo.Context) error {
	sf, err := u.manageableFlow(c, c.FormValue("original"))
	if err != nil || sf == nil {
		return err
	}
	s := state(c)
	src := keepLineEndings(c.FormValue("source"), sf.Source)
	again := func(status int, problems ...string) error {
		v := u.flowView(c, sf.Flow)
		v.UUID, v.Source, v.SourceOpen = sf.UUID, src, true
		v.Problems = append(v.Problems, problems...)
		u.addRuns(c, &v)
		return render(c, status, templates.FlowPage(u.page(c, sf.Flow.ID, "flows"), v))
	}
	f, err := blocks.ParseFlow([]byte(src))
	if err == nil && !flowAccess(s.grants, f.DataStores, store.NoAccess) {
		return again(http.StatusForbidden, "Your token lacks the access dataStores declares on a namespace (write, or read for ns:read), so it cannot save this flow.")
	}
	if err == nil && f.ID != sf.Flow.ID {
		return again(http.StatusUnprocessableEntity, "id: the source names flow "+strconv.Quote(f.ID)+"; rename the flow with the Flow id field of the form")
	}
	if err == nil {
		_, err = u.cfg.Flows.PutFlow(c.Request().Context(), []byte(src))
	}
	if err != nil {
		var ve *blocks.ValidationError
		if asValidation(err, &ve) {
			var msgs []string
			for _, p := range ve.Problems {
				msgs = append(msgs, p.String())
			}
			return again(http.StatusUnprocessableEntity, msgs...)
		}
		if code := store.CodeOf(err); code == store.CodeInvalidArgument || code == store.CodeTooLarge {
			return again(statusOf(err), store.Message(err))
		}
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, flowURL(sf.Flow.ID)+"&done=flow-saved")
}
