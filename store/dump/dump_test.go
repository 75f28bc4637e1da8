package dump_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dump"
	"github.com/flowkv/flowkv/store/sqlstore"
)

func open(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), testenv.SQLiteDSN(t), sqlstore.Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func apply(t *testing.T, st store.Store, content string, o dump.Options) (dump.Summary, error) {
	t.Helper()
	o.Limits = st.Limits()
	return dump.Apply(context.Background(), st, strings.NewReader(content), int64(len(content)), o)
}

// TestReaderRefusesBadLines: every bad line is a *LineError with its line
// number and code, and reading goes on after it.
func TestReaderRefusesBadLines(t *testing.T) {
	t.Parallel()
	lim := store.Limits{MaxDataBytes: 1 << 10}.Normalize()
	cases := []struct {
		name, line string
		code       store.Code
		msg        string
	}{
		{"not JSON", `{"name":`, store.CodeInvalidArgument, "not an exported entry"},
		{"not an object", `[1,2]`, store.CodeInvalidArgument, "not an exported entry"},
		{"missing data", `{"name":"a","key":"3"}`, store.CodeInvalidArgument, "needs name, key and data"},
		{"missing key", `{"name":"a","data":1}`, store.CodeInvalidArgument, "needs name, key and data"},
		{"key too long", `{"name":"a","key":"` + strings.Repeat("k", 257) + `","data":1}`, store.CodeTooLarge, "key is 257 bytes"},
		{"bad data", `{"name":"a","key":"3","data":"\u0000`, store.CodeInvalidArgument, "not an exported entry"},
		{"negative version", `{"name":"a","key":"3","data":1,"version":-1}`, store.CodeInvalidArgument, "version must not be negative"},
		{"bad time", `{"name":"a","key":"3","data":1,"createdAt":"yesterday"}`, store.CodeInvalidArgument, "not an exported entry"},
		{"two values", `{"name":"a","key":"3","data":1} {"name":"a","key":"4","data":1}`, store.CodeInvalidArgument, "more than one JSON value"},
		{"control character in flowUuid", `{"name":"a","key":"3","data":1,"flowUuid":"f\u0001"}`, store.CodeInvalidArgument, "flowUuid"},
		{"reserved namespace denied", `{"name":"_flowkv.tokens","key":"3","data":1}`, store.CodeAccessDenied, "no grant"},
		{"data too large", `{"name":"a","key":"3","data":"` + strings.Repeat("x", 2<<10) + `"}`, store.CodeTooLarge, "data is"},
		{"line too long", `{"name":"a","key":"3","data":"` + strings.Repeat("x", 5<<10+64<<10) + `"}`, store.CodeTooLarge, "line is longer"},
		{"duplicate", `{"name":"a","key":"1","data":9}`, store.CodeInvalidArgument, "already on line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := `{"name":"a","key":"1","data":1}` + "\n\n" + c.line + "\n" + `{"name":"a","key":"5","data":5}`
			r := dump.NewReader(strings.NewReader(in), dump.Options{Limits: lim, KeepFlowUUID: true, Allow: func(n string) error { return store.AllGrants().Allow(n, store.Write) }})
			if _, line, _, _, err := r.Next(); err != nil || line != 1 {
				t.Fatalf("line 1: %v", err)
			}
			_, _, _, _, err := r.Next()
			var le *dump.LineError
			if !errors.As(err, &le) || le.Line != 3 || store.CodeOf(le.Err) != c.code || !strings.Contains(le.Message(), c.msg) {
				t.Fatalf("got %v, want line 3 %s %q", err, c.code, c.msg)
			}
			if strings.Contains(le.Message(), string(c.code)+":") {
				t.Errorf("message %q repeats the code", le.Message())
			}
			if e, line, _, _, err := r.Next(); err != nil || line != 4 || e.Key != "5" {
				t.Fatalf("line after the bad one: %+v line %d, %v", e, line, err)
			}
			if _, _, _, _, err := r.Next(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}
		})
	}
}

// TestApplyValidatesFirst: one bad line anywhere and nothing is written.
func TestApplyValidatesFirst(t *testing.T) {
	t.Parallel()
	st := open(t)
	_, err := apply(t, st, `{"name":"a","key":"1","data":1}`+"\n"+`{"name":"a","key":"2"}`+"\n", dump.Options{})
	if store.CodeOf(err) != store.CodeInvalidArgument || !strings.Contains(err.Error(), "line 2 (nothing was written)") {
		t.Fatalf("err = %v", err)
	}
	if names, _ := st.Names(context.Background()); len(names) != 0 {
		t.Fatalf("a refused import wrote %v", names)
	}
}

