package scripting

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/flowkv/flowkv/store"
)

// The messages between the parent (Engine) and a sandbox worker process,
// gob-encoded: the parent writes toWorker values on the worker's stdin and
// reads fromWorker values from its stdout. A worker runs one script at a
// time; every store call the script makes is a wireCall the parent answers
// with a wireReply after checking it against the run's grants.

// toWorker is one message from the parent; exactly one field is set.
type toWorker struct {
	Run    *wireRun
	Cancel uint64 // the id of a run to stop
	Reply  *wireReply
}

// fromWorker is one message from a worker; exactly one field is set.
type fromWorker struct {
	Ready *wireReady
	Call  *wireCall
	Done  *wireDone
}

// wireReady is a worker's first message: it is up and under its limits.
type wireReady struct {
	// Limits says which OS limits could not be applied ("" when all were).
	Missing string
}

// wireRun starts a run, or with Check only compiles the source.
type wireRun struct {
	ID       uint64
	Check    bool
	Source   string
	Name     string
	Input    []byte
	Globals  map[string][]byte
	Grants   store.Grants
	FlowUUID string
	Timeout  time.Duration
	Limits   store.Limits
	HasStore bool
}

// wireDone ends a run.
type wireDone struct {
	ID        uint64
	Value     []byte
	Logs      []LogLine
	Truncated bool
	Code      store.Code
	Msg       string
	// Tainted is set when the run ended while its runtime was still inside
	// a native operation: the worker is busy and must not be reused.
	Tainted bool
	// Heap is the worker's live heap after the run, in bytes.
	Heap uint64
}

// wireCall is one store call of a run.
type wireCall struct {
	ID     uint64
	Run    uint64
	Op     string
	Name   string
	Key    string
	Prefix string
	Cursor string
	Limit  int
	Offset int
	Data   []byte
	Write  store.WriteOptions
	Delete store.DeleteOptions
	Fetch  *store.FetchQuery
	Checks []store.Check
	Muts   []store.Mutation
	Query  *store.Query
	Field  string
	Ranges []store.KeyRange
}

// wireReply answers a wireCall.
type wireReply struct {
	ID      uint64
	Entry   *store.Entry
	Entries []store.Entry
	Page    *store.Page
	OK      bool
	Atomic  *store.AtomicResult
	Names   []store.NameCount
	Query   *store.QueryPage
	Index   *store.Index
	Indexes []store.Index
	Ranges  [][]store.Entry
	Code    store.Code
	Msg     string
}

// The store operations a worker may ask for.
const (
	opFetch       = "fetch"
	opFindName    = "findName"
	opFindNameKey = "findNameKey"
	opInsert      = "insert"
	opUpsert      = "upsert"
	opUpdate      = "update"
	opDelete      = "delete"
	opAtomic      = "atomic"
	opList        = "list"
	opReadRanges  = "readRanges"
	opNames       = "names"
	opQuery       = "query"
	opCreateIndex = "createIndex"
	opDropIndex   = "dropIndex"
	opIndexes     = "indexes"
)

// codeMsg splits err into the code and bare message that cross the pipe.
func codeMsg(err error) (store.Code, string) {
	if err == nil {
		return "", ""
	}
	var se *store.Error
	if errors.As(err, &se) {
		return se.Code, se.Msg
	}
	code := store.CodeOf(err)
	return code, store.Text(err)
}

// errOf rebuilds an error from its code and message ("" code is nil).
func errOf(code store.Code, msg string) error {
	if code == "" {
		return nil
	}
	return &store.Error{Code: code, Msg: msg}
}

// serveCall runs one store call of a worker against st, the run's guarded
// view of the store, and returns the reply. The parent trusts nothing in c
// beyond its shape: st applies the run's grants and the store's limits.
func serveCall(ctx context.Context, st store.Store, c *wireCall) *wireReply {
	rep := &wireReply{ID: c.ID}
	var err error
	switch c.Op {
	case opFetch:
		if c.Fetch == nil {
			err = store.Errorf(store.CodeInvalidArgument, "fetch without a query")
			break
		}
		var p store.Page
		p, err = st.Fetch(ctx, *c.Fetch)
		rep.Page = &p
	case opFindName:
		rep.Entries, err = st.FindName(ctx, c.Name, c.Limit, c.Offset)
	case opFindNameKey:
		var e store.Entry
		e, err = st.FindNameKey(ctx, c.Name, c.Key)
		rep.Entry = &e
	case opInsert, opUpsert, opUpdate:
		f := st.Insert
		if c.Op == opUpsert {
			f = st.Upsert
		} else if c.Op == opUpdate {
			f = st.Update
		}
		var e store.Entry
		e, err = f(ctx, c.Name, c.Key, json.RawMessage(c.Data), c.Write)
		rep.Entry = &e
	case opDelete:
		rep.OK, err = st.Delete(ctx, c.Name, c.Key, c.Delete)
	case opAtomic:
		var r store.AtomicResult
		r, err = st.Atomic(ctx, c.Checks, c.Muts)
		rep.Atomic = &r
	case opList:
		var p store.Page
		p, err = st.List(ctx, c.Name, c.Prefix, c.Cursor, c.Limit)
		rep.Page = &p
	case opReadRanges:
		rep.Ranges, err = st.ReadRanges(ctx, c.Name, c.Ranges)
	case opNames:
		rep.Names, err = st.Names(ctx)
	case opQuery:
		if c.Query == nil {
			err = store.Errorf(store.CodeInvalidArgument, "query without a query")
			break
		}
		var p store.QueryPage
		p, err = st.Query(ctx, *c.Query)
		rep.Query = &p
	case opCreateIndex:
		var ix store.Index
		ix, err = st.CreateIndex(ctx, c.Name, c.Field)
		rep.Index = &ix
	case opDropIndex:
		rep.OK, err = st.DropIndex(ctx, c.Name, c.Field)
	case opIndexes:
		rep.Indexes, err = st.Indexes(ctx, c.Name)
	default:
		err = store.Errorf(store.CodeInvalidArgument, "unknown store operation %q", c.Op)
	}
	if err != nil {
		rep.Code, rep.Msg = codeMsg(err)
		rep.Entry, rep.Entries, rep.Page, rep.Atomic, rep.Names = nil, nil, nil, nil, nil
		rep.Query, rep.Index, rep.Indexes, rep.Ranges = nil, nil, nil, nil
	}
	return rep
}
