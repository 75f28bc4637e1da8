package ui

// The UI's unauthenticated routes (sign-in, static assets, the redirect to
// sign-in) do work bounded by constants, not by what a client sends.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
	"github.com/flowkv/flowkv/web"
)

// TestSignInBodyIsBounded: a 64 MiB sign-in form (urlencoded, or
// multipart, whose files Go would spool to disk), sent at a steady pace, is
// refused after a few KiB: the answer comes while the client has sent
// little of it; nothing lands in the temp directory; an ordinary sign-in
// works meanwhile.
func TestSignInBodyIsBounded(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where multipart parsing would spool files
	h := newHarness(t)
	const size = 64 << 20
	for _, kind := range []string{"urlencoded", "multipart"} {
		t.Run(kind, func(t *testing.T) {
			ctype, prefix := "application/x-www-form-urlencoded", "_csrf=x&token="
			if kind == "multipart" {
				ctype = "multipart/form-data; boundary=XBOUNDARYX"
				prefix = "--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nx\r\n" +
					"--XBOUNDARYX\r\nContent-Disposition: form-data; name=\"token\"; filename=\"big.bin\"\r\n" +
					"Content-Type: application/octet-stream\r\n\r\n"
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nCookie: %s=x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
				loginCookie, ctype, size, prefix)
			answered := make(chan int, 1)
			go func() {
				res, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					answered <- 0
					return
				}
				res.Body.Close()
				answered <- res.StatusCode
			}()
			// 64 KiB every 2 ms (32 MiB/s) until the server answers.
			chunk := []byte(strings.Repeat("a", 64<<10))
			sent, status := len(prefix), -1
			for sent < size && status < 0 {
				select {
				case status = <-answered:
				case <-time.After(2 * time.Millisecond):
					if _, err := conn.Write(chunk); err != nil {
						status = <-answered
						break
					}
					sent += len(chunk)
				}
			}
			if status < 0 {
				status = <-answered
			}
			t.Logf("answered %d after the client sent %d KiB", status, sent>>10)
			if status != 0 && status < 400 {
				t.Errorf("64 MiB sign-in form: status %d", status)
			}
			if sent > 8<<20 {
				t.Errorf("the server answered only after %d MiB of a sign-in form", sent>>20)
			}
			// An ordinary sign-in meanwhile.
			h.client().signIn(h.Admin)
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("the sign-in form was spooled to disk: %v", ents)
			}
		})
	}
}

// TestFailedSignInsFromManyAddressesStayBounded: failed sign-ins from 600
// source addresses (127.0.x.y, all loopback on Linux) leave the limiter's
// memory at its bound, and the limit still holds for the address that
// keeps failing.
func TestFailedSignInsFromManyAddressesStayBounded(t *testing.T) {
	old := maxLimiterKeys
	maxLimiterKeys = 100
	t.Cleanup(func() { maxLimiterKeys = old })
	h := newHarness(t)
	form := url.Values{csrfField: {"x"}, "token": {"fkv_wrong"}}.Encode()
	post := func(src net.IP) int {
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}).DialContext, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/login", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCookie, Value: "x"})
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("from %s: %v", src, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 600 {
		src := net.IPv4(127, 0, byte(2+i/250), byte(1+i%250))
		if st := post(src); st != http.StatusUnauthorized {
			t.Fatalf("failed sign-in from %s: %d, want 401", src, st)
		}
		h.UI.limiter.mu.Lock()
		n := len(h.UI.limiter.m)
		h.UI.limiter.mu.Unlock()
		if n > maxLimiterKeys {
			t.Fatalf("the limiter holds %d addresses, bound %d", n, maxLimiterKeys)
		}
	}
	// One address failing on is still limited.
	src := net.IPv4(127, 0, 9, 9)
	last := 0
	for range 7 {
		last = post(src)
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("7th failed sign-in from one address: %d, want 429", last)
	}
	h.client().signIn(h.Admin)
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	key := func(addr string) string { return clientKey(&http.Request{RemoteAddr: addr}) }
	if a, b := key("[2001:db8:1:2:aaaa::1]:1000"), key("[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"); a != b || a != "2001:db8:1:2::/64" {
		t.Errorf("one /64: %q and %q", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"); a == b {
		t.Errorf("two /64s share the key %q", a)
	}
	if k := key("192.0.2.7:5555"); k != "192.0.2.7" {
		t.Errorf("IPv4 key %q", k)
	}
	if k := key("[::ffff:192.0.2.7]:1"); k != "192.0.2.7" {
		t.Errorf("IPv4-mapped key %q", k)
	}
}

// TestStaticAssetsAnswerInProportion: a multi-range request for the
// largest asset gets the file once, not a part per range; one range still
// works; directories are not listed.
func TestStaticAssetsAnswerInProportion(t *testing.T) {
	h := newHarness(t)
	const asset = "/static/vendor/codemirror.min.js"
	full, err := http.Get(h.URL + asset)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := io.ReadAll(full.Body)
	full.Body.Close()
	var rng strings.Builder
	rng.WriteString("bytes=0-0")
	for i := 1; rng.Len() < 60<<10; i++ {
		fmt.Fprintf(&rng, ",%d-%d", i%1000, i%1000)
	}
	get := func(path, rangeHdr string) (int, int) {
		req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, len(b)
	}
	if st, n := get(asset, rng.String()); st != http.StatusOK || n != len(whole) {
		t.Errorf("multi-range request: %d, %d bytes; want 200 and the file once (%d bytes)", st, n, len(whole))
	}
	if st, n := get(asset, "bytes=0-99"); st != http.StatusPartialContent || n != 100 {
		t.Errorf("one range: %d, %d bytes; want 206, 100", st, n)
	}
	for _, dir := range []string{"/static/", "/static/vendor/"} {
		if st, _ := get(dir, ""); st != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 (no listing)", dir, st)
		}
	}
}

