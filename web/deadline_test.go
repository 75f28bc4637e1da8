package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/web"
)

// Every handler is bounded by the request timeout: a handler waiting on
// its request's context is ended with 408 timeout naming the limit, the
// server keeps serving, and a streaming route (LongResponse) is not cut.
func TestRequestTimeoutBoundsHandlers(t *testing.T) {
	h := newHarness(t, testenv.SQLiteDSN(t), func(o *web.Options) { o.Limits.RequestTimeout = 300 * time.Millisecond })
	// A handler that would hang for a minute unless its context ends (a
	// slow database, a stuck flow).
	hang := func(c echo.Context) error {
		select {
		case <-c.Request().Context().Done():
			return c.Request().Context().Err()
		case <-time.After(time.Minute):
			return c.String(http.StatusOK, "never cut")
		}
	}
	h.srv.Echo().GET("/test/hang", hang)
	// A stream that outlives the request timeout several times.
	h.srv.Echo().GET("/test/stream", func(c echo.Context) error {
		select {
		case <-c.Request().Context().Done():
			return c.Request().Context().Err()
		case <-time.After(1500 * time.Millisecond):
			return c.String(http.StatusOK, "streamed")
		}
	}, web.Streaming)

	r := h.do("GET", "/test/hang", "", nil)
	want(t, r, http.StatusRequestTimeout, "timeout")
	if !strings.Contains(string(r.Body), "request timeout (300ms)") {
		t.Fatalf("the answer does not name the limit: %s", r.Body)
	}
	want(t, h.do("GET", "/v1/store", h.admin, nil), 200, "")
	r = h.do("GET", "/test/stream", "", nil)
	if r.Status != 200 || string(r.Body) != "streamed" {
		t.Fatalf("a streaming route was cut: %d %s", r.Status, r.Body)
	}
}
