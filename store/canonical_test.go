package store_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestCanonicalize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"key order", `{"b":2,"a":1}`, `{"a":1,"b":2}`},
		{"nested key order", `{"z":{"y":1,"x":[{"d":1,"c":2}]},"a":null}`, `{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}`},
		{"keys sort by bytes", `{"é":1,"z":2,"Z":3,"":4}`, `{"":4,"Z":3,"z":2,"é":1}`},
		{"whitespace", " \n\t{ \"a\" :\t[ 1 , 2 ] }\r\n ", `{"a":[1,2]}`},
		{"array order kept", `[3,1,2]`, `[3,1,2]`},
		{"int", `1`, `1`},
		{"one point zero", `1.0`, `1`},
		{"exponent", `1e0`, `1`},
		{"exponent upper", `1E2`, `100`},
		{"exponent plus", `25e+1`, `250`},
		{"negative exponent integer", `100e-2`, `1`},
		{"minus zero", `-0`, `0`},
		{"minus zero float", `-0.0`, `0`},
		{"zero exponent", `0e10`, `0`},
		{"fraction", `0.5`, `0.5`},
		{"fraction exponent", `5e-1`, `0.5`},
		{"negative fraction", `-1.25`, `-1.25`},
		{"small", `1e-7`, `1e-07`},
		{"int64 max", `9223372036854775807`, `9223372036854775807`},
		{"int64 min", `-9223372036854775808`, `-9223372036854775808`},
		{"beyond float exact int", `9007199254740993`, `9007199254740993`},
		{"beyond float exact int as float literal", `9007199254740993.0`, `9007199254740993`},
		{"big int keeps digits", `123456789012345678901234567890`, `123456789012345678901234567890`},
		{"negative big int", `-123456789012345678901234567890`, `-123456789012345678901234567890`},
		{"big int as exponent", `1e22`, `10000000000000000000000`},
		{"big int as exponent with fraction digits", `1.5e21`, `1500000000000000000000`},
		{"html chars unescaped", `"<a href='x'>&</a>"`, `"<a href='x'>&</a>"`},
		{"unicode escapes decoded", `"\u00e9\u0041"`, `"éA"`},
		{"control chars escaped", `"a\u0001b\n"`, `"a\u0001b\n"`},
		{"escaped quote and backslash", `"\"\\"`, `"\"\\"`},
		{"solidus unescaped", `"a\/b"`, `"a/b"`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`},
		{"duplicate key last wins", `{"a":1,"a":2}`, `{"a":2}`},
		{"string", `"hello"`, `"hello"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := store.Canonicalize(json.RawMessage(c.in))
			if err != nil {
				t.Fatalf("Canonicalize(%s): %v", c.in, err)
			}
			if string(got) != c.want {
				t.Fatalf("Canonicalize(%s) = %s, want %s", c.in, got, c.want)
			}
			again, err := store.Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Fatalf("not idempotent: Canonicalize(%s) = %s, %v", got, again, err)
			}
		})
	}
}

func TestCanonicalizeEqualValues(t *testing.T) {
	t.Parallel()
	groups := [][]string{
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, "{ \"b\" : 2.0 ,\n\"a\":1e0}"},
		{`1`, `1.0`, `1e0`, `10e-1`, `0.1e1`},
		{`0`, `-0`, `0.0`, `-0e5`},
		{`1e22`, `10000000000000000000000`, `1.0e22`, `100000000000000000000e2`},
		{`9007199254740993`, `9007199254740993.0`, `9.007199254740993e15`},
		{`"A"`, `"\u0041"`},
		{`[1,{"x":"<>"}]`, `[1.0,{"x":"\u003c\u003e"}]`},
	}
	for _, g := range groups {
		first, err := store.Canonicalize(json.RawMessage(g[0]))
		if err != nil {
			t.Fatalf("Canonicalize(%s): %v", g[0], err)
		}
		for _, other := range g[1:] {
			c, err := store.Canonicalize(json.RawMessage(other))
			if err != nil {
				t.Fatalf("Canonicalize(%s): %v", other, err)
			}
			if string(c) != string(first) {
				t.Errorf("%s canonicalises to %s, but %s to %s", g[0], first, other, c)
			}
			if store.DataHash(c) != store.DataHash(first) {
				t.Errorf("DataHash differs for %s and %s", g[0], other)
			}
		}
	}
}

