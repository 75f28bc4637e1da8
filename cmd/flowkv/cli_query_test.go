package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

func TestCLIQuery(t *testing.T) {
	queryCLI(t, cli{t: t, dsn: testenv.SQLiteDSN(t)})
}

// queryCLI is the scenario in the CLI: the paid orders of at
// least 10, largest first, counted; then with a declared index, which
// export and import carry.
func queryCLI(t *testing.T, c cli) {
	t.Helper()
	var in strings.Builder
	var want []string
	for i := range 30 {
		status := []string{"paid", "open"}[i%2]
		total := (i * 7) % 40
		fmt.Fprintf(&in, `{"name":"sales","key":"s-%02d","data":{"status":%q,"total":%d}}`+"\n", i, status, total)
		if status == "paid" && total >= 10 {
			want = append(want, fmt.Sprintf("s-%02d", i))
		}
	}
	c.runIn(in.String(), "import")
	totals := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(in.String()), "\n") {
		var k string
		var tot int
		fmt.Sscanf(l[strings.Index(l, `"key":"`)+7:], "s-%s", &k)
		fmt.Sscanf(l[strings.Index(l, `"total":`)+8:], "%d", &tot)
		totals["s-"+strings.TrimSuffix(k, `",`)[:2]] = tot
	}
	slices.SortStableFunc(want, func(a, b string) int {
		if totals[a] != totals[b] {
			return totals[b] - totals[a]
		}
		return strings.Compare(b, a) // ties by key, descending with the order
	})
	check := func(args ...string) {
		t.Helper()
		r := c.run(append([]string{"store", "query", "sales", "--where", "status=paid", "--where", "total>=10", "--order", "-total", "--count"}, args...)...)
		var got []string
		for _, e := range entries(t, r.out) {
			got = append(got, e.Key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query: %v, want %v", got, want)
		}
		if !strings.Contains(r.err, fmt.Sprintf("count: %d\n", len(want))) {
			t.Fatalf("stderr %q has no count %d", r.err, len(want))
		}
	}
	check()
	// Pages of 3, following the cursor on stderr.
	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		args := []string{"store", "query", "sales", "--where", "status = paid", "--where", "total gte 10", "--order", "-total", "--limit", "3"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		r := c.run(args...)
		for _, e := range entries(t, r.out) {
			keys = append(keys, e.Key)
		}
		_, next, _ := strings.Cut(r.err, "next cursor: ")
		cursor = strings.TrimSpace(next)
		if cursor == "" || pages > 20 {
			break
		}
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("paged query: %v, want %v", keys, want)
	}
	r := c.run("index", "create", "sales", "status")
	if e := entry(t, r.out); e.Name != "sales" {
		t.Fatalf("index create: %q", r.out)
	}
	if !strings.Contains(r.out, `"field":"status"`) || !strings.Contains(r.out, `"state":"ready"`) {
		t.Fatalf("index create: %q", r.out)
	}
	check()
	if r := c.run("index", "list", "sales"); strings.Count(r.out, "\n") != 1 || !strings.Contains(r.out, `"field":"status"`) {
		t.Fatalf("index list: %q", r.out)
	}
	if r := c.run("store", "names"); !strings.Contains(r.out, `"name":"sales","count":30,"indexes":["status"]`) {
		t.Fatalf("store names: %q", r.out)
	}
	if r := c.run("export", "--name", "sales"); !strings.Contains(r.out, `{"index":{"name":"sales","field":"status"}}`) {
		t.Fatalf("export without the index: %q", r.out)
	}
	c.fail(store.CodeInvalidArgument, "store", "query", "sales", "--where", "total like 3")
	c.fail(store.CodeInvalidArgument, "store", "query", "sales", "--where", "total<true")
	c.fail(store.CodeInvalidArgument, "index", "create", "sales", "$key")
	if r := c.run("index", "delete", "sales", "status"); !strings.Contains(r.out, `{"deleted":true}`) {
		t.Fatalf("index delete: %q", r.out)
	}
	check()
}

func TestParseWhere(t *testing.T) {
	cases := map[string]store.Condition{
		"status=paid":             {Field: "status", Op: "eq", Value: []byte(`"paid"`)},
		"total>=10":               {Field: "total", Op: "gte", Value: []byte(`10`)},
		"total > 10":              {Field: "total", Op: "gt", Value: []byte(`10`)},
		"code=\"10\"":             {Field: "code", Op: "eq", Value: []byte(`"10"`)},
		"flag!=true":              {Field: "flag", Op: "ne", Value: []byte(`true`)},
		"name^=Ad":                {Field: "name", Op: "startsWith", Value: []byte(`"Ad"`)},
		"tags*=red":               {Field: "tags", Op: "contains", Value: []byte(`"red"`)},
		`status in ["a","b"]`:     {Field: "status", Op: "in", Value: []byte(`["a","b"]`)},
		"email exists":            {Field: "email", Op: "exists", Value: []byte(`true`)},
		"email exists false":      {Field: "email", Op: "exists", Value: []byte(`false`)},
		`["a=b"]=x`:               {Field: `["a=b"]`, Op: "eq", Value: []byte(`"x"`)},
		"note=two words":          {Field: "note", Op: "eq", Value: []byte(`"two words"`)},
		"$updatedAt>=2024-01-01Z": {Field: "$updatedAt", Op: "gte", Value: []byte(`"2024-01-01Z"`)},
	}
	for in, want := range cases {
		got, err := parseWhere(in)
		if err != nil || got.Field != want.Field || got.Op != want.Op || string(got.Value) != string(want.Value) {
			t.Errorf("parseWhere(%q) = %+v (%s), %v; want %+v (%s)", in, got, got.Value, err, want, want.Value)
		}
	}
	for _, bad := range []string{"", "=x", "status", "total like 3", " >3"} {
		if _, err := parseWhere(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("parseWhere(%q): %v", bad, err)
		}
	}
}
