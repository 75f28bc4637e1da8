package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

var errUnavailable = store.Errorf(store.CodeUnavailable, "the database is not reachable")

// entryBody is the body of POST, PUT and PATCH /v1/store/{name}/{key}.
type entryBody struct {
	Data         json.RawMessage `json:"data"`
	TimeoutUnit  string          `json:"timeoutUnit"`
	TimeoutValue *float64        `json:"timeoutValue"`
	TTL          *float64        `json:"ttl"`
}

func (b entryBody) ttl() (int64, error) {
	if b.TTL != nil && (b.TimeoutUnit != "" || b.TimeoutValue != nil) {
		return 0, store.Errorf(store.CodeInvalidArgument, "ttl: give either ttl (seconds) or timeoutUnit + timeoutValue, not both")
	}
	if b.TTL != nil {
		d, err := store.SecondsTTL(*b.TTL)
		return int64(d), err
	}
	if b.TimeoutUnit == "" && b.TimeoutValue == nil {
		return 0, nil
	}
	unit := b.TimeoutUnit
	if unit == "" {
		return 0, store.Errorf(store.CodeInvalidArgument, "timeoutUnit: required with timeoutValue (seconds, minutes, hours, days, never)")
	}
	var v float64
	if b.TimeoutValue != nil {
		v = *b.TimeoutValue
	} else if !strings.EqualFold(unit, "never") {
		return 0, store.Errorf(store.CodeInvalidArgument, "timeoutValue: required with timeoutUnit %q", unit)
	}
	d, err := store.TimeoutTTL(unit, v)
	return int64(d), err
}

// ifMatch reads If-Match as a version: `3`, `"3"` or `W/"3"`; 0 when absent.
func ifMatch(c echo.Context) (int64, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, store.Errorf(store.CodeInvalidArgument, "If-Match: want an entry version (a positive integer), got %q", h)
	}
	return n, nil
}

func etag(c echo.Context, e store.Entry) {
	c.Response().Header().Set("ETag", `"`+strconv.FormatInt(e.Version, 10)+`"`)
}

func nameKey(c echo.Context) (string, string, error) {
	name, err := PathParam(c, "name")
	if err != nil {
		return "", "", err
	}
	key, err := PathParam(c, "key")
	// A key written as a JSON array (["users","1"]) is a Deno KV key.
	return name, store.ResolveKey(key), err
}

var (
	ifMatchHeader = Param{Name: "If-Match", Description: "entry version: the write happens only if the entry has it (409 conflict otherwise)", Schema: Int("")}
	entryWrite    = Obj(map[string]Schema{
		"data":         AnyJSON("the value to store (any JSON)"),
		"timeoutUnit":  Schema{"type": "string", "enum": []string{"seconds", "minutes", "hours", "days", "never"}},
		"timeoutValue": Num("how many timeoutUnits the entry lives"),
		"ttl":          Num("time to live in seconds (instead of timeoutUnit/timeoutValue)"),
	}, "data")
	pageQuery = []Param{
		{Name: "limit", Description: "page size (default 100, at most 1000)", Schema: Int("")},
		{Name: "offset", Description: "entries to skip (cannot be combined with cursor)", Schema: Int("")},
		{Name: "cursor", Description: "nextCursor of the previous page"},
	}
)

