package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/jsonx"
	"github.com/flowkv/flowkv/store"
)

// Search by field: POST /v1/query (name in the body: under
// /v1/store/{name}/ every path segment is a key) and the declared indexes.

// queryBody is the body of POST /v1/query: store.Query in JSON.
type queryBody struct {
	Name  string `json:"name"`
	Where []struct {
		Field string          `json:"field"`
		Op    string          `json:"op"`
		Value json.RawMessage `json:"value"`
	} `json:"where"`
	Match   string `json:"match"`
	OrderBy []struct {
		Field string `json:"field"`
		Desc  bool   `json:"desc"`
	} `json:"orderBy"`
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
	Count  bool   `json:"count"`
}

func (b queryBody) query() store.Query {
	q := store.Query{Name: b.Name, Match: store.Match(b.Match), Limit: b.Limit, Cursor: b.Cursor, Count: b.Count}
	for _, w := range b.Where {
		q.Where = append(q.Where, store.Condition{Field: w.Field, Op: store.Operator(w.Op), Value: w.Value})
	}
	for _, o := range b.OrderBy {
		q.OrderBy = append(q.OrderBy, store.Order{Field: o.Field, Desc: o.Desc})
	}
	return q
}

func (s *Server) addQueryRoutes() {
	ops := make([]string, len(store.Operators))
	for i, o := range store.Operators {
		ops[i] = string(o)
	}
	s.Handle(http.MethodPost, "/v1/query", s.query, RouteDoc{
		Summary: "query: search one namespace by fields of data (conditions, order, count, cursor)", Tag: "entries",
		Description: "Conditions are typed: a number compares with numbers, a string with strings (by code point), " +
			"booleans and null only by eq, ne and in; a missing field or a value of another type never matches, " +
			"ne included, except exists:false. A query no declared index serves examines at most maxQueryScan " +
			"entries per page: a page may then hold fewer entries than limit (even none) with a nextCursor.",
		Body: Obj(map[string]Schema{
			"name": Str("namespace"),
			"where": Arr(Obj(map[string]Schema{
				"field": Str("a dotted path into data (customer.email, items.0.sku, [\"a.b\"]) or $key, $version, $createdAt, $updatedAt, $expiresAt, $flowUuid"),
				"op":    Schema{"type": "string", "enum": ops},
				"value": AnyJSON("the value to compare with (in: an array; exists: true or false)"),
			}, "field", "op", "value")),
			"match": Schema{"type": "string", "enum": []string{"all", "any"}, "description": "all conditions (default) or any"},
			"orderBy": Arr(Obj(map[string]Schema{
				"field": Str("field to sort by"),
				"desc":  Bool("largest first"),
			}, "field")),
			"limit":  Int("page size (default 100, at most 1000)"),
			"cursor": Str("nextCursor of the previous page of the same query"),
			"count":  Bool("add the number of matching entries"),
		}, "name"),
		Response: Ref("QueryPage"),
	})
	s.Handle(http.MethodGet, "/v1/indexes", s.listIndexes, RouteDoc{
		Summary: "declared indexes, of one namespace or of every namespace the token can read", Tag: "entries",
		Query:    []Param{{Name: "name", Description: "namespace (default: every namespace)"}},
		Response: Obj(map[string]Schema{"items": Arr(Ref("Index"))}),
	})
	s.Handle(http.MethodPost, "/v1/indexes", s.createIndex, RouteDoc{
		Summary: "declare an index on a field of data and build it for the existing entries", Tag: "entries",
		Body: Obj(map[string]Schema{
			"name":  Str("namespace"),
			"field": Str("a dotted path into data"),
		}, "name", "field"),
		Response: Ref("Index"), Status: http.StatusCreated,
	})
	s.Handle(http.MethodDelete, "/v1/indexes", s.dropIndex, RouteDoc{
		Summary: "remove a declared index (queries keep their answers, read without it)", Tag: "entries",
		Query: []Param{
			{Name: "name", Description: "namespace", Required: true},
			{Name: "field", Description: "the indexed field", Required: true},
		},
		Response: Obj(map[string]Schema{"deleted": Bool("whether an index was declared")}),
	})
}

func (s *Server) query(c echo.Context) error {
	var b queryBody
	if err := s.Bind(c, &b); err != nil {
		return err
	}
	p, err := s.StoreFor(c).Query(c.Request().Context(), b.query())
	if err != nil {
		return err
	}
	return queryPageJSON(c, p)
}

// queryPageJSON writes a QueryPage: a Page with count and index.
func queryPageJSON(c echo.Context, p store.QueryPage) error {
	n := 96
	for _, e := range p.Entries {
		n += 256 + len(e.Data)
	}
	b := appendPage(make([]byte, 0, n), store.Page{Entries: p.Entries, NextCursor: p.NextCursor})
	b = b[:len(b)-1]
	if p.Count != nil {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, *p.Count, 10)
	}
	b = append(b, `,"index":`...)
	b = jsonx.AppendString(b, p.Index)
	return writeJSONBytes(c, http.StatusOK, append(b, '}'))
}

func (s *Server) listIndexes(c echo.Context) error {
	ix, err := s.StoreFor(c).Indexes(c.Request().Context(), c.QueryParam("name"))
	if err != nil {
		return err
	}
	if ix == nil {
		ix = []store.Index{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": ix})
}

func (s *Server) createIndex(c echo.Context) error {
	var b struct {
		Name  string `json:"name"`
		Field string `json:"field"`
	}
	if err := s.Bind(c, &b); err != nil {
		return err
	}
	ix, err := s.StoreFor(c).CreateIndex(c.Request().Context(), b.Name, b.Field)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ix)
}

func (s *Server) dropIndex(c echo.Context) error {
	ok, err := s.StoreFor(c).DropIndex(c.Request().Context(), c.QueryParam("name"), c.QueryParam("field"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"deleted": ok})
}
