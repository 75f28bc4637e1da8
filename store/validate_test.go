package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestLimitsNormalize(t *testing.T) {
	t.Parallel()
	l := store.DefaultLimits()
	if l.MaxNameBytes != 128 || l.MaxKeyBytes != 256 || l.MaxDataBytes != 1<<20 ||
		l.MaxDepth != store.DefaultMaxDepth || l.MaxListLimit != store.DefaultMaxListLimit || l.MaxEntriesPerName != 0 {
		t.Fatalf("DefaultLimits() = %+v", l)
	}
	custom := store.Limits{MaxKeyBytes: 10, MaxEntriesPerName: 5}.Normalize()
	if custom.MaxKeyBytes != 10 || custom.MaxNameBytes != 128 || custom.MaxEntriesPerName != 5 {
		t.Fatalf("Normalize kept %+v", custom)
	}
}

func TestValidateNameKey(t *testing.T) {
	t.Parallel()
	l := store.DefaultLimits()
	cases := []struct {
		name      string
		validName string // "" means: use the name below as the name
		value     string
		code      store.Code
	}{
		{"empty", "", "", store.CodeInvalidArgument},
		{"one byte", "", "a", ""},
		{"unicode", "", "commandes-été-注文-🙂", ""},
		{"spaces and punctuation", "", "a b/c:d.e", ""},
		{"NUL", "", "a\x00b", store.CodeInvalidArgument},
		{"newline", "", "a\nb", store.CodeInvalidArgument},
		{"tab", "", "a\tb", store.CodeInvalidArgument},
		{"DEL", "", "a\x7fb", store.CodeInvalidArgument},
		{"C1 control", "", "a\u0085b", store.CodeInvalidArgument},
		{"invalid UTF-8", "", "a\xffb", store.CodeInvalidArgument},
		{"truncated UTF-8", "", "\xe2\x82", store.CodeInvalidArgument},
	}
	for _, c := range cases {
		errName := l.ValidateName(c.value)
		errKey := l.ValidateKey(c.value)
		if store.CodeOf(errName) != c.code || store.CodeOf(errKey) != c.code {
			t.Errorf("%s: ValidateName(%q) = %v, ValidateKey = %v; want code %q", c.name, c.value, errName, errKey, c.code)
		}
	}

	bounds := []struct {
		what     string
		validate func(string) error
		max      int
	}{
		{"name", l.ValidateName, 128},
		{"key", l.ValidateKey, 256},
		{"name (custom 10)", store.Limits{MaxNameBytes: 10}.Normalize().ValidateName, 10},
		{"key (custom 10)", store.Limits{MaxKeyBytes: 10}.Normalize().ValidateKey, 10},
	}
	for _, b := range bounds {
		if err := b.validate(strings.Repeat("k", b.max)); err != nil {
			t.Errorf("%s of %d bytes refused: %v", b.what, b.max, err)
		}
		err := b.validate(strings.Repeat("k", b.max+1))
		if store.CodeOf(err) != store.CodeTooLarge {
			t.Errorf("%s of %d bytes: %v, want too_large", b.what, b.max+1, err)
		}
	}
	// Bytes, not characters: 64 two-byte runes are 128 bytes, 65 are 130.
	if err := l.ValidateName(strings.Repeat("é", 64)); err != nil {
		t.Errorf("128-byte unicode name refused: %v", err)
	}
	if err := l.ValidateName(strings.Repeat("é", 65)); store.CodeOf(err) != store.CodeTooLarge {
		t.Errorf("130-byte unicode name: %v, want too_large", err)
	}
	if err := l.ValidateNameKey("orders", strings.Repeat("k", 257)); store.CodeOf(err) != store.CodeTooLarge {
		t.Errorf("ValidateNameKey with a 257-byte key: %v", err)
	}
	if err := l.ValidateNameKey("", "k"); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("ValidateNameKey with an empty name: %v", err)
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	l := store.DefaultLimits()
	for _, ok := range []string{"", "a", "o-", strings.Repeat("p", 256)} {
		if err := l.ValidatePrefix(ok); err != nil {
			t.Errorf("ValidatePrefix(%.20q): %v", ok, err)
		}
	}
	if err := l.ValidatePrefix(strings.Repeat("p", 257)); store.CodeOf(err) != store.CodeTooLarge {
		t.Errorf("257-byte prefix: %v", err)
	}
	if err := l.ValidatePrefix("a\x00"); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("prefix with NUL: %v", err)
	}
}

