package store_test

import (
	"math/big"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestParseField(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"status":          "status",
		"customer.email":  "customer.email",
		"items.0.sku":     "items.0.sku",
		`["a.b"]`:         `["a.b"]`,
		`["status"]`:      "status",
		`a["b.c"].d`:      `a["b.c"].d`,
		`a.["b"]`:         "a.b",
		`["0"]`:           `["0"]`,
		`["$key"]`:        `["$key"]`,
		`x.$y`:            `x.$y`,
		"$key":            "$key",
		"$flowUuid":       "$flowUuid",
		"émoji.😀":         "émoji.😀",
		`["a\"b"]`:        `["a\"b"]`,
		`["\u00e9"]`:      "é",
		`["with space"]`:  "with space",
		"with space":      "with space",
		`["a]b"]`:         `["a]b"]`,
		`["line\nbreak"]`: `["line\nbreak"]`,
	}
	for in, want := range ok {
		f, err := store.ParseField(in)
		if err != nil {
			t.Errorf("ParseField(%q): %v", in, err)
			continue
		}
		if got := f.String(); got != want {
			t.Errorf("ParseField(%q).String() = %q, want %q", in, got, want)
		}
		// The canonical spelling parses to itself.
		g, err := store.ParseField(f.String())
		if err != nil || g.String() != f.String() {
			t.Errorf("canonical %q does not round-trip: %q, %v", f.String(), g.String(), err)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", "$nope", "$", "[a]", `["a"`, `["a"]x`, `a]`, `a"b`, "01", "1234567890", "a\x00b", "\xff", `["\u0000"]`} {
		if _, err := store.ParseField(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("ParseField(%q): %v, want invalid_argument", bad, err)
		}
	}
}

// NumberKey orders JSON numbers exactly as their values, at any size.
func TestNumberKeyOrder(t *testing.T) {
	t.Parallel()
	lits := []string{"0", "-0", "1", "-1", "10", "9", "0.5", "0.55", "-0.5", "-0.55", "-0.51", "1e-7", "-1e-7",
		"9007199254740992", "9007199254740993", "-9007199254740993", "123456789012345678901234567890",
		"1.5e300", "-1.5e300", "1e-300", "100", "99.99", "1e2", "2.5"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		switch r.IntN(3) {
		case 0:
			lits = append(lits, strconv.FormatInt(r.Int64()-r.Int64(), 10))
		case 1:
			lits = append(lits, strconv.FormatFloat((r.Float64()-0.5)*1e6, 'g', -1, 64))
		default:
			lits = append(lits, strconv.FormatFloat((r.Float64()-0.5)*float64(r.IntN(1000)), 'e', r.IntN(8), 64))
		}
	}
	type num struct {
		lit string
		v   *big.Rat
		key string
	}
	var ns []num
	for _, l := range lits {
		v, ok := new(big.Rat).SetString(l)
		if !ok {
			t.Fatalf("bad literal %s", l)
		}
		nv, err := store.NumberValue(l)
		if err != nil {
			t.Fatalf("NumberValue(%s): %v", l, err)
		}
		ns = append(ns, num{l, v, nv.NumberKey()})
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].key < ns[j].key })
	for i := 1; i < len(ns); i++ {
		c := ns[i-1].v.Cmp(ns[i].v)
		if c > 0 || (c == 0) != (ns[i-1].key == ns[i].key) {
			t.Fatalf("%s (key %q) sorts before %s (key %q)", ns[i-1].lit, ns[i-1].key, ns[i].lit, ns[i].key)
		}
	}
}

// Values of different kinds order by kind; equal values of a kind are
// Equal.
func TestValueOrder(t *testing.T) {
	t.Parallel()
	order := []string{`-5`, `0`, `2.5`, `""`, `"A"`, `"a"`, `"é"`, `"😀"`, `null`, `false`, `true`}
	var prev store.Value
	for i, j := range order {
		v, err := store.ValueOfJSON([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && store.Compare(prev, v) >= 0 {
			t.Fatalf("%s does not sort after %s", j, order[i-1])
		}
		prev = v
	}
	a, _ := store.ValueOfJSON([]byte(`{"b":[1,2],"a":1}`))
	b, _ := store.ValueOfJSON([]byte(`{"a":1.0,"b":[1,2]}`))
	if !store.Equal(a, b) || store.Compare(a, b) != 0 {
		t.Fatal("equal objects are not Equal")
	}
	arr, _ := store.ValueOfJSON([]byte(`[1]`))
	if store.Equal(a, arr) || store.Compare(a, arr) != 0 {
		t.Fatal("an object equals an array, or they do not tie in order")
	}
}
