package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dump"
	"github.com/flowkv/flowkv/templates"
)

// export streams the entries of a namespace, or of a search, in the dump
// format (store/dump) that flowkv export writes and both imports read.
// Without a search it lists exactly what flowkv export lists.
func (u *UI) export(c echo.Context) error {
	s := state(c)
	q := searchOf(c)
	if q.Name != "" {
		if err := s.grants.Allow(q.Name, store.Read); err != nil {
			return u.fail(c, err)
		}
	}
	if msg := jsonProblem([]byte(q.Data)); q.Data != "" && msg != "" {
		return u.badRequest(c, "The data search is not valid JSON: "+msg)
	}
	fname := "flowkv-export.jsonl"
	if q.Name != "" {
		fname = safeFileName(q.Name) + ".jsonl"
	}
	w := c.Response()
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+fname+`"`)
	w.WriteHeader(http.StatusOK)
	dw := dump.NewWriter(w)
	ctx := c.Request().Context()
	var err error
	switch {
	case q.Prefix == "" && q.Data == "" && q.Flow == "" && !q.filtering():
		var names []string
		if q.Name != "" {
			names = []string{q.Name}
		}
		err = dump.Export(ctx, s.st, dw, names...)
	case q.Name != "":
		err = dump.ExportPages(dw, func(cursor string) (store.Page, error) {
			pg, _, err := u.query(c, s.st, q, cursor, 1000)
			return pg.Page, err
		})
	default:
		err = dump.ExportPages(dw, func(cursor string) (store.Page, error) {
			fq := store.FetchQuery{KeyPrefix: q.Prefix, FlowUUID: q.Flow, Limit: 1000, Cursor: cursor}
			if q.Data != "" {
				fq.Data = json.RawMessage(q.Data)
			}
			return s.st.Fetch(ctx, fq)
		})
	}
	if err != nil {
		// Headers are gone: end the file with a line saying why (an import
		// refuses it: it is not an entry).
		u.log.Error("ui export failed", "err", err)
		if ferr := dw.Flush(); ferr != nil {
			return ferr
		}
		fmt.Fprintf(w, "{\"error\":%q}\n", store.Message(err))
		return nil
	}
	return dw.Flush()
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeFileName(s string) string {
	s = unsafeFileChars.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		return "export"
	}
	return truncate(s, 80)
}

func (u *UI) importPage(c echo.Context) error {
	v := templates.ImportView{Name: c.QueryParam("name"), CSRF: state(c).sess.CSRF}
	return render(c, http.StatusOK, templates.Import(u.page(c, "Import", "namespaces"), v))
}

// pendingImport is a dry run's uploaded file, kept until it is applied:
// the file itself (at most MaxImportBytes), not its parsed entries, so what
// it holds is its size.
type pendingImport struct {
	session, token string
	// name is the "import into" namespace of the dry run.
	name    string
	data    []byte
	summary templates.ImportSummary
	added   time.Time
	expires time.Time
}

// importCache keeps dry runs until applied, bounded so that uploads cannot
// grow the server's memory without end: one per session (a new dry run
// replaces the session's previous one), at most perToken bytes for all the
// sessions of one token, at most total bytes in all. Making room drops
// expired dry runs first, then the oldest dry run of the token holding the
// most; an upload therefore always fits, and a token that floods the cache
// only displaces its own dry runs once others are within their share.
type importCache struct {
	mu              sync.Mutex
	m               map[string]*pendingImport
	size            int64
	total, perToken int64
	now             func() time.Time
}

func newImportCache(total, perToken int64, now func() time.Time) *importCache {
	return &importCache{m: map[string]*pendingImport{}, total: total, perToken: perToken, now: now}
}

// bytes is what the cache holds.
func (ic *importCache) bytes() int64 {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.size
}

func (ic *importCache) drop(id string) {
	ic.size -= int64(len(ic.m[id].data))
	delete(ic.m, id)
}

// put keeps p and returns its id; p must be at most perToken bytes.
func (ic *importCache) put(p *pendingImport) string {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	now := ic.now()
	n := int64(len(p.data))
	held := map[string]int64{}
	for id, x := range ic.m {
		if now.After(x.expires) || x.session == p.session {
			ic.drop(id)
			continue
		}
		held[x.token] += int64(len(x.data))
	}
	// Room: this token's oldest first while it is over its share, then the
	// oldest of whichever token holds the most while the total is over.
	for held[p.token]+n > ic.perToken || ic.size+n > ic.total {
		who := p.token
		if held[p.token]+n <= ic.perToken {
			for t, b := range held {
				if b > held[who] {
					who = t
				}
			}
		}
		id := ic.oldest(who)
		if id == "" {
			break // nothing left to drop (p alone is within the bounds)
		}
		held[who] -= int64(len(ic.m[id].data))
		ic.drop(id)
	}
	id := randomToken()
	p.added, p.expires = now, now.Add(30*time.Minute)
	ic.m[id] = p
	ic.size += n
	return id
}