func TestIsReserved(t *testing.T) {
	t.Parallel()
	if !store.IsReserved("_flowkv.tokens") || store.IsReserved("flowkv") || store.IsReserved("_flowkv") {
		t.Fatal("IsReserved is wrong")
	}
}

func TestPrepareData(t *testing.T) {
	t.Parallel()
	l := store.Limits{MaxDataBytes: 20}.Normalize()
	// `"` + 18 bytes + `"` = 20 bytes encoded.
	at := json.RawMessage(`"` + strings.Repeat("x", 18) + `"`)
	if got, err := l.PrepareData(at); err != nil || string(got) != string(at) {
		t.Fatalf("data of exactly the limit: %s, %v", got, err)
	}
	over := json.RawMessage(`"` + strings.Repeat("x", 19) + `"`)
	if _, err := l.PrepareData(over); store.CodeOf(err) != store.CodeTooLarge {
		t.Fatalf("data one byte over: %v, want too_large", err)
	}
	// The limit applies to the canonical encoding: whitespace does not count.
	spaced := json.RawMessage(`{ "a" : "` + strings.Repeat("x", 10) + `" }`)
	if got, err := l.PrepareData(spaced); err != nil || string(got) != `{"a":"xxxxxxxxxx"}` {
		t.Fatalf("spaced data: %s, %v", got, err)
	}
	// A raw input far beyond the limit is refused without parsing.
	huge := json.RawMessage(`"` + strings.Repeat(" ", 5000) + `"`)
	if _, err := l.PrepareData(huge); store.CodeOf(err) != store.CodeTooLarge {
		t.Fatalf("huge raw data: %v", err)
	}
	for _, bad := range []string{"", "{", `{"a":}`, "1 2"} {
		if _, err := l.PrepareData(json.RawMessage(bad)); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("PrepareData(%q): %v, want invalid_argument", bad, err)
		}
	}
	if _, err := l.PrepareData(nil); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("PrepareData(nil): %v", err)
	}
	deep := store.Limits{MaxDepth: 3}.Normalize()
	if _, err := deep.PrepareData(json.RawMessage(`[[[1]]]`)); err != nil {
		t.Errorf("depth 3 with MaxDepth 3: %v", err)
	}
	if _, err := deep.PrepareData(json.RawMessage(`[[[[1]]]]`)); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("depth 4 with MaxDepth 3: %v", err)
	}
	// The default limit: 1 MiB encoded.
	big := store.DefaultLimits()
	atMiB := json.RawMessage(`"` + strings.Repeat("x", 1<<20-2) + `"`)
	if _, err := big.PrepareData(atMiB); err != nil {
		t.Errorf("1 MiB data: %v", err)
	}
	overMiB := json.RawMessage(`"` + strings.Repeat("x", 1<<20-1) + `"`)
	if _, err := big.PrepareData(overMiB); store.CodeOf(err) != store.CodeTooLarge {
		t.Errorf("1 MiB + 1 data: %v", err)
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	l := store.DefaultLimits()
	cases := []struct {
		in, want int
		code     store.Code
	}{
		{0, store.DefaultLimit, ""},
		{-5, store.DefaultLimit, ""},
		{1, 1, ""},
		{1000, 1000, ""},
		{1001, 0, store.CodeInvalidArgument},
	}
	for _, c := range cases {
		got, err := l.PageLimit(c.in)
		if store.CodeOf(err) != c.code || got != c.want {
			t.Errorf("PageLimit(%d) = %d, %v; want %d, %q", c.in, got, err, c.want, c.code)
		}
	}
	small := store.Limits{MaxListLimit: 10}.Normalize()
	if got, err := small.PageLimit(0); err != nil || got != 10 {
		t.Errorf("default page with MaxListLimit 10 = %d, %v", got, err)
	}
	if err := store.ValidateOffset(-1); store.CodeOf(err) != store.CodeInvalidArgument {
		t.Errorf("ValidateOffset(-1) = %v", err)
	}
	if err := store.ValidateOffset(0); err != nil {
		t.Errorf("ValidateOffset(0) = %v", err)
	}
}

