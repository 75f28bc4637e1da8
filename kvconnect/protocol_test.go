package kvconnect_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/kvconnect"
	"github.com/flowkv/flowkv/kvconnect/pb"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// A KV Connect client in Go, enough to speak the protocol as Deno does.

func post(t *testing.T, url, token string, hdr map[string]string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

type meta struct {
	Version    int    `json:"version"`
	DatabaseID string `json:"databaseId"`
	Endpoints  []struct {
		URL, Consistency string
	} `json:"endpoints"`
	Token     string `json:"token"`
	ExpiresAt string `json:"expiresAt"`
}

func exchange(t *testing.T, s *server, db, token, body string) (int, meta, string) {
	t.Helper()
	code, b, _ := post(t, s.base+"/kv"+db, token, map[string]string{"Content-Type": "application/json"}, []byte(body))
	var m meta
	if code == 200 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("metadata %s: %v", b, err)
		}
	}
	return code, m, string(b)
}

func dataPath(t *testing.T, s *server, db, op, token string, msg proto.Message) (int, []byte) {
	t.Helper()
	name := strings.TrimPrefix(db, "/")
	if name == "" {
		name = "default"
	}
	body, _ := proto.Marshal(msg)
	code, b, _ := post(t, s.base+"/kv/"+name+"/data/"+op, token, map[string]string{
		"Content-Type": "application/x-protobuf", "x-denokv-version": "3", "x-denokv-database-id": kvconnect.DatabaseID(name),
	}, body)
	return code, b
}

