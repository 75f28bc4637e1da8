// Package templates holds the web UI's templ components and the view models
// they render. Components only print what they are given: handlers in
// web/ui build the view models, including every URL. User data is always
// printed through templ's escaping: no raw HTML, no unchecked URL casts.
package templates

import (
	"time"

	"github.com/flowkv/flowkv/blocks"
)

// Page is what every full page needs: its title, the signed-in session's
// CSRF token and a message to show on top.
type Page struct {
	Title string
	// Nav is the highlighted top-bar item: "namespaces" or "flows".
	Nav string
	// CSRF is the session's CSRF token ("" when signed out).
	CSRF string
	// Who describes the signed-in token ("" when signed out).
	Who string
	// Flash is a success message; Error an error message.
	Flash string
	Error string
}

// SignedIn reports whether the page is rendered for a session.
func (p Page) SignedIn() bool { return p.CSRF != "" }

// LoginView is the sign-in form.
type LoginView struct {
	// CSRF is the pre-session CSRF token of the sign-in form.
	CSRF  string
	Error string
	// Next is where to go after signing in (a local path).
	Next string
}

// NamespaceRow is one line of the namespaces page.
type NamespaceRow struct {
	Name   string
	Count  int64
	Access string
	URL    string
}

// NamespacesView is the namespaces page.
type NamespacesView struct {
	Filter string
	Rows   []NamespaceRow
	// Total is the number of namespaces before filtering.
	Total int
	// CanCreate is true when the session may write some namespace.
	CanCreate bool
	// Usage is the signed-in token's usage; nil when quotas are off.
	Usage *UsageView
	// Error is a failure of the listing (a quota reached).
	Error string
}

// UsageView is a token's usage this month and its quotas.
type UsageView struct {
	// Month is "YYYY-MM" (UTC).
	Month string
	Ops   int64
	// OpsPerMonth is 0 when unlimited.
	OpsPerMonth int64
	// ResetsAt is when Ops starts again from 0 (RFC 3339, UTC).
	ResetsAt      string
	ScriptRuns    int
	MaxScriptRuns int
}

// QuotaView is a namespace's quota and usage; zero Max fields do not limit.
type QuotaView struct {
	Entries, MaxEntries int64
	Bytes, MaxBytes     int64
}

// EntryRow is one line of the entries table.
type EntryRow struct {
	Key       string
	URL       string
	Preview   string
	Version   int64
	ExpiresIn string
	Updated   string
	UpdatedAt time.Time
	FlowUUID  string
	// Cells are the values of EntriesView.Columns (JSON text, "" when the
	// entry has no such field).
	Cells []string
}

// Column is a data field shown as a column of the entries table; its
// header sorts by it.
type Column struct {
	Field string
	// SortURL sorts by the column (the other way when it sorts already).
	SortURL string
	// Sorted is "asc" or "desc" when the answer is in this column's order.
	Sorted string
}

// IndexRow is a declared index of the namespace.
type IndexRow struct {
	Field, State string
}

// EntriesView is a namespace's entries page (and its htmx partial).
type EntriesView struct {
	Name string
	// The search: key prefix, exact data JSON, flowUuid.
	Prefix string
	Data   string
	Flow   string
	// DataError says why Data is not usable yet (not valid JSON).
	DataError string
	Rows      []EntryRow
	// Page is the 1-based page number, for display.
	Page     int
	FirstURL string
	// NextURL is "" on the last page.
	NextURL   string
	ExportURL string
	NewURL    string
	ImportURL string
	CanWrite  bool
	CSRF      string
	// Error is a failure of the listing itself.
	Error string
	// Quota is the namespace's quota and usage; nil when it has none.
	Quota *QuotaView

	// The filter builder: condition rows, all or any, the order
	// ("-total,customer"); Ops are the operators.
	Conds []ConditionRow
	Match string
	Order string
	Ops   []blocks.Option
	// Fields are the fields seen in the namespace (the field picker).
	Fields []string
	// Columns are data fields shown as sortable columns; MetaSort holds the
	// sort URLs of the entry columns ($key, $version, $updatedAt).
	Columns  []Column
	MetaSort map[string]Column
	// Count is the number of matches of a filter; CountNote says why
	// there is none.
	Count     *int64
	CountNote string
	// Index is the declared index that served the filter.
	Index string
	// Indexes are the namespace's declared indexes.
	Indexes []IndexRow
	// Query is the filter as hidden inputs for "delete all matching".
	Query []QueryParam
}