// TestSignInRedirectIsBounded: a signed-out visit to a 60 KiB address is
// sent to the sign-in page without repeating the address.
func TestSignInRedirectIsBounded(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	st, _, hdr := c.do(http.MethodGet, "/entries?name="+strings.Repeat("a", 60<<10), nil)
	if st != http.StatusSeeOther || hdr.Get("Location") != "/login" {
		t.Errorf("long address: %d to %.80q, want 303 to /login", st, hdr.Get("Location"))
	}
	st, _, hdr = c.do(http.MethodGet, "/entries?name=orders", nil)
	if st != http.StatusSeeOther || hdr.Get("Location") != "/login?next="+url.QueryEscape("/entries?name=orders") {
		t.Errorf("ordinary address: %d to %q", st, hdr.Get("Location"))
	}
}

// TestImportUploadDeadline: mounted on the API server with a short read
// timeout, a signed-in browser's import upload may take longer than it
// (the upload deadline), while the same slow upload without a session is
// cut off at the read timeout.
func TestImportUploadDeadline(t *testing.T) {
	const readTimeout = 400 * time.Millisecond
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, testenv.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Store: st, Limits: web.Limits{ReadTimeout: readTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	u := New(Config{Store: st, Verify: TokenVerifier(srv.Tokens())})
	u.Register(srv.Echo())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		stop()
		<-done
		st.Close()
	})
	admin, _, err := srv.Tokens().Create(ctx, "admin", store.AllGrants())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, URL: "http://" + ln.Addr().String(), Store: st, UI: u, Admin: admin}

	// slowUpload posts an import of lines lines, one every 60 ms, as a
	// multipart form with the CSRF field.
	slowUpload := func(cl *http.Client, csrf string, lines int) (int, error) {
		pr, pw := io.Pipe()
		go func() {
			fmt.Fprintf(pw, "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n%s\r\n", csrf)
			fmt.Fprint(pw, "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jsonl\"\r\nContent-Type: application/x-ndjson\r\n\r\n")
			for i := range lines {
				time.Sleep(60 * time.Millisecond)
				if _, err := fmt.Fprintf(pw, "{\"name\":\"slow\",\"key\":\"k%d\",\"data\":%d}\n", i, i); err != nil {
					return
				}
			}
			fmt.Fprint(pw, "\r\n--B--\r\n")
			pw.Close()
		}()
		defer pr.Close()
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/import", pr)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		res, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}

	c := h.client()
	c.signIn(admin)
	// 1.2 s: 3× the read timeout.
	if st, err := slowUpload(c.http, c.csrf, 20); err != nil || st != http.StatusOK {
		t.Errorf("signed-in slow upload: %d %v, want the dry run (200)", st, err)
	}
	start := time.Now()
	anon := h.client()
	// 8 s unless cut off.
	st2, err := slowUpload(anon.http, "x", 130)
	if took := time.Since(start); took > readTimeout+4*time.Second || (err == nil && st2 < 400) {
		t.Errorf("anonymous slow upload: %d %v after %s, want it cut off at the read timeout", st2, err, took)
	}
}
