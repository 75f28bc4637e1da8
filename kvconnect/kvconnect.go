// Package kvconnect serves Deno KV's remote protocol, KV Connect
// (denoland/denokv proto/kv-connect.md), on `flowkv serve`: the metadata
// exchange at /kv (the `default` database) and /kv/{name}, and the data
// path (snapshot_read, atomic_write, watch) under /kv/{name}/data. A Deno
// KV database is a flowkv namespace; the bearer token is a flowkv token
// whose grants on that namespace decide what the client may do.
//
// Keys are stored with store.TupleKey (Deno's key order kept), values with
// denokv.ToData (JSON when the value has an exact JSON form), and
// versionstamps are entry versions (kvdb.Versionstamp). docs/deno-kv.md is the
// user's side of this.
package kvconnect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/proto"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/kvconnect/kvdb"
	"github.com/flowkv/flowkv/kvconnect/pb"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/web"
)

func init() { web.Register("kvconnect", register) }

// DefaultDatabase is the namespace /kv opens.
const DefaultDatabase = "default"

// Deno KV's limits (denokv proto/limits.rs), applied where flowkv's own are
// not stricter.
const (
	maxReadRanges  = 10
	maxReadEntries = 1000
	maxWatchedKeys = 10
	// maxReadBytes bounds the values of one snapshot read: entries written
	// by other faces may hold up to FLOWKV_MAX_DATA_BYTES each, and 1000 of
	// them must not become one giant response.
	maxReadBytes = 32 << 20
)

// metadataTTL is how long the metadata (and so the token echo) is valid;
// clients refresh five minutes before it runs out.
const metadataTTL = time.Hour

// keepAlive is how often an idle watch stream sends an empty message.
const keepAlive = 5 * time.Second

// Open watch streams are bounded: each one re-reads its keys every second.
// A watch past a bound is refused with 429 resource_exhausted.
var (
	// MaxWatchStreams bounds the watch streams open on one server.
	MaxWatchStreams = 1024
	// MaxWatchStreamsPerToken bounds those of one token.
	MaxWatchStreamsPerToken = 64
)

type handler struct {
	s *web.Server

	mu      sync.Mutex
	watches int
	byToken map[string]int
}

// admitWatch counts a new watch stream of token id, or refuses it.
func (h *handler) admitWatch(id string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watches >= MaxWatchStreams {
		return nil, store.Errorf(store.CodeResourceExhausted, "too many watch streams are open on this server (the limit is %d)", MaxWatchStreams)
	}
	if h.byToken[id] >= MaxWatchStreamsPerToken {
		return nil, store.Errorf(store.CodeResourceExhausted, "this token has %d watch streams open, the limit is %d", h.byToken[id], MaxWatchStreamsPerToken)
	}
	h.watches++
	h.byToken[id]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.watches--
		if h.byToken[id]--; h.byToken[id] <= 0 {
			delete(h.byToken, id)
		}
	}, nil
}

