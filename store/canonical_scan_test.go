package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The scanner must agree with the decoder-based reference on every input:
// same canonical bytes when both accept, and it may only refuse what the
// reference refuses.
func checkScanAgrees(t *testing.T, in []byte) {
	t.Helper()
	if checkDepth(in, DefaultMaxDepth) != nil {
		return
	}
	want, refErr := decodeCanonical(in)
	got, ok := scanCanonical(in)
	switch {
	case ok && refErr != nil:
		t.Fatalf("scanner accepts %q as %q, the reference refuses it: %v", in, got, refErr)
	case !ok && refErr == nil:
		t.Fatalf("scanner refuses %q, the reference gives %q", in, want)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("scanner gives %q for %q, the reference %q", got, in, want)
	}
}

var scanSeeds = []string{
	`{"b":2,"a":1}`, `[1,1.0,1e0,-0,0.5,-0.0,1E+2,1e-7,123456789012345678901234567890]`, `"<&>"`,
	`{"a":{"b":[null,true,false]}}`, `1e22`, `9007199254740993.0`, `1e400`, `{"a":1} x`, `[[[[`, `tru`, `nul`, `-`, `-a`, `1.`, `1e`, `1e+`, `.5`,
	`"\u00e9\ud83d\ude42"`, "\"\xff\xfe\"", `{"a":1,"a":2}`, `{"a":{"x":1},"b":0,"a":{"y":2}}`, `{"\u0061":1,"a":2}`,
	`"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude42\ud83d"`, `"\u2028\u2029"`, "\"\u2028\"", `"\b\f\n\r\t\/\\\""`,
	"\"a\x7fb\"", "\"\x01\"", `"\u0001\u001f"`, `"\x"`, `"\u12"`, `"\u12g4"`, `"abc`, `"`, ``, ` `, "\ufeff1", "\xef\xbf\xbd",
	`{"a" : 1 , "b" : [ 1 , 2 ] }`, `{,}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `[01]`, `-01`, `00`,
	"{\"é\":1,\"z\":2,\"Z\":3,\"\":4}",
	// Around the short-decimal fast path's bounds.
	`123456.5`, `1234567.5`, `0.0001`, `0.00001`, `0.00012`, `0.123456789012345`, `0.1234567890123456`, `-0.50`, `10.10`,
	`99999.999999999`, `999999.99999999`, `1.000000000000001`, `0.1000`, `-0.0`, `5.0e0`, `120.000`, "\xed\xa0\x80", "\"\xed\xa0\x80\"", `{"k":"\u0000"}`, `1 2`, `[] []`, "\t\n\r 7 \n",
}

func TestScanCanonicalAgrees(t *testing.T) {
	for _, s := range scanSeeds {
		checkScanAgrees(t, []byte(s))
	}
	checkScanAgrees(t, []byte(strings.Repeat("[", 64)+strings.Repeat("]", 64)))
	checkScanAgrees(t, []byte(`{"`+strings.Repeat("k", 5000)+`":"`+strings.Repeat("\\n", 3000)+`"}`))
}

func FuzzScanCanonical(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScanAgrees(t, in)
		// Also inside containers, where the scanner's bookkeeping differs.
		checkScanAgrees(t, append(append([]byte(`{"z":[`), in...), `],"a":0}`...))
	})
}

var benchDoc = json.RawMessage(`{"total": 12.5, "customer": {"name": "Ada", "id": 1234567}, "items": ["book", "pen", "<ink>"], "paid": true}`)

func BenchmarkCanonicalScan(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := scanCanonical(benchDoc); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkCanonicalDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeCanonical(benchDoc); err != nil {
			b.Fatal(err)
		}
	}
}