func TestValidateAtomic(t *testing.T) {
	t.Parallel()
	l := store.DefaultLimits()
	muts, err := l.ValidateAtomic(
		[]store.Check{{Name: "a", Key: "1", Version: 3}, {Name: "a", Key: "2", Version: 0}},
		[]store.Mutation{
			{Op: store.OpSet, Name: "a", Key: "1", Data: json.RawMessage(`{ "b":1, "a":2 }`)},
			{Op: store.OpSum, Name: "a", Key: "n", Data: json.RawMessage(`2`)},
			{Op: store.OpDelete, Name: "a", Key: "2", Data: json.RawMessage(`"ignored"`)},
		})
	if err != nil {
		t.Fatalf("valid atomic: %v", err)
	}
	if len(muts) != 3 || string(muts[0].Data) != `{"a":2,"b":1}` || muts[2].Data != nil {
		t.Fatalf("ValidateAtomic returned %+v", muts)
	}

	many := func(n int) []store.Mutation {
		out := make([]store.Mutation, n)
		for i := range out {
			out[i] = store.Mutation{Op: store.OpDelete, Name: "a", Key: strings.Repeat("k", i+1)}
		}
		return out
	}
	cases := []struct {
		name   string
		checks []store.Check
		muts   []store.Mutation
		code   store.Code
		msg    string
	}{
		{"100 actions", []store.Check{{Name: "a", Key: "c"}}, many(99), "", ""},
		{"101 actions", []store.Check{{Name: "a", Key: "c"}}, many(100), store.CodeInvalidArgument, "limit is 100"},
		{"unknown op", nil, []store.Mutation{{Op: "incr", Name: "a", Key: "k", Data: json.RawMessage(`1`)}}, store.CodeInvalidArgument, "unknown op"},
		{"empty op", nil, []store.Mutation{{Name: "a", Key: "k"}}, store.CodeInvalidArgument, "unknown op"},
		{"duplicate mutation", nil, []store.Mutation{
			{Op: store.OpSet, Name: "a", Key: "k", Data: json.RawMessage(`1`)},
			{Op: store.OpDelete, Name: "a", Key: "k"},
		}, store.CodeInvalidArgument, "mutated twice"},
		{"same key in two namespaces", nil, []store.Mutation{
			{Op: store.OpDelete, Name: "a", Key: "k"},
			{Op: store.OpDelete, Name: "b", Key: "k"},
		}, "", ""},
		{"set without data", nil, []store.Mutation{{Op: store.OpSet, Name: "a", Key: "k"}}, store.CodeInvalidArgument, "mutations[0]"},
		{"set bad json", nil, []store.Mutation{{Op: store.OpSet, Name: "a", Key: "k", Data: json.RawMessage(`{`)}}, store.CodeInvalidArgument, "mutations[0]"},
		{"sum non-number", nil, []store.Mutation{{Op: store.OpSum, Name: "a", Key: "k", Data: json.RawMessage(`"1"`)}}, store.CodeInvalidArgument, "sum needs a number"},
		{"negative ttl", nil, []store.Mutation{{Op: store.OpDelete, Name: "a", Key: "k", TTL: -1}}, store.CodeInvalidArgument, "ttl"},
		{"key too long in mutation", nil, []store.Mutation{{Op: store.OpDelete, Name: "a", Key: strings.Repeat("k", 257)}}, store.CodeTooLarge, "mutations[0]"},
		{"key too long in check", []store.Check{{Name: "a", Key: strings.Repeat("k", 257)}}, nil, store.CodeTooLarge, "checks[0]"},
		{"negative version", []store.Check{{Name: "a", Key: "k", Version: -1}}, nil, store.CodeInvalidArgument, "checks[0]"},
		{"empty name", nil, []store.Mutation{{Op: store.OpDelete, Key: "k"}}, store.CodeInvalidArgument, "mutations[0]"},
	}
	for _, c := range cases {
		_, err := l.ValidateAtomic(c.checks, c.muts)
		if store.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want code %q", c.name, err, c.code)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %q does not mention %q", c.name, err, c.msg)
		}
	}
	// Data over the limit in a set is too_large, with the index.
	small := store.Limits{MaxDataBytes: 4}.Normalize()
	_, err = small.ValidateAtomic(nil, []store.Mutation{{Op: store.OpSet, Name: "a", Key: "k", Data: json.RawMessage(`"long"`)}})
	if store.CodeOf(err) != store.CodeTooLarge || !strings.Contains(err.Error(), "mutations[0]") {
		t.Errorf("oversized set: %v", err)
	}
}
