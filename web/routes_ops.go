package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
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
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.Warn("readyz: store unreachable", "err", err)
		return errUnavailable
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

func (s *Server) openapiHandler(c echo.Context) error {
	return c.JSON(http.StatusOK, s.OpenAPI())
}
