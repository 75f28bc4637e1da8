package torture

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/anishathalye/porcupine"
)

// readHistory parses a history written by dumpIllegal.
func readHistory(t *testing.T, path string, unknownReturnsInf bool) []porcupine.Operation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^c(\d+) \[(\d+), (\w+)\]us (\w+)\(([^,)]*)(?:, (\d+))?(?:, if=(\d+))?\) -> (.*)$`)
	var ops []porcupine.Operation
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		c, _ := strconv.Atoi(m[1])
		call, _ := strconv.ParseInt(m[2], 10, 64)
		ret := int64(math.MaxInt64)
		if m[3] != "inf" {
			ret, _ = strconv.ParseInt(m[3], 10, 64)
		}
		k := Kind(255)
		for i, n := range kindNames {
			if n == m[4] {
				k = Kind(i)
			}
		}
		if k == 255 {
			t.Fatalf("unknown operation %q", m[4])
		}
		in := Input{Kind: k, Name: "n", Key: m[5]}
		in.Val, _ = strconv.ParseInt(m[6], 10, 64)
		in.IfVer, _ = strconv.ParseInt(m[7], 10, 64)
		var out Output
		switch r := m[8]; {
		case r == "?":
			out.Unknown = true
			if unknownReturnsInf {
				ret = math.MaxInt64
			}
		case r == "absent":
		case r == "conflict" || r == "not_found" || r == "already_exists":
			out.Code = r
		case r == "deleted=true":
			out.OK = true
		case r == "deleted=false":
		default:
			var v, ver int64
			if n, _ := fmt.Sscanf(r, "%d@v%d", &v, &ver); n == 2 {
				out = Output{OK: true, Val: v, Ver: ver}
			} else if n, _ := fmt.Sscanf(r, "v%d", &ver); n == 1 {
				out = Output{OK: true, Ver: ver}
			} else {
				t.Fatalf("unknown result %q", r)
			}
		}
		ops = append(ops, porcupine.Operation{ClientId: c, Input: in, Call: call * 1000, Return: ret * 1000, Output: out})
		if ret == math.MaxInt64 {
			ops[len(ops)-1].Return = math.MaxInt64
		}
	}
	if len(ops) == 0 {
		t.Fatalf("%s: no operations", path)
	}
	return ops
}

// TestModelRejectsRecordedBugs replays histories the harness recorded
// against PostgreSQL: the checker must keep finding what it found.
func TestModelRejectsRecordedBugs(t *testing.T) {
	// Before the fix in sqlstore's write path, an insert that waited on a
	// concurrent writer of the key landed after a delete with a version
	// drawn before the wait: lower than versions the entry already had.
	ops := readHistory(t, "testdata/pg-insert-version-backwards.txt", false)
	if porcupine.CheckOperations(Model(), ops) {
		t.Error("the history where a re-insert's version went backwards was accepted")
	}
	// A delete sent by a server killed mid-request: PostgreSQL executed it
	// after the client had seen the connection drop. With the request's
	// return at that moment the history is illegal; with an unbounded
	// return (how the harness records lost requests to an external
	// database) it is linearizable.
	if porcupine.CheckOperations(Model(), readHistory(t, "testdata/pg-late-delete-after-kill.txt", false)) {
		t.Error("the late delete was accepted with a bounded return")
	}
	if !porcupine.CheckOperations(Model(), readHistory(t, "testdata/pg-late-delete-after-kill.txt", true)) {
		t.Error("the late delete was refused with an unbounded return")
	}
}

// TestModel checks the model on small hand-written histories.
func TestModel(t *testing.T) {
	op := func(c int, call, ret int64, in Input, out Output) porcupine.Operation {
		in.Name, in.Key = "n", "k"
		return porcupine.Operation{ClientId: c, Input: in, Call: call, Return: ret, Output: out}
	}
	cases := []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"insert then read", true, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KInsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(1, 2, 3, Input{Kind: KGet}, Output{OK: true, Val: 5, Ver: 3}),
		}},
		{"stale read after write", false, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KUpsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(0, 2, 3, Input{Kind: KUpsert, Val: 6}, Output{OK: true, Ver: 4}),
			op(1, 4, 5, Input{Kind: KGet}, Output{OK: true, Val: 5, Ver: 3}),
		}},
		{"version reused after delete", false, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KInsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(0, 2, 3, Input{Kind: KDelete}, Output{OK: true}),
			op(0, 4, 5, Input{Kind: KInsert, Val: 6}, Output{OK: true, Ver: 3}),
		}},
		{"cas on the version read", true, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KUpsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(0, 2, 3, Input{Kind: KCasPut, Val: 6, IfVer: 3}, Output{OK: true, Ver: 7}),
			op(1, 4, 5, Input{Kind: KCasPut, Val: 7, IfVer: 3}, Output{Code: "conflict"}),
		}},
		{"cas succeeding twice on one version", false, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KUpsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(0, 2, 3, Input{Kind: KCasPut, Val: 6, IfVer: 3}, Output{OK: true, Ver: 7}),
			op(1, 2, 5, Input{Kind: KCasPut, Val: 7, IfVer: 3}, Output{OK: true, Ver: 8}),
		}},
		{"lost write may or may not apply", true, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KUpsert, Val: 5}, Output{OK: true, Ver: 3}),
			op(1, 2, math.MaxInt64, Input{Kind: KUpsert, Val: 9}, Output{Unknown: true}),
			op(0, 3, 4, Input{Kind: KGet}, Output{OK: true, Val: 5, Ver: 3}),
			op(0, 5, 6, Input{Kind: KGet}, Output{OK: true, Val: 9, Ver: 8}),
			op(0, 7, 8, Input{Kind: KSum, Val: 1}, Output{OK: true, Ver: 9}),
			op(0, 9, 10, Input{Kind: KGet}, Output{OK: true, Val: 10, Ver: 9}),
		}},
		{"sum lost an update", false, []porcupine.Operation{
			op(0, 0, 1, Input{Kind: KSum, Val: 1}, Output{OK: true, Ver: 3}),
			op(1, 2, 3, Input{Kind: KSum, Val: 1}, Output{OK: true, Ver: 4}),
			op(0, 4, 5, Input{Kind: KGet}, Output{OK: true, Val: 1, Ver: 4}),
		}},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(Model(), c.ops); got != c.ok {
			t.Errorf("%s: linearizable = %v, want %v", c.name, got, c.ok)
		}
	}
}
