package torture

import (
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation of the linearizability workload.
type Kind uint8

// The operations, each one HTTP request.
const (
	// KGet is GET /v1/store/{name}/{key}.
	KGet Kind = iota
	// KInsert is POST /v1/store/{name}/{key} (409 already_exists).
	KInsert
	// KUpsert is PUT /v1/store/{name}/{key}.
	KUpsert
	// KUpdate is PATCH /v1/store/{name}/{key} (404 not_found).
	KUpdate
	// KDelete is DELETE /v1/store/{name}/{key} ({deleted}).
	KDelete
	// KCasPut is PUT with If-Match: IfVer (409 conflict).
	KCasPut
	// KCasDelete is DELETE with If-Match: IfVer (409 conflict).
	KCasDelete
	// KSum is POST /v1/atomic with one sum mutation of Val.
	KSum
	// KCheckSet is POST /v1/atomic checking IfVer (0: absent) and setting Val.
	KCheckSet
)

var kindNames = [...]string{"get", "insert", "upsert", "update", "delete", "casPut", "casDelete", "sum", "checkSet"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Input is one operation's call.
type Input struct {
	Kind  Kind
	Name  string
	Key   string
	Val   int64 // written value (sum: the delta)
	IfVer int64 // If-Match / atomic check version
}

// Output is one operation's return.
type Output struct {
	// Unknown: the request failed ambiguously (timeout, connection lost,
	// 5xx); it may or may not have taken effect.
	Unknown bool
	// OK: found (get), written, deleted (delete: deleted=true).
	OK bool
	// Code is the error code of a definite refusal (not_found,
	// already_exists, conflict) or "".
	Code string
	Val  int64 // get: the value read
	Ver  int64 // get/writes: the entry's version
}

// kvState is the model's state of one (name, key). Ver 0 while Exists
// means the version is unknown (written by an operation whose answer was
// lost) but greater than Floor. Floor is a lower bound of the next version:
// versions grow on every write and are never reused, even after a delete.
type kvState struct {
	Exists bool
	Val    int64
	Ver    int64
	Floor  int64
}

func (s kvState) verMatches(v int64) bool {
	if !s.Exists {
		return false
	}
	if s.Ver != 0 {
		return s.Ver == v
	}
	return v > s.Floor
}

// verMayDiffer: a check for version v could fail in state s.
func (s kvState) verMayDiffer(v int64) bool {
	return !s.Exists || s.Ver == 0 || s.Ver != v
}

func (s kvState) written(val, ver int64) kvState {
	return kvState{Exists: true, Val: val, Ver: ver, Floor: ver}
}

func (s kvState) writtenUnknown(val int64) kvState {
	return kvState{Exists: true, Val: val, Ver: 0, Floor: s.Floor}
}

func (s kvState) deleted() kvState {
	return kvState{Floor: max(s.Floor, s.Ver)}
}

func (s kvState) base() int64 {
	if s.Exists {
		return s.Val
	}
	return 0
}

func one(s kvState) []interface{} { return []interface{}{s} }

// step is the sequential specification of one (name, key).
func step(st interface{}, in0 interface{}, out0 interface{}) []interface{} {
	s := st.(kvState)
	in := in0.(Input)
	out := out0.(Output)
	if out.Unknown {
		// Either it did not happen, or it happened (where its condition
		// held) with a version we never saw.
		res := []interface{}{s}
		switch in.Kind {
		case KGet:
		case KInsert:
			if !s.Exists {
				res = append(res, s.writtenUnknown(in.Val))
			}
		case KUpsert:
			res = append(res, s.writtenUnknown(in.Val))
		case KUpdate:
			if s.Exists {
				res = append(res, s.writtenUnknown(in.Val))
			}
		case KDelete:
			res = append(res, s.deleted())
		case KCasPut:
			if s.verMatches(in.IfVer) {
				res = append(res, s.writtenUnknown(in.Val))
			}
		case KCasDelete:
			if s.verMatches(in.IfVer) {
				res = append(res, s.deleted())
			}
		case KSum:
			res = append(res, s.writtenUnknown(s.base()+in.Val))
		case KCheckSet:
			if (in.IfVer == 0 && !s.Exists) || (in.IfVer != 0 && s.verMatches(in.IfVer)) {
				res = append(res, s.writtenUnknown(in.Val))
			}
		}
		return res
	}
	newVer := out.Ver > s.Floor && (s.Ver == 0 || out.Ver > s.Ver)
	switch in.Kind {
	case KGet:
		if out.OK != s.Exists {
			return nil
		}
		if !out.OK {
			return one(s)
		}
		if out.Val != s.Val || !s.verMatches(out.Ver) {
			return nil
		}
		return one(s.written(s.Val, out.Ver))
	case KInsert:
		if out.OK {
			if s.Exists || !newVer {
				return nil
			}
			return one(s.written(in.Val, out.Ver))
		}
		if out.Code == "already_exists" && s.Exists {
			return one(s)
		}
		return nil
	case KUpsert:
		if out.OK && newVer {
			return one(s.written(in.Val, out.Ver))
		}
		return nil
	case KUpdate:
		if out.OK {
			if !s.Exists || !newVer {
				return nil
			}
			return one(s.written(in.Val, out.Ver))
		}
		if out.Code == "not_found" && !s.Exists {
			return one(s)
		}
		return nil
	case KDelete:
		if out.OK != s.Exists {
			return nil
		}
		return one(s.deleted())
	case KCasPut:
		if out.OK {
			if !s.verMatches(in.IfVer) || !newVer || out.Ver <= in.IfVer {
				return nil
			}
			return one(s.written(in.Val, out.Ver))
		}
		if out.Code == "conflict" && s.verMayDiffer(in.IfVer) {
			return one(s)
		}
		return nil
	case KCasDelete:
		if out.OK {
			if !s.verMatches(in.IfVer) {
				return nil
			}
			return one(kvState{Floor: max(s.Floor, in.IfVer)})
		}
		if out.Code == "conflict" && s.verMayDiffer(in.IfVer) {
			return one(s)
		}
		return nil
	case KSum:
		if out.OK && newVer {
			return one(s.written(s.base()+in.Val, out.Ver))
		}
		return nil
	case KCheckSet:
		if out.OK {
			holds := (in.IfVer == 0 && !s.Exists) || (in.IfVer != 0 && s.verMatches(in.IfVer))
			if !holds || !newVer {
				return nil
			}
			return one(s.written(in.Val, out.Ver))
		}
		if out.Code == "conflict" && (in.IfVer == 0 && s.Exists || in.IfVer != 0 && s.verMayDiffer(in.IfVer)) {
			return one(s)
		}
		return nil
	}
	return nil
}

// Model is the porcupine model of flowkv's versioned KV, partitioned by
// (name, key): each partition starts absent.
func Model() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			idx := map[[2]string]int{}
			var parts [][]porcupine.Operation
			for _, op := range h {
				in := op.Input.(Input)
				k := [2]string{in.Name, in.Key}
				i, ok := idx[k]
				if !ok {
					i = len(parts)
					idx[k] = i
					parts = append(parts, nil)
				}
				parts[i] = append(parts[i], op)
			}
			return parts
		},
		Init: func() []interface{} { return []interface{}{kvState{}} },
		Step: step,
		Hash: func(st interface{}) uint64 {
			s := st.(kvState)
			h := fnv.New64a()
			fmt.Fprintf(h, "%v/%d/%d/%d", s.Exists, s.Val, s.Ver, s.Floor)
			return h.Sum64()
		},
		DescribeOperation: func(in0, out0 interface{}) string {
			in, out := in0.(Input), out0.(Output)
			var call string
			switch in.Kind {
			case KGet, KDelete:
				call = fmt.Sprintf("%s(%s)", in.Kind, in.Key)
			case KCasPut, KCheckSet:
				call = fmt.Sprintf("%s(%s, %d, if=%d)", in.Kind, in.Key, in.Val, in.IfVer)
			case KCasDelete:
				call = fmt.Sprintf("%s(%s, if=%d)", in.Kind, in.Key, in.IfVer)
			default:
				call = fmt.Sprintf("%s(%s, %d)", in.Kind, in.Key, in.Val)
			}
			switch {
			case out.Unknown:
				return call + " -> ?"
			case out.Code != "":
				return call + " -> " + out.Code
			case in.Kind == KGet && out.OK:
				return fmt.Sprintf("%s -> %d@v%d", call, out.Val, out.Ver)
			case in.Kind == KGet:
				return call + " -> absent"
			case in.Kind == KDelete || in.Kind == KCasDelete:
				return fmt.Sprintf("%s -> deleted=%v", call, out.OK)
			}
			return fmt.Sprintf("%s -> v%d", call, out.Ver)
		},
		DescribeState: func(st interface{}) string {
			s := st.(kvState)
			if !s.Exists {
				return fmt.Sprintf("absent (floor %d)", s.Floor)
			}
			if s.Ver == 0 {
				return fmt.Sprintf("%d@v?>%d", s.Val, s.Floor)
			}
			return fmt.Sprintf("%d@v%d", s.Val, s.Ver)
		},
	}
	return nm.ToModel()
}
