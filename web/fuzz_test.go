package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// Fuzz targets of the HTTP request decoders. Their seeds run with every
// `go test`; scripts/fuzz.sh runs each with -fuzz.

var decodeSeeds = []string{
	`{"data":1}`, `{"data":{"b":2,"a":[1,2]},"ttl":30}`, `{"data":"x","timeoutUnit":"minutes","timeoutValue":1.5}`,
	`{"data":null,"timeoutUnit":"never"}`, `{"data":1,"ttl":1,"timeoutUnit":"seconds"}`, `{"data":1,"extra":2}`,
	`{"data":1} {}`, `[]`, `""`, ``, `   `, `{"data":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"data":"\"[{"}`, `{"data":1,"ttl":"5"}`, `{"data":1,"ttl":-1}`, `{"data":1,"ttl":1e300}`, `{"ttl":5}`,
	`{"checks":[{"name":"a","key":"b","version":null}],"mutations":[{"op":"sum","name":"a","key":"b","data":1,"ttl":5}]}`,
	`{"checks":[{"name":"a","key":"b","version":-1}],"mutations":[]}`, `{"mutations":[{"op":"nope"}]}`,
	`{"key":"k","value":{"x":1},"ttl":60}`, `{"key":"","value":1}`, "{\"data\":\"\xff\"}", `{"data":1e400}`,
	`{"data":{"a":1,"a":2}}`, `{"data":"\ud800"}`, `{"data":` + strings.Repeat("[", 70),
}

// FuzzDecodeBodies decodes arbitrary bytes into every body type of the
// API: never a panic; a refusal is invalid_argument; an accepted body is
// valid JSON within the nesting limit, and its TTL fields convert to a TTL
// in range or to invalid_argument.
func FuzzDecodeBodies(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	maxDepth := store.DefaultMaxDepth + 1
	f.Fuzz(func(t *testing.T, body []byte) {
		refused := func(what string, err error) bool {
			if err == nil {
				if !json.Valid(body) {
					t.Fatalf("%s accepted invalid JSON %q", what, body)
				}
				if d := depth(body); d > maxDepth {
					t.Fatalf("%s accepted JSON nested %d deep (limit %d): %q", what, d, maxDepth, body)
				}
				return false
			}
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Fatalf("%s(%q): %v is not invalid_argument", what, body, err)
			}
			return true
		}
		var e entryBody
		if !refused("entryBody", DecodeJSON(body, &e, maxDepth)) {
			ttl, err := e.ttl()
			if err != nil && store.CodeOf(err) != store.CodeInvalidArgument {
				t.Fatalf("entryBody.ttl(%q): %v is not invalid_argument", body, err)
			}
			if err == nil && (ttl < 0 || ttl > int64(store.MaxTTL)) {
				t.Fatalf("entryBody.ttl(%q) = %d out of range", body, ttl)
			}
		}
		var a atomicBody
		refused("atomicBody", DecodeJSON(body, &a, maxDepth))
		var d putDataBody
		refused("putDataBody", DecodeJSON(body, &d, maxDepth))
		var m map[string]any
		refused("object", DecodeJSON(body, &m, maxDepth))
	})
}

// depth is the JSON nesting of b (a valid JSON text).
func depth(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	d, maxD := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return maxD
		}
		if dl, ok := tok.(json.Delim); ok {
			if dl == '{' || dl == '[' {
				d++
				maxD = max(maxD, d)
			} else {
				d--
			}
		}
	}
}

var (
	fuzzSrvOnce sync.Once
	fuzzSrv     *Server
	fuzzSrvErr  error
)

const fuzzToken = "fkv_fuzz_token_0123456789abcdef0123456789abcdef"