func TestCanonicalizeDifferentValues(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{`{"a":1}`, `{"a":2}`},
		{`{"a":1}`, `{"a":1,"b":null}`},
		{`[1,2]`, `[2,1]`},
		{`1`, `"1"`},
		{`null`, `{}`},
		{`9007199254740993`, `9007199254740992`},
		{`123456789012345678901234567890`, `123456789012345678901234567891`},
	}
	for _, p := range pairs {
		a, errA := store.Canonicalize(json.RawMessage(p[0]))
		b, errB := store.Canonicalize(json.RawMessage(p[1]))
		if errA != nil || errB != nil {
			t.Fatalf("Canonicalize(%s, %s): %v, %v", p[0], p[1], errA, errB)
		}
		if string(a) == string(b) || store.DataHash(a) == store.DataHash(b) {
			t.Errorf("%s and %s canonicalise or hash equal (%s)", p[0], p[1], a)
		}
	}
}

func TestCanonicalizeInvalid(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", store.DefaultMaxDepth+1) + strings.Repeat("]", store.DefaultMaxDepth+1)
	cases := []struct{ name, in, want string }{
		{"empty", ``, "unexpected end"},
		{"garbage", `{a:1}`, "not valid JSON"},
		{"unterminated", `{"a":1`, "not valid JSON"},
		{"trailing value", `{"a":1} {"b":2}`, "trailing data"},
		{"trailing garbage", `1 x`, "trailing data"},
		{"trailing bracket", `[1]]`, "trailing data"},
		{"NaN", `NaN`, "not valid JSON"},
		{"leading zero", `01`, "not valid JSON"},
		{"too deep", deep, "nested deeper"},
		{"too deep objects", strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70), "nested deeper"},
		{"float overflow", `1e400`, "out of range"},
		{"float overflow negative", `-1.5e309`, "out of range"},
	}
	for _, c := range cases {
		_, err := store.Canonicalize(json.RawMessage(c.in))
		if err == nil {
			t.Errorf("%s: Canonicalize(%.40s) succeeded", c.name, c.in)
			continue
		}
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s: error %v is not invalid_argument", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

func TestCanonicalizeDepthLimit(t *testing.T) {
	t.Parallel()
	atLimit := strings.Repeat("[", store.DefaultMaxDepth) + strings.Repeat("]", store.DefaultMaxDepth)
	if _, err := store.Canonicalize(json.RawMessage(atLimit)); err != nil {
		t.Fatalf("depth %d refused: %v", store.DefaultMaxDepth, err)
	}
	// Brackets inside strings do not count.
	inString := `"` + strings.Repeat("[{", 200) + `\"` + `"`
	if _, err := store.Canonicalize(json.RawMessage(inString)); err != nil {
		t.Fatalf("brackets in a string counted as nesting: %v", err)
	}
}

func TestDataHash(t *testing.T) {
	t.Parallel()
	h := store.DataHash([]byte(`{"a":1}`))
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("DataHash = %q, want 64 lowercase hex digits", h)
	}
	if h != store.DataHash([]byte(`{"a":1}`)) {
		t.Fatal("DataHash is not deterministic")
	}
	if h == store.DataHash([]byte(`{"a":2}`)) {
		t.Fatal("DataHash equal for different inputs")
	}
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {-1 * 0.0, "0"}, {1, "1"}, {-3, "-3"}, {0.5, "0.5"}, {1e-7, "1e-07"},
		{1 << 62, "4611686018427388000"}, {1e300, "1" + strings.Repeat("0", 300)}, {1e21, "1000000000000000000000"}, {1.5, "1.5"},
	}
	for _, c := range cases {
		if got := store.FormatNumber(c.in); got != c.want {
			t.Errorf("FormatNumber(%v) = %s, want %s", c.in, got, c.want)
		}
		// The output is canonical itself.
		if got, err := store.Canonicalize(json.RawMessage(store.FormatNumber(c.in))); err != nil || string(got) != c.want {
			t.Errorf("Canonicalize(FormatNumber(%v)) = %s, %v", c.in, got, err)
		}
	}
}

