package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dump"
	"github.com/flowkv/flowkv/store/sqlstore"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fillForDump writes entries with several versions, a flowUuid and a TTL.
func fillForDump(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 5 {
		for v := 0; v <= i; v++ { // versions 1..5 apart
			if _, err := st.Upsert(ctx, "orders", fmt.Sprintf("o-%d", i), json.RawMessage(fmt.Sprintf(`{"total":%d,"v":%d}`, i, v)), store.WriteOptions{FlowUUID: "flow-a"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Upsert(ctx, "orders", "ttl", json.RawMessage(`"soon"`), store.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Insert(ctx, "orders", "<b>html</b>", json.RawMessage(`{"s":"<&>"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func entriesOf(t *testing.T, st store.Store, name string) []store.Entry {
	t.Helper()
	pg, err := st.List(context.Background(), name, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return pg.Entries
}

// sameDumpEntries: data, flowUuid, expiry, timestamps and versions equal.
func sameDumpEntries(t *testing.T, what string, want, got []store.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Key != w.Key || string(g.Data) != string(w.Data) || g.FlowUUID != w.FlowUUID || g.Version != w.Version ||
			!g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) ||
			(g.ExpiresAt == nil) != (w.ExpiresAt == nil) || (g.ExpiresAt != nil && !g.ExpiresAt.Equal(*w.ExpiresAt)) {
			t.Errorf("%s: %s = %+v, want %+v", what, w.Key, g, w)
		}
	}
}

var applyIDRe = regexp.MustCompile(`name="id" value="([^"]+)"`)

// uploadAndApply dry-runs content through the browser's import and applies it.
func uploadAndApply(t *testing.T, c *client, into, content string) string {
	t.Helper()
	st, body := c.upload("/import", into, content)
	if st != http.StatusOK {
		t.Fatalf("dry run: %d\n%s", st, body)
	}
	id := applyIDRe.FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no apply form:\n%s", body)
	}
	st, body, _ = c.post("/import/apply", url.Values{"id": {id[1]}})
	if st != http.StatusOK {
		t.Fatalf("apply: %d\n%s", st, body)
	}
	return body
}

// TestDumpIdenticalThroughEitherFace: the store browser's export lists and
// encodes exactly what flowkv export does (dump.Export), and a file from
// either imports through the browser and through flowkv import (dump.Apply
// with the CLI's options) into the same entries: versions, timestamps,
// expiry and flowUuid restored.
func TestDumpIdenticalThroughEitherFace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newHarness(t)
	// The destinations issue versions of their own before the import (an
	// admin token, the browser's session): the exported versions are
	// above them, so they are kept.
	for i := range 10 {
		if _, err := src.Store.Upsert(ctx, "pad", fmt.Sprint(i), json.RawMessage("1"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fillForDump(t, src.Store)
	want := entriesOf(t, src.Store, "orders")

	c := src.client()
	c.signIn(src.Admin)
	st, uiFile, _ := c.do(http.MethodGet, "/export?name=orders", nil)
	if st != http.StatusOK {
		t.Fatalf("export: %d", st)
	}
	var cliFile bytes.Buffer
	w := dump.NewWriter(&cliFile)
	if err := dump.Export(ctx, src.Store, w, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if uiFile != cliFile.String() {
		t.Fatalf("the browser's export differs from flowkv export:\n%s\n---\n%s", uiFile, cliFile.String())
	}

	cliOpts := func(st store.Store) dump.Options {
		return dump.Options{Limits: st.Limits(), KeepFlowUUID: true}
	}
	for _, file := range []struct{ from, content string }{{"browser", uiFile}, {"cli", cliFile.String()}} {
		// Into a fresh database through the browser, wired as flowkv serve
		// wires it (quotas counted)...
		dstStore := openSQLite(t)
		quotas, err := quota.Open(ctx, dstStore, quota.Options{NoBackground: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { quotas.Close() })
		dst := newHarnessConfig(t, dstStore, func(c *Config) { c.Quotas = quotas })
		dc := dst.client()
		dc.signIn(dst.Admin)
		uploadAndApply(t, dc, "", file.content)
		sameDumpEntries(t, file.from+" file through the browser", want, entriesOf(t, dst.Store, "orders"))
		// ...and through flowkv import.
		raw := openSQLite(t)
		sum, err := dump.Apply(ctx, raw, strings.NewReader(file.content), int64(len(file.content)), cliOpts(raw))
		if err != nil || sum.Written != len(want) {
			t.Fatalf("%s file through the CLI: %+v, %v", file.from, sum, err)
		}
		sameDumpEntries(t, file.from+" file through the CLI", want, entriesOf(t, raw, "orders"))
	}
}

// TestImportFlowUUIDNeedsAdmin: a token without scope admin imports its
// granted namespace, but the entries carry no flowUuid — it cannot make them
// look written by a flow — and a line for a namespace it may not write is
// refused.
func TestImportFlowUUIDNeedsAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	c.signIn(h.token("orders:write"))
	file := `{"name":"orders","key":"k","data":1,"version":7,"flowUuid":"someone-elses-flow"}` + "\n"
	uploadAndApply(t, c, "", file)
	e, err := h.Store.FindNameKey(context.Background(), "orders", "k")
	if err != nil || e.FlowUUID != "" || string(e.Data) != "1" {
		t.Fatalf("non-admin import: %+v, %v", e, err)
	}
	_, body := c.upload("/import", "", file+`{"name":"billing","key":"k","data":1}`+"\n")
	if !strings.Contains(body, `id="count-invalid">1<`) || !strings.Contains(body, "line 2: no grant to write namespace") || applyIDRe.MatchString(body) {
		t.Fatalf("a line outside the grants was not refused:\n%s", body)
	}

	// Write on every namespace is not the admin scope.
	w := h.client()
	w.signIn(h.token("*:write"))
	uploadAndApply(t, w, "", `{"name":"orders","key":"k3","data":1,"flowUuid":"flow-b"}`+"\n")
	if e, _ := h.Store.FindNameKey(context.Background(), "orders", "k3"); e.FlowUUID != "" {
		t.Fatalf("a *:write token without scope admin stamped a flowUuid: %+v", e)
	}

	// The admin restores it.
	a := h.client()
	a.signIn(h.Admin)
	uploadAndApply(t, a, "", `{"name":"orders","key":"k2","data":1,"flowUuid":"flow-b"}`+"\n")
	if e, _ := h.Store.FindNameKey(context.Background(), "orders", "k2"); e.FlowUUID != "flow-b" {
		t.Fatalf("admin import lost the flowUuid: %+v", e)
	}
}

// TestImportDryRunsBounded: dry runs keep their file until applied. An
// attacker holding several tokens opens many sessions and uploads file
// after file; what the server keeps never passes its bound, one session
// keeps one dry run, and another user's dry run still goes through and
// applies.
func TestImportDryRunsBounded(t *testing.T) {
	t.Parallel()
	const fileMax, total = 16 << 10, 64 << 10 // per token: 16 KiB, a quarter of total
	h := newHarnessConfig(t, openSQLite(t), func(c *Config) {
		c.MaxImportBytes, c.MaxPendingImportBytes = fileMax, total
	})
	var file strings.Builder
	for i := 0; file.Len() < fileMax-200; i++ {
		fmt.Fprintf(&file, `{"name":"junk","key":"k%05d","data":"%s"}`+"\n", i, strings.Repeat("x", 100))
	}
	content := file.String()

	// One session uploading again and again keeps one file.
	one := h.client()
	one.signIn(h.token("junk:write"))
	for range 10 {
		if st, _ := one.upload("/import", "", content); st != http.StatusOK {
			t.Fatalf("dry run: %d", st)
		}
	}
	if got := h.UI.imports.bytes(); got != int64(len(content)) {
		t.Fatalf("one session keeps %d bytes, want one file (%d)", got, len(content))
	}

	// Six tokens, five sessions each, three uploads per session.
	for range 6 {
		tok := h.token("junk:write")
		for range 5 {
			c := h.client()
			c.signIn(tok)
			for range 3 {
				if st, _ := c.upload("/import", "", content); st != http.StatusOK {
					t.Fatalf("dry run: %d", st)
				}
				if got := h.UI.imports.bytes(); got > total {
					t.Fatalf("dry runs keep %d bytes, above the bound of %d", got, total)
				}
			}
		}
	}
	// A file over the per-file bound is refused outright.
	if st, _ := one.upload("/import", "", content+strings.Repeat(" ", fileMax)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized file: %d", st)
	}

	// Someone else is served: their dry run is kept and applies.
	other := h.client()
	other.signIn(h.token("orders:write"))
	body := uploadAndApply(t, other, "", `{"name":"orders","key":"a","data":1}`+"\n")
	if !strings.Contains(body, `id="count-new">1<`) {
		t.Fatalf("apply summary:\n%s", body)
	}
	if _, err := h.Store.FindNameKey(context.Background(), "orders", "a"); err != nil {
		t.Fatalf("the other user's import: %v", err)
	}
	if got := h.UI.imports.bytes(); got > total {
		t.Fatalf("dry runs keep %d bytes, above the bound of %d", got, total)
	}
}