// QueryParam is one name=value of a search URL.
type QueryParam struct{ Name, Value string }

// Filtering reports whether the filter builder has conditions or an order.
func (v EntriesView) Filtering() bool { return len(v.Conds) > 0 || v.Order != "" }

// Searching reports whether a search filter is set.
func (v EntriesView) Searching() bool {
	return v.Prefix != "" || v.Data != "" || v.Flow != "" || v.Filtering()
}

// JSONToken is one highlighted piece of a pretty-printed JSON document.
type JSONToken struct {
	// Class is the CSS class: j-key, j-str, j-num, j-bool, j-null, j-punct
	// or "" for whitespace.
	Class string
	Text  string
}

// EntryView is an entry's page.
type EntryView struct {
	Name      string
	Key       string
	Version   int64
	FlowUUID  string
	Created   string
	Updated   string
	ExpiresAt string
	ExpiresIn string
	// Pretty is the data pretty-printed; Tokens the same, highlighted.
	Pretty   string
	Tokens   []JSONToken
	Size     int
	CanWrite bool
	CSRF     string
	BackURL  string
	// EditData is the text in the editor: Pretty, or what the user sent
	// when it was refused.
	EditData string
	// EditError is why the last edit was refused (with its line).
	EditError string
	// Conflict is set when a save lost against a concurrent change.
	Conflict *ConflictView
	// TTLUnit and TTLValue prefill the TTL form.
	TTLUnit  string
	TTLValue string
	TTLError string
	// DenoType is set for a Deno KV value with no JSON form (a Date, a
	// Map, a KvU64…): the page shows DenoType and DenoText, read-only.
	DenoType string
	DenoText string
}

// ConflictView shows both sides of a lost save.
type ConflictView struct {
	// Yours is what the user tried to save, from version YourBase.
	Yours    string
	YourBase int64
	// Theirs is the entry now (nil when it was deleted meanwhile).
	Theirs        []JSONToken
	TheirsVersion int64
	Deleted       bool
}

// DeleteView confirms deleting one or more entries.
type DeleteView struct {
	Name    string
	Keys    []string
	Version int64
	CSRF    string
	BackURL string
}

// DeleteMatchingView confirms deleting every entry a filter matches.
type DeleteMatchingView struct {
	Name string
	// Count is how many match now; AtLeast when counting stopped early.
	Count   int64
	AtLeast bool
	// Summary spells the filter's conditions.
	Summary []string
	Query   []QueryParam
	CSRF    string
	BackURL string
}

// NewEntryView is the create form.
type NewEntryView struct {
	Name       string
	Key        string
	Data       string
	TTLUnit    string
	TTLValue   string
	Error      string
	Namespaces []string
	CSRF       string
	// Gone is set when an edited entry expired or was deleted before it
	// was saved: the form offers to re-create it with the edited data,
	// GoneVersion being the version the edit started from.
	Gone        bool
	GoneVersion int64
}

// ImportView is the import form and its dry-run summary.
type ImportView struct {
	Name string
	CSRF string
	// Summary is set after a dry run or an import.
	Summary *ImportSummary
	Error   string
}

// ImportSummary counts what an import does (dry run) or did.
type ImportSummary struct {
	// ID identifies the uploaded file kept for applying the dry run.
	ID        string
	FileName  string
	New       int
	Changed   int
	Unchanged int
	// Expired counts lines whose expiresAt has passed (not written).
	Expired int
	// Problems lists refused lines ("line 3: …"), at most a few.
	Problems []string
	Invalid  int
	Applied  bool
	// Namespaces the file writes to.
	Namespaces []string
}