func TestSumData(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		current, delta json.RawMessage
		want           string
		code           store.Code
	}{
		{"absent counts as zero", nil, json.RawMessage(`5`), "5", ""},
		{"ints", json.RawMessage(`40`), json.RawMessage(`2`), "42", ""},
		{"negative", json.RawMessage(`1`), json.RawMessage(`-3`), "-2", ""},
		{"ints stay exact beyond 2^53", json.RawMessage(`9007199254740992`), json.RawMessage(`1`), "9007199254740993", ""},
		{"int64 max exact", json.RawMessage(`9223372036854775806`), json.RawMessage(`1`), "9223372036854775807", ""},
		{"floats", json.RawMessage(`0.25`), json.RawMessage(`0.5`), "0.75", ""},
		{"int plus float", json.RawMessage(`1`), json.RawMessage(`0.5`), "1.5", ""},
		{"float that is integral", json.RawMessage(`1.5`), json.RawMessage(`1.5`), "3", ""},
		{"whitespace", json.RawMessage(" 2 "), json.RawMessage("\t3\n"), "5", ""},
		{"overflow becomes float", json.RawMessage(`9223372036854775807`), json.RawMessage(`1`), "9223372036854776000", ""},
		{"negative overflow becomes float", json.RawMessage(`-9223372036854775808`), json.RawMessage(`-1`), "-9223372036854776000", ""},
		{"float overflow", json.RawMessage(`1e308`), json.RawMessage(`1e308`), "", store.CodeInvalidArgument},
		{"non-number current", json.RawMessage(`"5"`), json.RawMessage(`1`), "", store.CodeInvalidArgument},
		{"object current", json.RawMessage(`{"n":1}`), json.RawMessage(`1`), "", store.CodeInvalidArgument},
		{"null current", json.RawMessage(`null`), json.RawMessage(`1`), "", store.CodeInvalidArgument},
		{"non-number delta", json.RawMessage(`1`), json.RawMessage(`"x"`), "", store.CodeInvalidArgument},
		{"empty delta", json.RawMessage(`1`), json.RawMessage(``), "", store.CodeInvalidArgument},
		{"bad number delta", json.RawMessage(`1`), json.RawMessage(`1..2`), "", store.CodeInvalidArgument},
		{"two numbers", json.RawMessage(`1`), json.RawMessage(`1 2`), "", store.CodeInvalidArgument},
	}
	for _, c := range cases {
		got, err := store.SumData(c.current, c.delta)
		if c.code != "" {
			if store.CodeOf(err) != c.code {
				t.Errorf("%s: SumData(%s, %s) = %s, %v; want %s", c.name, c.current, c.delta, got, err, c.code)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%s: SumData(%s, %s) = %s, %v; want %s", c.name, c.current, c.delta, got, err, c.want)
		}
	}
}

func TestNumberAdd(t *testing.T) {
	t.Parallel()
	n, err := store.ParseNumber(json.RawMessage(`7`))
	if err != nil || n.IsFloat || n.Int != 7 {
		t.Fatalf("ParseNumber(7) = %+v, %v", n, err)
	}
	f, err := store.ParseNumber(json.RawMessage(`7.0`))
	if err != nil || !f.IsFloat || f.Float != 7 {
		t.Fatalf("ParseNumber(7.0) = %+v, %v", f, err)
	}
	if s := n.Add(n); s.IsFloat || s.Int != 14 {
		t.Fatalf("7+7 = %+v", s)
	}
	if s := n.Add(f); !s.IsFloat || string(s.JSON()) != "14" {
		t.Fatalf("7+7.0 = %+v (%s)", s, s.JSON())
	}
}