func register(s *web.Server) error {
	h := &handler{s: s, byToken: map[string]int{}}
	meta := web.RouteDoc{
		Summary:     "Deno KV metadata exchange (KV Connect)",
		Description: "`Deno.openKv(\"http://host/kv\")` or `@deno/kv` `openKv(url, {accessToken})` with a flowkv token: /kv is the `default` database, /kv/{name} the namespace {name}. Answers the protocol version (1–3), the database id and the data path endpoint. Errors are plain text (KV Connect). See docs/deno-kv.md.",
		Tag:         "deno-kv",
	}
	s.Handle(http.MethodPost, "/kv", h.metadata, meta)
	s.Handle(http.MethodPost, "/kv/:name", h.metadata, meta)
	s.Handle(http.MethodPost, "/kv/:name/data/snapshot_read", h.snapshotRead, web.RouteDoc{
		Summary: "Deno KV snapshot read (KV Connect data path, protobuf)", Tag: "deno-kv",
		Description: "Body and answer are com.deno.kv.datapath.SnapshotRead / SnapshotReadOutput. Needs read on the namespace.",
	})
	s.Handle(http.MethodPost, "/kv/:name/data/atomic_write", h.atomicWrite, web.RouteDoc{
		Summary: "Deno KV atomic write (KV Connect data path, protobuf)", Tag: "deno-kv",
		Description: "Body and answer are com.deno.kv.datapath.AtomicWrite / AtomicWriteOutput. Needs write on the namespace (read for checks alone). Queues (enqueue) are not supported.",
	})
	s.Handle(http.MethodPost, "/kv/:name/data/watch", h.watch, web.RouteDoc{
		Summary: "Deno KV watch (KV Connect data path, stream)", Tag: "deno-kv",
		Description: "Body is com.deno.kv.datapath.Watch (up to 10 keys); the answer is a stream of length-prefixed WatchOutput messages. Needs read on the namespace.",
	}, web.Streaming)
	return nil
}