// TestApplyAndDryRun: counts, version order, expiry, unchanged entries
// left alone, the namespace override and flowUuid handling.
func TestApplyAndDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t)
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	in := `{"name":"a","key":"hi","data":{"b":1,"a":2},"version":9,"flowUuid":"f-1","createdAt":"2020-01-01T00:00:00Z","updatedAt":"2020-01-02T00:00:00Z"}` + "\n" +
		`{"name":"a","key":"lo","data":1,"version":3}` + "\n" +
		`{"name":"a","key":"old","data":1,"version":4,"expiresAt":"` + past + `"}` + "\n"
	o := dump.Options{KeepFlowUUID: true, Limits: st.Limits()}
	dry, err := dump.DryRun(ctx, st, strings.NewReader(in), o)
	if err != nil || dry.New != 2 || dry.Expired != 1 || dry.Written != 0 || len(dry.Namespaces) != 1 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if names, _ := st.Names(ctx); len(names) != 0 {
		t.Fatal("the dry run wrote")
	}
	sum, err := apply(t, st, in, o)
	if err != nil || sum.Written != 2 || sum.Expired != 1 {
		t.Fatalf("apply: %+v, %v", sum, err)
	}
	hi, _ := st.FindNameKey(ctx, "a", "hi")
	lo, _ := st.FindNameKey(ctx, "a", "lo")
	if hi.Version != 9 || lo.Version != 3 || hi.FlowUUID != "f-1" || string(hi.Data) != `{"a":2,"b":1}` || hi.CreatedAt.Year() != 2020 {
		t.Fatalf("versions or fields not restored: %+v %+v", hi, lo)
	}
	if _, err := st.FindNameKey(ctx, "a", "old"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("expired entry: %v", err)
	}
	// Again: everything unchanged, nothing written, versions kept.
	if sum, err := apply(t, st, in, o); err != nil || sum.Unchanged != 2 || sum.Written != 0 {
		t.Fatalf("second apply: %+v, %v", sum, err)
	}
	if again, _ := st.FindNameKey(ctx, "a", "hi"); again.Version != 9 {
		t.Fatalf("unchanged entry rewritten: version %d", again.Version)
	}
	// Into another namespace, without the right to stamp flows.
	if sum, err := apply(t, st, in, dump.Options{Name: "b"}); err != nil || sum.New != 2 {
		t.Fatalf("apply into b: %+v, %v", sum, err)
	}
	if b, err := st.FindNameKey(ctx, "b", "hi"); err != nil || b.FlowUUID != "" {
		t.Fatalf("b/hi: %+v, %v", b, err)
	}
}

// TestApplyWithoutImporter: on a store that cannot restore versions and
// timestamps, entries are upserted with their remaining TTL and expired
// ones skipped.
func TestApplyWithoutImporter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := open(t)
	st := struct{ store.Store }{raw} // hides Import
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	in := `{"name":"p","key":"live","data":{"b":1,"a":2},"version":40,"flowUuid":"f-1","expiresAt":"` + soon + `"}` + "\n" +
		`{"name":"p","key":"dead","data":1,"version":41,"expiresAt":"` + past + `"}` + "\n" +
		`{"name":"p","key":"plain","data":[1],"version":3}` + "\n"
	sum, err := apply(t, st, in, dump.Options{KeepFlowUUID: true})
	if err != nil || sum.Written != 2 || sum.Expired != 1 {
		t.Fatalf("apply = %+v, %v", sum, err)
	}
	live, err := raw.FindNameKey(ctx, "p", "live")
	if err != nil || string(live.Data) != `{"a":2,"b":1}` || live.FlowUUID != "f-1" || live.ExpiresAt == nil {
		t.Fatalf("live entry: %+v, %v", live, err)
	}
	if d := time.Until(*live.ExpiresAt); d <= 50*time.Minute || d > time.Hour {
		t.Errorf("live entry expires in %v, want the remaining hour", d)
	}
	if _, err := raw.FindNameKey(ctx, "p", "dead"); store.CodeOf(err) != store.CodeNotFound {
		t.Errorf("expired entry imported: %v", err)
	}
	if plain, err := raw.FindNameKey(ctx, "p", "plain"); err != nil || plain.ExpiresAt != nil || string(plain.Data) != "[1]" {
		t.Errorf("plain entry: %+v, %v", plain, err)
	}
}

// Declared indexes travel with their namespace: an export lists them after
// the entries, an import declares them again (and a bad one is refused).
func TestIndexesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := open(t)
	for i, st := range []string{"paid", "open", "paid"} {
		if _, err := src.Insert(ctx, "orders", string(rune('a'+i)), []byte(`{"status":"`+st+`"}`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.CreateIndex(ctx, "orders", `["status"]`); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := dump.NewWriter(&b)
	if err := dump.Export(ctx, src, w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if !strings.HasSuffix(b.String(), `{"index":{"name":"orders","field":"status"}}`+"\n") || w.Count() != 3 {
		t.Fatalf("export:\n%s", b.String())
	}
	dst := open(t)
	dry, err := dump.DryRun(ctx, dst, strings.NewReader(b.String()), dump.Options{Limits: dst.Limits()})
	if err != nil || dry.Indexes != 1 || dry.New != 3 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	sum, err := apply(t, dst, b.String(), dump.Options{})
	if err != nil || sum.Indexes != 1 || sum.Written != 3 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	p, err := dst.Query(ctx, store.Query{Name: "orders", Where: []store.Condition{{Field: "status", Op: store.OpEq, Value: []byte(`"paid"`)}}})
	if err != nil || p.Index != "status" || len(p.Entries) != 2 {
		t.Fatalf("query after import: %+v, %v", p, err)
	}
	for _, bad := range []string{
		`{"index":{"name":"orders","field":"a..b"}}`,
		`{"index":{"name":"orders"}}`,
		`{"index":{"name":"orders","field":"$key"}}`,
		`{"index":{"name":"orders","field":"x"},"name":"orders"}`,
	} {
		if _, err := apply(t, dst, bad, dump.Options{}); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", bad, err)
		}
	}
	if _, err := apply(t, dst, `{"index":{"name":"orders","field":"x"}}`, dump.Options{Allow: func(string) error { return store.ErrAccessDenied }}); store.CodeOf(err) != store.CodeAccessDenied {
		t.Errorf("an index outside the grants: %v", err)
	}
}