// FlowRow is one line of the flows page.
type FlowRow struct {
	ID         string
	URL        string
	Blocks     int
	DataStores string
	Trigger    string
	LastStatus string
	LastRun    string
}

// DeleteFlowView confirms deleting a flow.
type DeleteFlowView struct {
	ID, CSRF, Back string
	Runs           int
}

// FlowsView is the flows page.
type FlowsView struct {
	// CanWrite shows New flow (scope flows).
	CanWrite bool
	Rows     []FlowRow
	CSRF     string
	Error    string
}

// FieldView is one input of a block card.
type FieldView struct {
	Spec blocks.Field
	// Input is the form field name: "b.<card>.<field>".
	Input string
	Value string
	// Checked is the value of a boolean field.
	Checked bool
	// Options of enum and namespace fields.
	Options []blocks.Option
	// ShowWhen holds the conditions as data for app.js:
	// "field=a|b;other=c" with field names as form inputs of the card.
	ShowWhen string
	Hidden   bool
	Problems []string
	// Rows are the conditions of a "conditions" field, one per row (the
	// form adds an empty one).
	Rows []ConditionRow
}

// ConditionRow is one condition of a "conditions" field: the field, the
// operator and the value as text (JSON, or text taken as a string).
type ConditionRow struct {
	Field, Op, Value string
}

// BlockView is one block card.
type BlockView struct {
	// Card is the card's form-local id (stable while editing).
	Card     string
	ID       string
	Type     string
	Label    string
	Unknown  bool
	Fields   []FieldView
	Problems []string
	// ReadOnly hides the card's Test and Remove buttons.
	ReadOnly bool
}

// PaletteItem is a block type in the palette.
type PaletteItem struct {
	Type        string
	Label       string
	Description string
}

// StepView is one block's result in a run.
type StepView struct {
	Block    string
	Type     string
	Status   string
	Output   []JSONToken
	Error    string
	Duration string
}

// LogView is one console line of a run.
type LogView struct {
	Time    string
	Block   string
	Level   string
	Message string
}

// RunView is one run of a flow.
type RunView struct {
	ID string
	// URL is the run's page.
	URL      string
	Status   string
	Started  string
	Duration string
	Trigger  string
	Error    string
	Input    string
	Steps    []StepView
	Logs     []LogView
	// Draft marks a run of the editor's unsaved form (not in the history).
	Draft bool
}

// RunPageView is the page of one run.
type RunPageView struct {
	Run RunView
	// Flow is the flow's id now (after a rename), FlowURL its editor
	// ("" when the flow is gone).
	Flow, FlowURL, FlowUUID string
	StartedAt, FinishedAt   string
	Input, Output           []JSONToken
	// Request is the webhook request (method, query, headers), when any.
	Request []JSONToken
	// Response is what the webhook answered (the flow's respond option).
	Response   []JSONToken
	DataStores string
	Truncated  bool
}

// FlowView is the visual flow editor.
type FlowView struct {
	// ID is the flow's id ("" for a new flow).
	ID           string
	IsNew        bool
	UUID         string
	DataStores   string
	Trigger      string
	TriggerEvery string
	Blocks       []BlockView
	Palette      []PaletteItem
	// Problems not tied to a block.
	Problems []string
	CSRF     string
	RunInput string
	Run      *RunView
	Runs     []RunView
	// RunFilter is the run history's status filter ("" for all).
	RunFilter string
	// WebhookURL is the address that triggers a webhook flow.
	WebhookURL string
	// DraftInput is the input of a draft run or block test.
	DraftInput string
	// Source is the stored document as it was saved (YAML or JSON,
	// comments and line endings kept; never the webhook secret).
	Source string
	// SourceOpen opens the source editor (after a refused source save).
	SourceOpen bool
	Saved      bool
	CanWrite   bool
	// SecretSet says whether the flow has a webhook secret (never shown).
	SecretSet bool
}