// fuzzServer is one server over a SQLite database shared by the fuzz
// target's iterations (admin token fuzzToken).
func fuzzServer(t testing.TB, dir string) *Server {
	fuzzSrvOnce.Do(func() {
		ctx := context.Background()
		st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "fuzz.db"), sqlstore.Options{})
		if err != nil {
			fuzzSrvErr = err
			return
		}
		fuzzSrv, fuzzSrvErr = New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if fuzzSrvErr == nil {
			_, fuzzSrvErr = fuzzSrv.Tokens().CreateWithSecret(ctx, "fuzz", fuzzToken, store.AllGrants())
		}
		if fuzzSrvErr == nil {
			_, fuzzSrvErr = st.Upsert(ctx, "orders", "o-1", json.RawMessage(`{"n":1}`), store.WriteOptions{})
		}
	})
	if fuzzSrvErr != nil {
		t.Fatal(fuzzSrvErr)
	}
	return fuzzSrv
}

// FuzzStoreRoutes sends arbitrary requests to the entry and atomic routes
// of a real server over SQLite: the answer is never a 5xx (bad input is
// never the server's fault), every error is the one JSON error shape with
// the status of its code, and a stored entry reads back as valid JSON.
func FuzzStoreRoutes(f *testing.F) {
	f.Add(uint8(0), "orders", "o-1", []byte(`{"data":{"b":1,"a":2}}`), "", "")
	f.Add(uint8(1), "orders", "o/2 é", []byte(`{"data":[1,2],"ttl":5}`), "", "")
	f.Add(uint8(2), "orders", "o-1", []byte(`{"data":3}`), "1", "")
	f.Add(uint8(3), "orders", "o-1", []byte(`{"data":3}`), `W/"abc"`, "")
	f.Add(uint8(4), "orders", "o-1", []byte(nil), "99999999999999999999", "")
	f.Add(uint8(5), "", "", []byte(`{"checks":[{"name":"orders","key":"o-1","version":1}],"mutations":[{"op":"sum","name":"orders","key":"n","data":1e308}]}`), "", "")
	f.Add(uint8(6), "orders", "", []byte(nil), "", "limit=2&cursor=WyJvcmRlcnMiLCJvLTEiXQ")
	f.Add(uint8(7), "", "", []byte(nil), "", "data=%7B%22n%22%3A1%7D&keyPrefix=o&limit=-1")
	f.Add(uint8(8), "_flowkv.tokens", "x", []byte(`{"data":1}`), "", "")
	f.Add(uint8(9), "\x00", "a\xffb", []byte(`{"key":"k","value":1,"ttl":0.0001}`), "", "prefix=o&offset=1")
	s := fuzzServer(f, f.TempDir())
	f.Fuzz(func(t *testing.T, route uint8, name, key string, body []byte, ifMatch, query string) {
		p := "/v1/store/" + url.PathEscape(name) + "/" + url.PathEscape(key)
		method := http.MethodGet
		switch route % 10 {
		case 1:
			method = http.MethodPost
		case 2:
			method = http.MethodPut
		case 3:
			method = http.MethodPatch
		case 4:
			method = http.MethodDelete
		case 5:
			method, p = http.MethodPost, "/v1/atomic"
		case 6:
			p = "/v1/store/" + url.PathEscape(name)
		case 7:
			p = "/v1/store"
		case 8:
			p = "/v1/operations/data"
		case 9:
			method, p = http.MethodPost, "/v1/operations/data"
		}
		u := &url.URL{Path: p, RawQuery: query}
		if pp, err := url.PathUnescape(p); err == nil {
			u.Path, u.RawPath = pp, p
		}
		req := &http.Request{
			Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Authorization": {"Bearer " + fuzzToken}}, Host: "fuzz",
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s %q (If-Match %q) → %d %s", method, p, query, body, ifMatch, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct {
					Code    store.Code `json:"code"`
					Message string     `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s → %d with body %q: not the error shape", method, p, rec.Code, rec.Body.Bytes())
			}
			if StatusOf(e.Error.Code) != rec.Code && !(rec.Code == 404 && e.Error.Code == store.CodeNotFound) && rec.Code != 405 {
				t.Fatalf("%s %s → %d with code %s (status of the code: %d)", method, p, rec.Code, e.Error.Code, StatusOf(e.Error.Code))
			}
			return
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s → %d with invalid JSON %q", method, p, rec.Code, rec.Body.Bytes())
		}
	})
}