func key(t *testing.T, parts ...any) []byte {
	b, err := store.PackTuple(parts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v8String(s string) []byte { return append([]byte{0xff, 0x0f, '"', byte(len(s))}, s...) }

func TestMetadataExchange(t *testing.T) {
	s := serve(t, sqliteStore(t))
	code, m, body := exchange(t, s, "", s.admin, "")
	if code != 200 || m.Version != 1 || !strings.HasPrefix(m.Endpoints[0].URL, "http://") || m.Token != s.admin {
		t.Fatalf("no body (version 1): %d %s", code, body)
	}
	code, m, body = exchange(t, s, "/orders", s.admin, `{"supportedVersions":[1,2,3]}`)
	if code != 200 || m.Version != 3 || m.Endpoints[0].URL != "/kv/orders/data" || m.Endpoints[0].Consistency != "strong" ||
		m.DatabaseID != kvconnect.DatabaseID("orders") {
		t.Fatalf("versions 1-3: %d %s", code, body)
	}
	if exp, err := time.Parse(time.RFC3339, m.ExpiresAt); err != nil || time.Until(exp) < 10*time.Minute {
		t.Errorf("expiresAt %q must be well in the future (clients refresh 5 minutes before)", m.ExpiresAt)
	}
	if _, m, _ = exchange(t, s, "", s.admin, `{"supportedVersions":[1,2]}`); m.Version != 2 {
		t.Errorf("versions 1-2 chose %d", m.Version)
	}
	if kvconnect.DatabaseID("orders") == kvconnect.DatabaseID("default") {
		t.Error("two databases share an id")
	}
	for _, c := range []struct {
		db, token, body string
		code            int
		says            string
	}{
		{"", s.admin, `{"supportedVersions":[4,5]}`, 400, "no protocol version in common"},
		{"", s.admin, `{"supportedVersions":"x"}`, 400, "supportedVersions"},
		{"", s.admin, `[1,2]`, 400, "supportedVersions"},
		{"", "", `{"supportedVersions":[3]}`, 401, "unauthenticated"},
		{"", "fkv_wrong-token-0000000000000000", `{"supportedVersions":[3]}`, 401, "unauthenticated"},
		{"/orders", s.usersRead, `{"supportedVersions":[3]}`, 403, "no grant"},
		{"/_flowkv.tokens", s.admin, `{"supportedVersions":[3]}`, 403, "access_denied"},
		{"/" + strings.Repeat("n", 200), s.admin, `{"supportedVersions":[3]}`, 413, "too_large"},
	} {
		code, _, body := exchange(t, s, c.db, c.token, c.body)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s %q: %d %q, want %d saying %q", c.db, c.body, code, body, c.code, c.says)
		}
	}
	if code, m, _ := exchange(t, s, "/users", s.usersRead, `{"supportedVersions":[3]}`); code != 200 || m.Version != 3 {
		t.Errorf("users:read opening /kv/users: %d", code)
	}
}

func TestDataPathGrantsAndHostileInput(t *testing.T) {
	s := serve(t, sqliteStore(t))
	set := &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "users", "1"), MutationType: pb.MutationType_M_SET,
		Value: &pb.KvValue{Data: v8String("Ada"), Encoding: pb.ValueEncoding_VE_V8}}}}
	if code, b := dataPath(t, s, "/users", "atomic_write", s.usersRead, set); code != 403 || !strings.Contains(string(b), "may only read") {
		t.Errorf("read-only token writing: %d %s", code, b)
	}
	if code, b := dataPath(t, s, "/users", "atomic_write", s.admin, set); code != 200 {
		t.Fatalf("admin writing: %d %s", code, b)
	}
	read := &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Start: key(t, "users"), End: append(key(t, "users"), 0xff), Limit: 10}}}
	code, b := dataPath(t, s, "/users", "snapshot_read", s.usersRead, read)
	var out pb.SnapshotReadOutput
	if code != 200 || proto.Unmarshal(b, &out) != nil || len(out.Ranges) != 1 || len(out.Ranges[0].Values) != 1 {
		t.Fatalf("read-only token reading: %d %x", code, b)
	}
	if code, _ := dataPath(t, s, "/orders", "snapshot_read", s.usersRead, read); code != 403 {
		t.Errorf("no grant reading: %d", code)
	}
	bigKey := key(t, strings.Repeat("k", 300))
	hostile := []struct {
		what string
		op   string
		msg  proto.Message
		code int
		says string
	}{
		{"11 ranges", "snapshot_read", &pb.SnapshotRead{Ranges: make([]*pb.ReadRange, 11)}, 400, "too many read ranges"},
		{"limit 0", "snapshot_read", &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Limit: 0}}}, 400, "positive"},
		{"2000 entries", "snapshot_read", &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Limit: 1000}, {Limit: 1000}}}, 400, "too large"},
		{"a 3000-byte bound", "snapshot_read", &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Start: make([]byte, 3000), Limit: 1}}}, 400, "key size limit"},
		{"a key past flowkv's limit", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: bigKey, MutationType: pb.MutationType_M_SET,
			Value: &pb.KvValue{Data: v8String("x"), Encoding: pb.ValueEncoding_VE_V8}}}}, 413, "FLOWKV_MAX_KEY_BYTES"},
		{"a key that is no tuple", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: []byte{0x99, 1}, MutationType: pb.MutationType_M_DELETE}}}, 400, "not a Deno KV key"},
		{"a 9-byte versionstamp", "atomic_write", &pb.AtomicWrite{Checks: []*pb.Check{{Key: key(t, "a"), Versionstamp: make([]byte, 9)}}}, 400, "10 bytes"},
		{"an enqueue", "atomic_write", &pb.AtomicWrite{Enqueues: []*pb.Enqueue{{Payload: v8String("x")}}}, 400, "queues"},
		{"a versionstamped key", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "a"), MutationType: pb.MutationType_M_SET_SUFFIX_VERSIONSTAMPED_KEY,
			Value: &pb.KvValue{Data: v8String("x"), Encoding: pb.ValueEncoding_VE_V8}}}}, 400, "versionstamped"},
		{"a set without value", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "a"), MutationType: pb.MutationType_M_SET}}}, 400, "needs a value"},
		{"a 70 KB value", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "a"), MutationType: pb.MutationType_M_SET,
			Value: &pb.KvValue{Data: make([]byte, 70000), Encoding: pb.ValueEncoding_VE_BYTES}}}}, 400, "value size limit"},
		{"a truncated V8 value", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "a"), MutationType: pb.MutationType_M_SET,
			Value: &pb.KvValue{Data: []byte{0xff, 0x0f, 'o', '"', 9}, Encoding: pb.ValueEncoding_VE_V8}}}}, 400, "truncated"},
		{"a 3-byte KvU64", "atomic_write", &pb.AtomicWrite{Mutations: []*pb.Mutation{{Key: key(t, "a"), MutationType: pb.MutationType_M_SUM,
			Value: &pb.KvValue{Data: []byte{1, 2, 3}, Encoding: pb.ValueEncoding_VE_LE64}}}}, 400, "non-U64 operand"},
		{"11 watched keys", "watch", &pb.Watch{Keys: make([]*pb.WatchKey, 11)}, 400, "too many keys"},
		{"150 mutations", "atomic_write", &pb.AtomicWrite{Mutations: func() []*pb.Mutation {
			m := make([]*pb.Mutation, 150)
			for i := range m {
				m[i] = &pb.Mutation{Key: key(t, "m", float64(i)), MutationType: pb.MutationType_M_DELETE}
			}
			return m
		}()}, 400, "flowkv's limit is 100"},
	}
	for _, h := range hostile {
		code, b := dataPath(t, s, "", h.op, s.admin, h.msg)
		if code != h.code || !strings.Contains(string(b), h.says) {
			t.Errorf("%s: %d %q, want %d saying %q", h.what, code, b, h.code, h.says)
		}
	}
	// Not protobuf at all, a wrong database id, a wrong version header.
	code, b, _ = post(t, s.base+"/kv/default/data/snapshot_read", s.admin, map[string]string{"x-denokv-version": "3", "x-denokv-database-id": kvconnect.DatabaseID("default")}, []byte{0xff, 0xff, 0xff})
	if code != 400 || !strings.Contains(string(b), "protobuf") {
		t.Errorf("garbage body: %d %s", code, b)
	}
	code, b, _ = post(t, s.base+"/kv/default/data/snapshot_read", s.admin, map[string]string{"x-denokv-version": "3", "x-denokv-database-id": kvconnect.DatabaseID("users")}, nil)
	if code != 400 || !strings.Contains(string(b), "database id") {
		t.Errorf("another database's id: %d %s", code, b)
	}
	code, _, _ = post(t, s.base+"/kv/default/data/snapshot_read", s.admin, map[string]string{"x-denokv-version": "9", "x-denokv-database-id": kvconnect.DatabaseID("default")}, nil)
	if code != 400 {
		t.Errorf("version 9: %d", code)
	}
	// The server still serves: the entry written above reads back.
	code, b = dataPath(t, s, "/users", "snapshot_read", s.admin, read)
	if code != 200 || proto.Unmarshal(b, &out) != nil || string(out.Ranges[0].Values[0].Value) != string(v8String("Ada")) {
		t.Errorf("after hostile requests: %d %x", code, b)
	}
}