// DatabaseID is the UUID a namespace is known by to Deno clients.
func DatabaseID(name string) string {
	h := sha256.Sum256([]byte("flowkv/kv/" + name))
	h[6] = h[6]&0x0f | 0x80 // version 8 (custom)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// fail answers a KV Connect error: plain text "code: message" with the
// status flowkv maps the code to (4xx fail the client's call; 5xx make it
// retry).
func fail(c echo.Context, err error) error {
	code := store.CodeOf(err)
	msg := store.Message(err)
	if code == store.CodeConflict { // never a transport error in KV Connect
		code = store.CodeInvalidArgument
	}
	status := web.StatusOf(code)
	if code == store.CodeTimeout && c.Request().Context().Err() == nil {
		status = http.StatusServiceUnavailable
	}
	if code == store.CodeUnavailable {
		c.Logger().Warn("kvconnect: ", err)
	}
	return c.String(status, msg)
}

func badRequest(c echo.Context, format string, args ...any) error {
	return fail(c, store.Errorf(store.CodeInvalidArgument, format, args...))
}

// database reads the namespace of the request's path.
func database(c echo.Context) (string, error) {
	if c.Param("name") == "" {
		return DefaultDatabase, nil
	}
	name, err := web.PathParam(c, "name")
	if err != nil {
		return "", err
	}
	if err := store.DefaultLimits().ValidateName(name); err != nil {
		return "", err
	}
	return name, nil
}

// authorize verifies the bearer token and its grant on name.
func (h *handler) authorize(c echo.Context, name string, want store.Access) (tokens.Token, string, error) {
	auth := c.Request().Header.Get(echo.HeaderAuthorization)
	scheme, secret, ok := strings.Cut(auth, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return tokens.Token{}, "", store.Errorf(store.CodeUnauthenticated, "send a flowkv token as the access token (Authorization: Bearer <token>)")
	}
	t, err := h.s.Tokens().Verify(c.Request().Context(), secret)
	if err != nil {
		return tokens.Token{}, "", err
	}
	web.SetToken(c, t)
	if got := t.Grants.Level(name); got < want {
		if got == store.NoAccess {
			return t, secret, store.Errorf(store.CodeAccessDenied, "this token has no grant on the Deno KV database (namespace) %q", name)
		}
		return t, secret, store.Errorf(store.CodeAccessDenied, "this token may only read the Deno KV database (namespace) %q", name)
	}
	return t, secret, nil
}

type endpoint struct {
	URL         string `json:"url"`
	Consistency string `json:"consistency"`
}

type metadataResponse struct {
	Version    int        `json:"version"`
	DatabaseID string     `json:"databaseId"`
	Endpoints  []endpoint `json:"endpoints"`
	Token      string     `json:"token"`
	ExpiresAt  string     `json:"expiresAt"`
}

func (h *handler) metadata(c echo.Context) error {
	name, err := database(c)
	if err != nil {
		return fail(c, err)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return fail(c, store.Errorf(store.CodeTooLarge, "the request body is too large"))
	}
	version := 1
	if len(bytes.TrimSpace(body)) > 0 {
		var req struct {
			SupportedVersions []json.Number `json:"supportedVersions"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil || req.SupportedVersions == nil {
			return badRequest(c, "the metadata exchange body is {\"supportedVersions\": [1, 2, 3]}")
		}
		version = 0
		for _, v := range req.SupportedVersions {
			if n, err := v.Int64(); err == nil && n >= 1 && n <= 3 && int(n) > version {
				version = int(n)
			}
		}
		if version == 0 {
			return badRequest(c, "no protocol version in common: flowkv speaks KV Connect versions 1, 2 and 3")
		}
	}
	_, secret, err := h.authorize(c, name, store.Read)
	if err != nil {
		return fail(c, err)
	}
	path := "/kv/" + url.PathEscape(name) + "/data"
	if version == 1 { // version 1 clients do not resolve relative URLs
		scheme := c.Scheme()
		path = scheme + "://" + c.Request().Host + path
	}
	return c.JSON(http.StatusOK, metadataResponse{
		Version:    version,
		DatabaseID: DatabaseID(name),
		Endpoints:  []endpoint{{URL: path, Consistency: "strong"}},
		// The data path takes the same flowkv token: each request is
		// verified again, so a revoked token stops working at once.
		Token:     secret,
		ExpiresAt: time.Now().Add(metadataTTL).UTC().Format(time.RFC3339),
	})
}

// dataPath checks a data path request's protocol headers, token and grant,
// and reads its protobuf body.
func (h *handler) dataPath(c echo.Context, want store.Access, msg proto.Message) (string, tokens.Token, string, error) {
	name, err := database(c)
	if err != nil {
		return "", tokens.Token{}, "", err
	}
	r := c.Request()
	id := r.Header.Get("x-denokv-database-id")
	switch v := r.Header.Get("x-denokv-version"); v {
	case "2", "3":
	case "":
		id = r.Header.Get("x-transaction-domain-id")
	default:
		return "", tokens.Token{}, "", store.Errorf(store.CodeInvalidArgument, "x-denokv-version %q: flowkv speaks versions 1, 2 and 3", v)
	}
	if id != DatabaseID(name) {
		return "", tokens.Token{}, "", store.Errorf(store.CodeInvalidArgument, "the database id header does not name the database %q: open the database URL again", name)
	}
	t, secret, err := h.authorize(c, name, want)
	if err != nil {
		return "", tokens.Token{}, "", err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", tokens.Token{}, "", store.Errorf(store.CodeTooLarge, "the request body is over %d bytes", h.s.BodyLimit())
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		return "", tokens.Token{}, "", store.Errorf(store.CodeInvalidArgument, "the request is not a valid protobuf message: %v", err)
	}
	return name, t, secret, nil
}

func protobuf(c echo.Context, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fail(c, err)
	}
	return c.Blob(http.StatusOK, "application/x-protobuf", b)
}

// kvEntry turns a stored entry into a KV Connect entry.
func kvEntry(e store.Entry) (*pb.KvEntry, error) {
	key, ok := store.TupleBytes(e.Key)
	if !ok {
		return nil, fmt.Errorf("entry %s/%q is not a Deno KV key", e.Name, e.Key)
	}
	enc, val, err := denokv.FromData(e.Data)
	if err != nil {
		return nil, store.Errorf(store.CodeUnavailable, "entry %s/%s: %v", e.Name, e.Key, err)
	}
	return &pb.KvEntry{Key: key, Value: val, Encoding: pb.ValueEncoding(enc), Versionstamp: kvdb.Versionstamp(e.Version)}, nil
}

func (h *handler) snapshotRead(c echo.Context) error {
	var req pb.SnapshotRead
	name, _, _, err := h.dataPath(c, store.Read, &req)
	if err != nil {
		return fail(c, err)
	}
	if len(req.Ranges) > maxReadRanges {
		return badRequest(c, "too many read ranges requested in one read request (%d, the limit is %d)", len(req.Ranges), maxReadRanges)
	}
	ranges := make([]store.KeyRange, len(req.Ranges))
	total := 0
	for i, r := range req.Ranges {
		if r.Limit <= 0 {
			return badRequest(c, "ranges[%d]: the limit must be positive", i)
		}
		if len(r.Start) > kvdb.MaxReadKeyBytes || len(r.End) > kvdb.MaxReadKeyBytes {
			return badRequest(c, "ranges[%d]: a key exceeds Deno KV's key size limit (%d bytes)", i, kvdb.MaxReadKeyBytes)
		}
		total += int(r.Limit)
		ranges[i] = store.KeyRange{Start: store.TupleKey(r.Start), End: store.TupleKey(r.End), Reverse: r.Reverse, Limit: int(r.Limit)}
	}
	if total > maxReadEntries {
		return badRequest(c, "the total number of entries requested across read ranges is too large (%d, the limit is %d)", total, maxReadEntries)
	}
	out := &pb.SnapshotReadOutput{ReadIsStronglyConsistent: true, Status: pb.SnapshotReadStatus_SR_SUCCESS, Ranges: make([]*pb.ReadRangeOutput, len(ranges))}
	if len(ranges) > 0 {
		res, err := h.s.StoreFor(c).ReadRanges(c.Request().Context(), name, ranges)
		if err != nil {
			return fail(c, err)
		}
		size := 0
		for i, es := range res {
			ro := &pb.ReadRangeOutput{Values: make([]*pb.KvEntry, 0, len(es))}
			for _, e := range es {
				ke, err := kvEntry(e)
				if err != nil {
					return fail(c, err)
				}
				if size += len(ke.Key) + len(ke.Value); size > maxReadBytes {
					return fail(c, store.Errorf(store.CodeTooLarge, "the entries of this read are over %d MiB: read fewer at a time (list with a smaller batchSize or limit)", maxReadBytes>>20))
				}
				ro.Values = append(ro.Values, ke)
			}
			out.Ranges[i] = ro
		}
	}
	return protobuf(c, out)
}

func (h *handler) atomicWrite(c echo.Context) error {
	var req pb.AtomicWrite
	// Grants are checked below, once the request shows whether it writes.
	name, t, _, err := h.dataPath(c, store.Read, &req)
	if err != nil {
		return fail(c, err)
	}
	if len(req.Mutations) > 0 || len(req.Enqueues) > 0 {
		if err := t.Grants.Allow(name, store.Write); err != nil {
			return fail(c, store.Errorf(store.CodeAccessDenied, "this token may only read the Deno KV database (namespace) %q", name))
		}
	}
	out, err := h.apply(c.Request().Context(), h.s.StoreFor(c), name, &req)
	if err != nil {
		return fail(c, err)
	}
	return protobuf(c, out)
}

func (h *handler) watch(c echo.Context) error {
	var req pb.Watch
	name, t, secret, err := h.dataPath(c, store.Read, &req)
	if err != nil {
		return fail(c, err)
	}
	if len(req.Keys) > maxWatchedKeys {
		return badRequest(c, "too many keys watched in a single watch request (%d, the limit is %d)", len(req.Keys), maxWatchedKeys)
	}
	keys := make([][]byte, len(req.Keys))
	for i, k := range req.Keys {
		if len(k.Key) > kvdb.MaxWriteKeyBytes {
			return badRequest(c, "keys[%d] exceeds Deno KV's key size limit (%d bytes)", i, kvdb.MaxWriteKeyBytes)
		}
		keys[i] = k.Key
	}
	release, err := h.admitWatch(t.ID)
	if err != nil {
		return fail(c, err)
	}
	defer release()
	return h.stream(c, name, secret, keys)
}