func (s *Server) addStoreRoutes() {
	s.Handle(http.MethodGet, "/v1/store", s.fetch, RouteDoc{
		Summary: "fetch: list entries across the token's namespaces, filtered", Tag: "entries",
		Query: append([]Param{
			{Name: "name", Description: "namespace"},
			{Name: "key", Description: "exact key"},
			{Name: "keyPrefix", Description: "key prefix"},
			{Name: "flowUuid", Description: "the flow that last wrote the entry"},
			{Name: "data", Description: "URL-encoded JSON: exact match of the whole value (key order insensitive)"},
		}, pageQuery...),
		Response: Ref("Page"),
	})
	s.Handle(http.MethodGet, "/v1/store/:name", s.listName, RouteDoc{
		Summary: "findName / list: entries of one namespace in key order", Tag: "entries",
		Query:    append([]Param{{Name: "prefix", Description: "key prefix"}}, pageQuery...),
		Response: Ref("Page"),
	})
	s.Handle(http.MethodGet, "/v1/store/:name/:key", s.getEntry, RouteDoc{
		Summary: "findNameKey: one entry (404 not_found)", Tag: "entries", Response: Ref("Entry"),
	})
	s.Handle(http.MethodPost, "/v1/store/:name/:key", s.insertEntry, RouteDoc{
		Summary: "insert: create an entry (409 already_exists)", Tag: "entries",
		Body: entryWrite, Response: Ref("Entry"), Status: http.StatusCreated,
	})
	s.Handle(http.MethodPut, "/v1/store/:name/:key", s.upsertEntry, RouteDoc{
		Summary: "upsert: create or overwrite an entry", Tag: "entries",
		Headers: []Param{ifMatchHeader}, Body: entryWrite, Response: Ref("Entry"),
	})
	s.Handle(http.MethodPatch, "/v1/store/:name/:key", s.updateEntry, RouteDoc{
		Summary: "updateOneNameKey: overwrite an existing entry (404 not_found)", Tag: "entries",
		Headers: []Param{ifMatchHeader}, Body: entryWrite, Response: Ref("Entry"),
	})
	s.Handle(http.MethodDelete, "/v1/store/:name/:key", s.deleteEntry, RouteDoc{
		Summary: "deleteOneNameKey: delete an entry", Tag: "entries",
		Headers:  []Param{ifMatchHeader},
		Response: Obj(map[string]Schema{"deleted": Bool("whether an entry was deleted")}),
	})
	s.Handle(http.MethodPost, "/v1/atomic", s.atomic, RouteDoc{
		Summary: "atomic: all-or-nothing checks and mutations (409 conflict when a check fails)", Tag: "entries",
		Body: Obj(map[string]Schema{
			"checks": Arr(Obj(map[string]Schema{
				"name":    Str("namespace"),
				"key":     Str("key"),
				"version": Schema{"type": "integer", "nullable": true, "description": "the entry's current version, or null for absent"},
			}, "name", "key")),
			"mutations": Arr(Obj(map[string]Schema{
				"op":   Schema{"type": "string", "enum": []string{"set", "delete", "sum"}},
				"name": Str("namespace"),
				"key":  Str("key"),
				"data": AnyJSON("set: the value; sum: the number to add"),
				"ttl":  Num("time to live of the written entry in seconds"),
			}, "op", "name", "key")),
		}),
		Response: Obj(map[string]Schema{"ok": Bool("true"), "versions": Arr(Int("new version per mutation, 0 for deletes"))}),
	})
	s.Handle(http.MethodGet, "/v1/names", s.names, RouteDoc{
		Summary: "namespaces the token can read, with entry counts", Tag: "entries",
		Response: Obj(map[string]Schema{"items": Arr(Obj(map[string]Schema{"name": Str(""), "count": Int(""), "indexes": Arr(Str("a declared index's field"))}))}),
	})
}

func (s *Server) fetch(c echo.Context) error {
	q := store.FetchQuery{
		Name:      c.QueryParam("name"),
		Key:       store.ResolveKey(c.QueryParam("key")),
		KeyPrefix: store.ResolvePrefix(c.QueryParam("keyPrefix")),
		FlowUUID:  c.QueryParam("flowUuid"),
		Cursor:    c.QueryParam("cursor"),
	}
	if d := c.QueryParam("data"); d != "" {
		if !json.Valid([]byte(d)) {
			return store.Errorf(store.CodeInvalidArgument, "data: not valid JSON (URL-encode a JSON value)")
		}
		q.Data = json.RawMessage(d)
	}
	var err error
	if q.Limit, err = QueryInt(c, "limit", 0); err != nil {
		return err
	}
	if q.Offset, err = QueryInt(c, "offset", 0); err != nil {
		return err
	}
	p, err := s.StoreFor(c).Fetch(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return pageJSON(c, p)
}

func (s *Server) listName(c echo.Context) error {
	name, err := PathParam(c, "name")
	if err != nil {
		return err
	}
	limit, err := QueryInt(c, "limit", 0)
	if err != nil {
		return err
	}
	offset, err := QueryInt(c, "offset", 0)
	if err != nil {
		return err
	}
	prefix, cursor := store.ResolvePrefix(c.QueryParam("prefix")), c.QueryParam("cursor")
	st := s.StoreFor(c)
	if offset != 0 {
		if prefix != "" || cursor != "" {
			return store.Errorf(store.CodeInvalidArgument, "offset: cannot be combined with prefix or cursor")
		}
		es, err := st.FindName(c.Request().Context(), name, limit, offset)
		if err != nil {
			return err
		}
		return pageJSON(c, store.Page{Entries: es})
	}
	p, err := st.List(c.Request().Context(), name, prefix, cursor, limit)
	if err != nil {
		return err
	}
	return pageJSON(c, p)
}

func (s *Server) getEntry(c echo.Context) error {
	name, key, err := nameKey(c)
	if err != nil {
		return err
	}
	e, err := s.StoreFor(c).FindNameKey(c.Request().Context(), name, key)
	if err != nil {
		return err
	}
	etag(c, e)
	return entryJSON(c, http.StatusOK, e)
}

// write runs one of insert, upsert, update.
func (s *Server) write(c echo.Context, status int, conditional bool,
	op func(st store.Store, name, key string, data json.RawMessage, o store.WriteOptions) (store.Entry, error)) error {
	name, key, err := nameKey(c)
	if err != nil {
		return err
	}
	var o store.WriteOptions
	if conditional {
		if o.IfVersion, err = ifMatch(c); err != nil {
			return err
		}
	}
	var b entryBody
	if err := s.Bind(c, &b); err != nil {
		return err
	}
	if b.Data == nil {
		return store.Errorf(store.CodeInvalidArgument, "data: required (any JSON value)")
	}
	ttl, err := b.ttl()
	if err != nil {
		return err
	}
	o.TTL = durationOf(ttl)
	e, err := op(s.StoreFor(c), name, key, b.Data, o)
	if err != nil {
		return err
	}
	etag(c, e)
	return entryJSON(c, status, e)
}

func (s *Server) insertEntry(c echo.Context) error {
	if c.Request().Header.Get("If-Match") != "" {
		return store.Errorf(store.CodeInvalidArgument, "If-Match: not supported on insert (use PUT or PATCH)")
	}
	return s.write(c, http.StatusCreated, false, func(st store.Store, n, k string, d json.RawMessage, o store.WriteOptions) (store.Entry, error) {
		return st.Insert(c.Request().Context(), n, k, d, o)
	})
}

func (s *Server) upsertEntry(c echo.Context) error {
	return s.write(c, http.StatusOK, true, func(st store.Store, n, k string, d json.RawMessage, o store.WriteOptions) (store.Entry, error) {
		return st.Upsert(c.Request().Context(), n, k, d, o)
	})
}

func (s *Server) updateEntry(c echo.Context) error {
	return s.write(c, http.StatusOK, true, func(st store.Store, n, k string, d json.RawMessage, o store.WriteOptions) (store.Entry, error) {
		return st.Update(c.Request().Context(), n, k, d, o)
	})
}

func (s *Server) deleteEntry(c echo.Context) error {
	name, key, err := nameKey(c)
	if err != nil {
		return err
	}
	v, err := ifMatch(c)
	if err != nil {
		return err
	}
	ok, err := s.StoreFor(c).Delete(c.Request().Context(), name, key, store.DeleteOptions{IfVersion: v})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"deleted": ok})
}