// readFrame reads one length-prefixed watch message (nil for a keep-alive).
func readFrame(t *testing.T, r io.Reader) *pb.WatchOutput {
	t.Helper()
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		t.Fatalf("watch stream: %v", err)
	}
	b := make([]byte, binary.LittleEndian.Uint32(n[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	var out pb.WatchOutput
	if err := proto.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestWatchOtherProcessAndRevocation: a write by another process (another
// store handle on the same SQLite file, as the CLI would make) reaches a
// watcher; revoking the watcher's token ends its stream.
func TestWatchOtherProcessAndRevocation(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	st, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, st)
	other, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	g, _ := store.ParseGrants([]string{"default:read"})
	secret, tok, err := tokens.New(other).Create(context.Background(), "watcher", g)
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "watched")
	body, _ := proto.Marshal(&pb.Watch{Keys: []*pb.WatchKey{{Key: k}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/kv/default/data/watch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("x-denokv-version", "3")
	req.Header.Set("x-denokv-database-id", kvconnect.DatabaseID("default"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("watch: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	first := readFrame(t, res.Body)
	if first == nil || len(first.Keys) != 1 || !first.Keys[0].Changed || first.Keys[0].EntryIfChanged != nil {
		t.Fatalf("first message: %v", first)
	}
	if _, err := other.Upsert(ctx, "default", store.TupleKey(k), json.RawMessage(`{"by":"other process"}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *pb.WatchOutput
	for got == nil {
		got = readFrame(t, res.Body)
	}
	if e := got.Keys[0].EntryIfChanged; e == nil || !bytes.Equal(e.Key, k) || !bytes.Contains(e.Value, []byte("other process")) {
		t.Fatalf("change by another process: %v", got)
	}
	if _, err := tokens.New(other).Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, res.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a revoked token did not end")
	}
	if n := s.srv.Changes().Subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after the stream ended", n)
	}
}

// TestWatchStreamsBounded: a token cannot open more watch streams than
// MaxWatchStreamsPerToken; past it 429, and the server still serves; a
// closed stream frees its place.
func TestWatchStreamsBounded(t *testing.T) {
	old := kvconnect.MaxWatchStreamsPerToken
	kvconnect.MaxWatchStreamsPerToken = 2
	defer func() { kvconnect.MaxWatchStreamsPerToken = old }()
	s := serve(t, sqliteStore(t))
	body, _ := proto.Marshal(&pb.Watch{Keys: []*pb.WatchKey{{Key: key(t, "w")}}})
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/kv/default/data/watch", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.admin)
		req.Header.Set("x-denokv-version", "3")
		req.Header.Set("x-denokv-database-id", kvconnect.DatabaseID("default"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res, cancel
	}
	r1, c1 := open()
	defer c1()
	r2, c2 := open()
	defer c2()
	readFrame(t, r1.Body)
	readFrame(t, r2.Body)
	r3, c3 := open()
	b, _ := io.ReadAll(r3.Body)
	c3()
	if r3.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "resource_exhausted") {
		t.Fatalf("a third stream: %d %s", r3.StatusCode, b)
	}
	read := &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Start: key(t, "w"), End: append(key(t, "w"), 0), Limit: 1}}}
	if code, _ := dataPath(t, s, "", "snapshot_read", s.admin, read); code != 200 {
		t.Fatalf("reads while the streams are full: %d", code)
	}
	c1()
	r1.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r4, c4 := open()
		if r4.StatusCode == 200 {
			readFrame(t, r4.Body)
			c4()
			break
		}
		io.Copy(io.Discard, r4.Body)
		c4()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream did not free its place")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLargeReadRefused: a read whose entries add up past the response
// bound (entries written by other faces may be large) is 413, not a
// giant answer, and a smaller read of the same entries works.
func TestLargeReadRefused(t *testing.T) {
	s := serve(t, sqliteStore(t))
	big := `"` + strings.Repeat("x", 900_000) + `"`
	for i := 0; i < 40; i++ {
		if _, err := s.st.Upsert(context.Background(), "default", store.TupleKey(key(t, "big", float64(i))), json.RawMessage(big), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	all := &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Start: key(t, "big"), End: append(key(t, "big"), 0xff), Limit: 100}}}
	if code, b := dataPath(t, s, "", "snapshot_read", s.admin, all); code != 413 || !strings.Contains(string(b), "batchSize") {
		t.Fatalf("a 36 MB read: %d %.200s", code, b)
	}
	some := &pb.SnapshotRead{Ranges: []*pb.ReadRange{{Start: key(t, "big"), End: append(key(t, "big"), 0xff), Limit: 10}}}
	code, b := dataPath(t, s, "", "snapshot_read", s.admin, some)
	var out pb.SnapshotReadOutput
	if code != 200 || proto.Unmarshal(b, &out) != nil || len(out.Ranges[0].Values) != 10 {
		t.Fatalf("a 9 MB read: %d", code)
	}
}