func (ic *importCache) oldest(token string) string {
	var id string
	for k, x := range ic.m {
		if x.token == token && (id == "" || x.added.Before(ic.m[id].added)) {
			id = k
		}
	}
	return id
}

func (ic *importCache) take(id, session string) *pendingImport {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	p := ic.m[id]
	if p == nil || p.session != session || ic.now().After(p.expires) {
		return nil
	}
	ic.drop(id)
	return p
}

// importOptions are the dump options of an import by this session: its
// grants decide which namespaces it may write, and only a token with scope
// admin may restore the flowUuid of the entries (docs/design.md, Access).
func (u *UI) importOptions(s *reqState, into string) dump.Options {
	return dump.Options{
		Limits:       s.st.Limits(),
		Name:         into,
		KeepFlowUUID: s.tok.Has(tokens.ScopeAdmin),
		Allow:        func(name string) error { return s.grants.Allow(name, store.Write) },
		Now:          u.now,
	}
}

// importDryRun reads the uploaded JSONL and reports how many entries are
// new, changed, unchanged and expired, writing nothing.
func (u *UI) importDryRun(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	v := templates.ImportView{Name: strings.TrimSpace(c.FormValue("name")), CSRF: s.sess.CSRF}
	again := func(status int, msg string) error {
		v.Error = msg
		return render(c, status, templates.Import(u.page(c, "Import", "namespaces"), v))
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return again(http.StatusBadRequest, "Choose a JSONL file to import.")
	}
	f, err := fh.Open()
	if err != nil {
		return again(http.StatusBadRequest, "The file could not be read.")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, u.cfg.MaxImportBytes+1))
	if err != nil {
		return again(http.StatusBadRequest, "The file could not be read.")
	}
	if int64(len(data)) > u.cfg.MaxImportBytes {
		return again(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than %d bytes.", u.cfg.MaxImportBytes))
	}
	if v.Name != "" {
		if err := s.st.Limits().ValidateName(v.Name); err != nil {
			return again(http.StatusBadRequest, "Into namespace: "+store.Message(err))
		}
	}
	res, err := dump.DryRun(ctx, s.st, bytes.NewReader(data), u.importOptions(s, v.Name))
	if err != nil {
		return u.fail(c, err)
	}
	sum := summaryView(fh.Filename, res)
	if sum.Invalid == 0 && sum.New+sum.Changed > 0 {
		sum.ID = u.imports.put(&pendingImport{session: s.sess.id, token: s.tok.ID, name: v.Name, data: data, summary: sum})
	}
	v.Summary = &sum
	return render(c, http.StatusOK, templates.Import(u.page(c, "Import", "namespaces"), v))
}

func summaryView(file string, s dump.Summary) templates.ImportSummary {
	v := templates.ImportSummary{
		FileName: file, New: s.New, Changed: s.Changed, Unchanged: s.Unchanged, Expired: s.Expired,
		Invalid: s.Invalid, Namespaces: s.Namespaces,
	}
	for _, p := range s.Problems {
		v.Problems = append(v.Problems, p.Message())
	}
	return v
}

// importApply imports the file of this session's dry run through the same
// dump.Apply as flowkv import: what is new or changed by now is written,
// with versions, timestamps and (for an admin) flowUuids restored.
func (u *UI) importApply(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	p := u.imports.take(c.FormValue("id"), s.sess.id)
	v := templates.ImportView{CSRF: s.sess.CSRF}
	if p == nil {
		v.Error = "That dry run has expired, was already applied, or was dropped to make room for newer ones: upload the file again."
		return render(c, http.StatusGone, templates.Import(u.page(c, "Import", "namespaces"), v))
	}
	res, err := dump.Apply(ctx, s.st, bytes.NewReader(p.data), int64(len(p.data)), u.importOptions(s, p.name))
	if err != nil {
		return u.fail(c, fmt.Errorf("import %s: %w", p.summary.FileName, err))
	}
	sum := summaryView(p.summary.FileName, res)
	sum.Applied = true
	v.Summary = &sum
	pg := u.page(c, "Import", "namespaces")
	pg.Flash = flashText("imported")
	return render(c, http.StatusOK, templates.Import(pg, v))
}
