package sqlstore

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

// SQLite plans the hot queries with the intended index even without
// ANALYZE statistics (a user's database has none).
func TestSQLitePlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testenv.SQLiteDSN(t), Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	data := json.RawMessage(`{"a":1}`)
	fetches := []struct {
		q    store.FetchQuery
		want string
	}{
		{store.FetchQuery{Name: "n", Data: data}, "USING INDEX entries_data (data_hash=? AND name=?)"},
		{store.FetchQuery{Data: data}, "USING INDEX entries_data (data_hash=?"},
		{store.FetchQuery{Name: "n", Data: data, Cursor: store.EncodeCursor("f", "n", "k")}, "USING INDEX entries_data (data_hash=? AND name=? AND key>?)"},
		{store.FetchQuery{FlowUUID: "f"}, "USING INDEX entries_flow (flow_uuid=?"},
		{store.FetchQuery{Name: "n", FlowUUID: "f"}, "USING INDEX entries_flow (flow_uuid=? AND name=?)"},
		{store.FetchQuery{Name: "n", KeyPrefix: "p"}, "USING PRIMARY KEY (name=? AND key>? AND key<?)"},
		{store.FetchQuery{Name: "n", Cursor: store.EncodeCursor("f", "n", "k")}, "USING PRIMARY KEY (name=? AND key>?)"},
	}
	for _, f := range fetches {
		q, args, _, err := s.fetchSQL(f.q)
		if err != nil {
			t.Fatal(err)
		}
		if p := plan(q, args...); !strings.Contains(p, f.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("fetch %+v: plan %q, want %q without a sort", f.q, p, f.want)
		}
	}
	lists := map[string]string{
		s.st.text[s.st.listAfter]:   "USING PRIMARY KEY (name=? AND key>?)",
		s.st.text[s.st.listAfterTo]: "USING PRIMARY KEY (name=? AND key>? AND key<?)",
		s.st.text[s.st.get]:         "USING PRIMARY KEY (name=? AND key=?)",
	}
	for q, want := range lists {
		if p := plan(q, "n", "k", "z", 0, 10); !strings.Contains(p, want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want %q", q, p, want)
		}
	}
}
