package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// addBuiltinRoutes adds the routes this package serves itself.
func (s *Server) addBuiltinRoutes() {
	s.addOpsRoutes()
	s.addStoreRoutes()
	s.addQueryRoutes()
	s.addDataRoutes()
}

func (s *Server) addOpsRoutes() {
	s.Handle(http.MethodGet, "/healthz", s.healthz, RouteDoc{
		Summary: "Liveness: the process is up", Tag: "operations",
		Response: Obj(map[string]Schema{"status": Str("ok"), "version": Str("server version")}),
	})
	s.Handle(http.MethodGet, "/readyz", s.readyz, RouteDoc{
		Summary: "Readiness: the database is reachable (503 unavailable when not)", Tag: "operations",
		Response: Obj(map[string]Schema{"status": Str("ready")}),
	})
	s.Handle(http.MethodGet, "/metrics", s.metricsHandler, RouteDoc{
		Summary: "Prometheus metrics: requests by route and status, latency histograms, store operations, expired entries, Go runtime and process",
		Tag:     "operations", ContentType: "text/plain; version=0.0.4", Response: Str("Prometheus text format (OpenMetrics when the scraper asks for it)"),
	})
	s.Handle(http.MethodGet, "/v1/openapi.json", s.openapiHandler, RouteDoc{
		Summary: "This OpenAPI 3 document (no token needed: it holds no data)", Tag: "operations",
		Response: Schema{"type": "object"}, Public: true,
	})
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.opts.Version})
}

func (s *Server) readyz(c echo.Context) error {
	if err := s.ready.check(c.Request().Context(), s.opts.Store, s.log); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// readiness answers /readyz without letting its callers load the
// database: /readyz is public, and a ping per request would let anyone
// take the store's connections. One ping runs at a time, every caller
// waiting meanwhile shares its outcome, and the outcome is reused for
// readyFor.
type readiness struct {
	mu   sync.Mutex
	at   time.Time     // when the last ping ended
	err  error         // its outcome
	wait chan struct{} // closed when the ping in flight ends; nil when none
}

const (
	readyFor     = time.Second
	readyTimeout = 3 * time.Second
)

func (r *readiness) check(ctx context.Context, st store.Store, log *slog.Logger) error {
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < readyFor {
		err := r.err
		r.mu.Unlock()
		return err
	}
	if r.wait == nil {
		r.wait = make(chan struct{})
		// Its own context: a caller hanging up must not fail the others.
		go func(done chan struct{}) {
			pctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			err := st.Ping(pctx)
			cancel()
			if err != nil {
				log.Warn("readyz: store unreachable", "err", err)
				err = errUnavailable
			}
			r.mu.Lock()
			r.at, r.err, r.wait = time.Now(), err, nil
			r.mu.Unlock()
			close(done)
		}(r.wait)
	}
	wait := r.wait
	r.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return errUnavailable
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (s *Server) metricsHandler(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// openapiHandler serves the OpenAPI document, encoded once: the route is
// public, and building the document (every route's schemas) for each
// request would let anyone spend the server's CPU on it.
func (s *Server) openapiHandler(c echo.Context) error {
	b, err := s.apiDoc.get(s)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

// apiDocCache holds the encoded OpenAPI document; it is rebuilt when a
// route is added (Handle) after it was built.
type apiDocCache struct {
	mu     sync.Mutex
	routes int // len(Server.docs) when body was built
	body   []byte
	builds int64
}

func (a *apiDocCache) get(s *Server) ([]byte, error) {
	s.mu.Lock()
	n := len(s.docs)
	s.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.body != nil && a.routes == n {
		return a.body, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.OpenAPI()); err != nil {
		return nil, err
	}
	a.routes, a.body = n, buf.Bytes()
	a.builds++
	return a.body, nil
}
