package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// The entries-page benchmarks run against one SQLite namespace of
// benchEntries() entries (default 1,000,000; FLOWKV_UI_BENCH_ENTRIES
// overrides it), built once per process in a temporary directory.
func benchEntries() int {
	if n, err := strconv.Atoi(os.Getenv("FLOWKV_UI_BENCH_ENTRIES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

type benchEnv struct {
	st      store.Store
	ui      *UI
	handler http.Handler
	cookie  *http.Cookie
	n       int
	// depthCursor continues the listing at entry n/2.
	depthCursor string
	dir         string
}

var (
	benchOnce sync.Once
	bench     *benchEnv
	benchErr  error
)

func benchKey(i int) string { return fmt.Sprintf("k%08d", i) }

func setupBench(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "flowkv-ui-bench-")
		if err != nil {
			benchErr = err
			return
		}
		st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "bench.db"), sqlstore.Options{})
		if err != nil {
			benchErr = err
			return
		}
		n := benchEntries()
		const batch = 100
		muts := make([]store.Mutation, 0, batch)
		for i := 0; i < n; i++ {
			data := fmt.Sprintf(`{"n":%d,"status":"open","customer":{"id":%d,"name":"Customer %d"},"items":[{"sku":"A-%d","qty":%d}]}`, i, i%977, i%977, i%1000, i%7+1)
			muts = append(muts, store.Mutation{Op: store.OpSet, Name: "big", Key: benchKey(i), Data: json.RawMessage(data)})
			if len(muts) == batch || i == n-1 {
				if _, err := st.Atomic(ctx, nil, muts); err != nil {
					benchErr = fmt.Errorf("load entry %d: %w", i, err)
					return
				}
				muts = muts[:0]
			}
		}
		tm := tokens.New(st)
		_, admin, err := tm.Create(ctx, "admin", store.AllGrants())
		if err != nil {
			benchErr = err
			return
		}
		u := New(Config{Store: st, Verify: TokenVerifier(tm)})
		ss, err := u.sessions.create(ctx, admin.Key, "admin")
		if err != nil {
			benchErr = err
			return
		}
		env := &benchEnv{st: st, ui: u, handler: u.Handler(), cookie: &http.Cookie{Name: sessionCookie, Value: ss.id}, n: n, dir: dir}
		// Walk to the middle with the largest pages the store allows.
		cursor, seen := "", 0
		for seen < n/2 {
			step := min(1000, n/2-seen)
			pg, err := st.List(ctx, "big", "", cursor, step)
			if err != nil {
				benchErr = err
				return
			}
			seen += len(pg.Entries)
			cursor = pg.NextCursor
		}
		env.depthCursor = cursor
		bench = env
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func (env *benchEnv) get(b *testing.B, path string, partial bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(env.cookie)
	if partial {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	env.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
	}
	return rec
}

// BenchmarkEntriesPageAtDepth renders the full entries page at entry
// n/2 (page 10,001 of a 1,000,000-entry namespace): session check,
// cursor listing of 50 entries, templ rendering.
func BenchmarkEntriesPageAtDepth(b *testing.B) {
	env := setupBench(b)
	path := "/entries?name=big&cursor=" + env.depthCursor + "&page=" + strconv.Itoa(env.n/2/PageSize+1)
	rec := env.get(b, path, false)
	if !bytesContains(rec.Body.Bytes(), benchKey(env.n/2)) {
		b.Fatalf("page does not start at entry %d", env.n/2)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env.get(b, path, false)
	}
}

// BenchmarkEntriesPageFirst is the same page at depth 0, for comparison.
func BenchmarkEntriesPageFirst(b *testing.B) {
	env := setupBench(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env.get(b, "/entries?name=big", false)
	}
}

// BenchmarkSearchAsYouTypePrefix is one keystroke of the key-prefix search:
// the htmx partial for a prefix in the middle of the namespace.
func BenchmarkSearchAsYouTypePrefix(b *testing.B) {
	env := setupBench(b)
	prefix := benchKey(env.n / 2)[:6] // "k00500" matches 1,000 keys
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env.get(b, "/entries?name=big&prefix="+prefix, true)
	}
}

// BenchmarkSearchAsYouTypeData is one keystroke of the exact data search
// (complete JSON, key order differing from the stored value).
func BenchmarkSearchAsYouTypeData(b *testing.B) {
	env := setupBench(b)
	i := env.n / 2
	data := fmt.Sprintf(`{"status":"open","n":%d,"items":[{"qty":%d,"sku":"A-%d"}],"customer":{"name":"Customer %d","id":%d}}`, i, i%7+1, i%1000, i%977, i%977)
	path := "/entries?name=big&data=" + urlQueryEscape(data)
	rec := env.get(b, path, true)
	if !bytesContains(rec.Body.Bytes(), benchKey(i)) {
		b.Fatalf("data search did not find entry %d", i)
	}
	b.ResetTimer()
	for j := 0; j < b.N; j++ {
		env.get(b, path, true)
	}
}

// BenchmarkStoreListAtDepth is the raw store call the entries page makes
// at depth n/2, to separate the UI's cost from the database's.
func BenchmarkStoreListAtDepth(b *testing.B) {
	env := setupBench(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := env.st.List(ctx, "big", "", env.depthCursor, PageSize); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench != nil {
		bench.st.Close()
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// BenchmarkStoreFetchDataAtDepth is the raw store call of the data search
// (Fetch with name + data, 50 entries), to separate the UI's cost from the
// database's.
func BenchmarkStoreFetchDataAtDepth(b *testing.B) {
	env := setupBench(b)
	ctx := context.Background()
	i := env.n / 2
	data := fmt.Sprintf(`{"status":"open","n":%d,"items":[{"qty":%d,"sku":"A-%d"}],"customer":{"name":"Customer %d","id":%d}}`, i, i%7+1, i%1000, i%977, i%977)
	b.ResetTimer()
	for j := 0; j < b.N; j++ {
		if _, err := env.st.Fetch(ctx, store.FetchQuery{Name: "big", Data: json.RawMessage(data), Limit: PageSize}); err != nil {
			b.Fatal(err)
		}
	}
}
