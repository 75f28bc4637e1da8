package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/templates"
)

// export streams the entries of a namespace, or of a search, as JSONL: one
// store.Entry per line, the format import reads.
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
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	ctx := c.Request().Context()
	cursor := ""
	for {
		var pg store.Page
		var err error
		if q.Name != "" {
			pg, _, err = u.query(c, s.st, q, cursor, 1000)
		} else {
			fq := store.FetchQuery{KeyPrefix: q.Prefix, FlowUUID: q.Flow, Limit: 1000, Cursor: cursor}
			if q.Data != "" {
				fq.Data = json.RawMessage(q.Data)
			}
			pg, err = s.st.Fetch(ctx, fq)
		}
		if err != nil {
			// Headers are gone: end the file with a line saying why.
			u.log.Error("ui export failed", "err", err)
			fmt.Fprintf(bw, "{\"error\":%q}\n", store.Message(err))
			return bw.Flush()
		}
		for _, e := range pg.Entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		if pg.NextCursor == "" {
			return bw.Flush()
		}
		cursor = pg.NextCursor
	}
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
	v := templates.ImportView{Name: c.QueryParam("name"), CSRF: state(c).sess.csrf}
	return render(c, http.StatusOK, templates.Import(u.page(c, "Import", "namespaces"), v))
}

// importLine is one line of an import file.
type importLine struct {
	Name      string          `json:"name"`
	Key       string          `json:"key"`
	Data      json.RawMessage `json:"data"`
	FlowUUID  string          `json:"flowUuid"`
	ExpiresAt *time.Time      `json:"expiresAt"`
}

// pendingImport is a dry-run's parsed file, kept until applied.
type pendingImport struct {
	session  string
	fileName string
	writes   []importLine
	summary  templates.ImportSummary
	expires  time.Time
}

type importCache struct {
	mu  sync.Mutex
	m   map[string]*pendingImport
	now func() time.Time
}

func newImportCache(now func() time.Time) *importCache {
	return &importCache{m: map[string]*pendingImport{}, now: now}
}

func (ic *importCache) put(p *pendingImport) string {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	now := ic.now()
	for id, x := range ic.m {
		if now.After(x.expires) || x.session == p.session {
			delete(ic.m, id) // one pending import per session
		}
	}
	id := randomToken()
	p.expires = now.Add(30 * time.Minute)
	ic.m[id] = p
	return id
}

func (ic *importCache) take(id, session string) *pendingImport {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	p := ic.m[id]
	if p == nil || p.session != session || ic.now().After(p.expires) {
		return nil
	}
	delete(ic.m, id)
	return p
}

const maxImportProblems = 20

// importDryRun reads the uploaded JSONL and reports how many entries are
// new, changed and unchanged, writing nothing.
func (u *UI) importDryRun(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	v := templates.ImportView{Name: strings.TrimSpace(c.FormValue("name")), CSRF: s.sess.csrf}
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
	lim := s.st.Limits()
	sum := templates.ImportSummary{FileName: fh.Filename}
	problem := func(line int, format string, args ...any) {
		sum.Invalid++
		if len(sum.Problems) < maxImportProblems {
			sum.Problems = append(sum.Problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
		}
	}
	var writes []importLine
	names := map[string]bool{}
	seen := map[[2]string]int{}
	now := u.now()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 8*lim.MaxDataBytes+(64<<10))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var il importLine
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&il); err != nil {
			problem(n, "not a JSON object with name, key and data: %s", jsonProblem(line))
			continue
		}
		if v.Name != "" {
			il.Name = v.Name
		}
		if err := lim.ValidateNameKey(il.Name, il.Key); err != nil {
			problem(n, "%s", store.Message(err))
			continue
		}
		if err := s.grants.Allow(il.Name, store.Write); err != nil {
			problem(n, "%s", store.Message(err))
			continue
		}
		canon, err := lim.PrepareData(il.Data)
		if err != nil {
			problem(n, "%s", store.Message(err))
			continue
		}
		il.Data = canon
		if il.ExpiresAt != nil && !il.ExpiresAt.After(now) {
			problem(n, "the entry expired at %s", il.ExpiresAt.UTC().Format(time.RFC3339))
			continue
		}
		addr := [2]string{il.Name, il.Key}
		if prev, dup := seen[addr]; dup {
			problem(n, "%s/%s is also on line %d", il.Name, il.Key, prev)
			continue
		}
		seen[addr] = n
		cur, err := s.st.FindNameKey(ctx, il.Name, il.Key)
		switch {
		case store.CodeOf(err) == store.CodeNotFound:
			sum.New++
		case err != nil:
			return u.fail(c, err)
		case bytes.Equal(cur.Data, canon) && sameExpiry(cur.ExpiresAt, il.ExpiresAt):
			sum.Unchanged++
			continue
		default:
			sum.Changed++
		}
		names[il.Name] = true
		writes = append(writes, il)
	}
	if err := sc.Err(); err != nil {
		return again(http.StatusBadRequest, "The file could not be read: "+err.Error())
	}
	for n := range names {
		sum.Namespaces = append(sum.Namespaces, n)
	}
	sort.Strings(sum.Namespaces)
	if sum.Invalid == 0 && len(writes) > 0 {
		sum.ID = u.imports.put(&pendingImport{session: s.sess.id, fileName: fh.Filename, writes: writes, summary: sum})
	}
	v.Summary = &sum
	return render(c, http.StatusOK, templates.Import(u.page(c, "Import", "namespaces"), v))
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := a.Sub(*b)
	return d < time.Second && d > -time.Second
}

// importApply writes what a dry run of this session found new or changed.
func (u *UI) importApply(c echo.Context) error {
	s := state(c)
	ctx := c.Request().Context()
	p := u.imports.take(c.FormValue("id"), s.sess.id)
	v := templates.ImportView{CSRF: s.sess.csrf}
	if p == nil {
		v.Error = "That dry run has expired or was already applied: upload the file again."
		return render(c, http.StatusGone, templates.Import(u.page(c, "Import", "namespaces"), v))
	}
	now := u.now()
	for _, il := range p.writes {
		var ttl time.Duration
		if il.ExpiresAt != nil {
			if ttl = il.ExpiresAt.Sub(now); ttl <= 0 {
				continue // expired since the dry run
			}
		}
		if _, err := s.st.Upsert(ctx, il.Name, il.Key, il.Data, store.WriteOptions{TTL: ttl, FlowUUID: il.FlowUUID}); err != nil {
			return u.fail(c, fmt.Errorf("import %s/%s: %w", il.Name, il.Key, err))
		}
	}
	sum := p.summary
	sum.Applied, sum.ID = true, ""
	v.Summary = &sum
	pg := u.page(c, "Import", "namespaces")
	pg.Flash = flashText("imported")
	return render(c, http.StatusOK, templates.Import(pg, v))
}