type atomicBody struct {
	Checks []struct {
		Name    string `json:"name"`
		Key     string `json:"key"`
		Version *int64 `json:"version"`
	} `json:"checks"`
	Mutations []struct {
		Op   string          `json:"op"`
		Name string          `json:"name"`
		Key  string          `json:"key"`
		Data json.RawMessage `json:"data"`
		TTL  *float64        `json:"ttl"`
	} `json:"mutations"`
}

func (s *Server) atomic(c echo.Context) error {
	var b atomicBody
	if err := s.Bind(c, &b); err != nil {
		return err
	}
	checks := make([]store.Check, len(b.Checks))
	for i, ch := range b.Checks {
		checks[i] = store.Check{Name: ch.Name, Key: ch.Key}
		if ch.Version != nil {
			if *ch.Version < 0 {
				return store.Errorf(store.CodeInvalidArgument, "checks[%d].version: must not be negative", i)
			}
			checks[i].Version = *ch.Version
		}
	}
	muts := make([]store.Mutation, len(b.Mutations))
	for i, m := range b.Mutations {
		muts[i] = store.Mutation{Op: store.Op(m.Op), Name: m.Name, Key: m.Key, Data: m.Data}
		if m.TTL != nil {
			d, err := store.SecondsTTL(*m.TTL)
			if err != nil {
				return store.Errorf(store.CodeInvalidArgument, "mutations[%d].ttl: %s", i, store.Text(err))
			}
			muts[i].TTL = d
		}
	}
	if len(muts) == 0 {
		return store.Errorf(store.CodeInvalidArgument, "mutations: at least one is required")
	}
	r, err := s.StoreFor(c).Atomic(c.Request().Context(), checks, muts)
	if err != nil {
		return err
	}
	if r.Versions == nil {
		r.Versions = []int64{}
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) names(c echo.Context) error {
	ns, err := s.StoreFor(c).Names(c.Request().Context())
	if err != nil {
		return err
	}
	ix, err := s.StoreFor(c).Indexes(c.Request().Context(), "")
	if err != nil {
		return err
	}
	fields := map[string][]string{}
	for _, i := range ix {
		fields[i.Name] = append(fields[i.Name], i.Field)
	}
	type item struct {
		store.NameCount
		Indexes []string `json:"indexes,omitempty"`
	}
	items := make([]item, len(ns))
	for i, n := range ns {
		items[i] = item{NameCount: n, Indexes: fields[n.Name]}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}
