package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// Quotas and usage (docs/design.md "Access", docs/http.md "Quotas"): every
// token reads its own usage; setting quotas, and reading another token's,
// is for admin tokens (scope admin).

func init() { Register("quotas", registerQuotaRoutes) }

// tokenUsageJSON is a token's usage as the API shows it.
type tokenUsageJSON struct {
	quota.TokenUsage
	Name string `json:"name"`
}

func registerQuotaRoutes(s *Server) error {
	tokenUsage := Obj(map[string]Schema{
		"id": Str("token id"), "name": Str("token label"),
		"month":         Str("the calendar month counted (UTC), YYYY-MM"),
		"ops":           Int("store operations this month"),
		"opsPerMonth":   Int("the monthly quota; 0 = unlimited"),
		"resetsAt":      Schema{"type": "string", "format": "date-time", "description": "when ops starts again from 0"},
		"scriptRuns":    Int("scripts running now (on this server)"),
		"maxScriptRuns": Int("the concurrent script run quota in effect"),
	})
	nsQuota := Obj(map[string]Schema{
		"entries": Int("live entries; 0 = no limit"),
		"bytes":   Int("bytes stored (keys + canonical JSON data); 0 = no limit"),
	})
	nsUsage := Obj(map[string]Schema{
		"name":      Str("namespace"),
		"quota":     Schema{"type": "object", "allOf": []Schema{nsQuota}, "nullable": true, "description": "null when the namespace has no quota"},
		"entries":   Int("live entries (counted when the namespace has a quota)"),
		"bytes":     Int("bytes stored (counted when the namespace has a quota)"),
		"countedAt": Schema{"type": "string", "format": "date-time", "nullable": true, "description": "when it was last counted from the store"},
	})

	s.Handle(http.MethodGet, "/v1/usage", func(c echo.Context) error {
		m, err := s.quotaManager()
		if err != nil {
			return err
		}
		t, _ := Token(c)
		ctx := c.Request().Context()
		u, err := m.TokenUsage(ctx, t.ID)
		if err != nil {
			return err
		}
		g := Grants(c)
		nss := []quota.NamespaceUsage{}
		for _, n := range m.NamespacesWithQuota() {
			if g.Level(n) < store.Read {
				continue
			}
			nu, err := m.NamespaceUsage(ctx, n)
			if err != nil {
				return err
			}
			nss = append(nss, nu)
		}
		return c.JSON(http.StatusOK, map[string]any{"token": tokenUsageJSON{u, t.Name}, "namespaces": nss})
	}, RouteDoc{
		Summary: "the calling token's usage this month and the quotas of the namespaces it may read",
		Description: "Reading usage is not a store operation: it does not count against the monthly quota. " +
			"Counts are this server's: see docs/http.md, Quotas, for how servers share them.",
		Tag:      "quotas",
		Response: Obj(map[string]Schema{"token": tokenUsage, "namespaces": Arr(nsUsage)}),
	})

	s.Handle(http.MethodGet, "/v1/quotas/tokens/:id", func(c echo.Context) error {
		m, err := s.quotaManager()
		if err != nil {
			return err
		}
		id, err := PathParam(c, "id")
		if err != nil {
			return err
		}
		if t, _ := Token(c); t.ID != id {
			if err := requireAdmin(c); err != nil {
				return err
			}
		}
		return s.tokenUsage(c, m, id)
	}, RouteDoc{
		Summary: "a token's quota and usage this month", Tag: "quotas",
		Description: "A token may read its own; another token's needs scope admin.",
		Response:    tokenUsage,
	})

	s.Handle(http.MethodPut, "/v1/quotas/tokens/:id", func(c echo.Context) error {
		m, err := s.quotaManager()
		if err != nil {
			return err
		}
		id, err := PathParam(c, "id")
		if err != nil {
			return err
		}
		if err := requireAdmin(c); err != nil {
			return err
		}
		var q quota.TokenQuota
		if err := s.Bind(c, &q); err != nil {
			return err
		}
		if _, err := s.findToken(c, id); err != nil {
			return err
		}
		if err := m.SetTokenQuota(c.Request().Context(), id, q); err != nil {
			return err
		}
		return s.tokenUsage(c, m, id)
	}, RouteDoc{
		Summary: "set a token's quota (0 = no monthly limit / the default of 4 concurrent script runs)", Tag: "quotas",
		Description: "Needs scope admin. Takes effect at once on this server, within 5 s on others.",
		Body: Obj(map[string]Schema{
			"opsPerMonth": Int("store operations per calendar month (UTC); 0 = unlimited"),
			"scriptRuns":  Int("concurrent script runs; 0 = the default (4)"),
		}),
		Response: tokenUsage,
	})

	s.Handle(http.MethodGet, "/v1/quotas/namespaces/:name", func(c echo.Context) error {
		m, err := s.quotaManager()
		if err != nil {
			return err
		}
		name, err := PathParam(c, "name")
		if err != nil {
			return err
		}
		if err := Grants(c).Allow(name, store.Read); err != nil {
			return err
		}
		u, err := m.NamespaceUsage(c.Request().Context(), name)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, u)
	}, RouteDoc{
		Summary: "a namespace's quota and usage", Tag: "quotas",
		Description: "Needs read on the namespace. Usage is counted only for namespaces that have a quota.",
		Response:    nsUsage,
	})

	s.Handle(http.MethodPut, "/v1/quotas/namespaces/:name", func(c echo.Context) error {
		m, err := s.quotaManager()
		if err != nil {
			return err
		}
		name, err := PathParam(c, "name")
		if err != nil {
			return err
		}
		if err := requireAdmin(c); err != nil {
			return err
		}
		var q quota.NamespaceQuota
		if err := s.Bind(c, &q); err != nil {
			return err
		}
		u, err := m.SetNamespaceQuota(c.Request().Context(), name, q)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, u)
	}, RouteDoc{
		Summary: "set a namespace's quota (both 0 removes it)", Tag: "quotas",
		Description: "Needs scope admin. The namespace is counted now and the answer holds its usage; " +
			"a namespace already past its new quota keeps its data, only writes that would add are refused.",
		Body:     nsQuota,
		Response: nsUsage,
	})
	return nil
}

func (s *Server) quotaManager() (*quota.Manager, error) {
	if s.quotas == nil {
		return nil, store.Errorf(store.CodeUnavailable, "quotas are turned off on this server")
	}
	return s.quotas, nil
}

// requireAdmin lets only admin tokens (scope admin) through.
func requireAdmin(c echo.Context) error {
	return RequireScope(c, tokens.ScopeAdmin, "managing quotas")
}

func (s *Server) tokenUsage(c echo.Context, m *quota.Manager, id string) error {
	t, err := s.findToken(c, id)
	if err != nil {
		return err
	}
	u, err := m.TokenUsage(c.Request().Context(), t.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tokenUsageJSON{u, t.Name})
}

// findToken returns the token with id, or not_found.
func (s *Server) findToken(c echo.Context, id string) (tokenInfo, error) {
	if t, ok := Token(c); ok && t.ID == id {
		return tokenInfo{ID: t.ID, Name: t.Name}, nil
	}
	all, err := s.tokens.List(c.Request().Context())
	if err != nil {
		return tokenInfo{}, err
	}
	for _, t := range all {
		if t.ID == id {
			return tokenInfo{ID: t.ID, Name: t.Name}, nil
		}
	}
	return tokenInfo{}, store.Errorf(store.CodeNotFound, "no token with id %q", id)
}

type tokenInfo struct{ ID, Name string }
