package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// DataNamespace is where the Database-module API (/v1/operations/data)
// keeps its flat keys.
const DataNamespace = "default"

// dataItem is one entry as the Database-module API shows it.
type dataItem struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Version   int64           `json:"version"`
	ExpiresAt *time.Time      `json:"expiresAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

func itemOf(e store.Entry) dataItem {
	return dataItem{Key: e.Key, Value: e.Data, Version: e.Version, ExpiresAt: e.ExpiresAt, UpdatedAt: e.UpdatedAt}
}

type putDataBody struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	TTL   *float64        `json:"ttl"`
}

func durationOf(ns int64) time.Duration { return time.Duration(ns) }

func (s *Server) addDataRoutes() {
	s.Handle(http.MethodPost, "/v1/operations/data", s.putData, RouteDoc{
		Summary: "putData: store a value under a key of namespace default", Tag: "data",
		Body: Obj(map[string]Schema{
			"key":   Str("unique key"),
			"value": AnyJSON("data to store (any JSON)"),
			"ttl":   Num("time to live in seconds"),
		}, "key", "value"),
		Response: Ref("DataItem"),
	})
	s.Handle(http.MethodGet, "/v1/operations/data", s.scanData, RouteDoc{
		Summary:     "scanData: one key, or a prefix scan of namespace default",
		Description: "With key: {key, value, version, expiresAt, items: [the item], cursor: \"\"}; value is null and items empty when the key is absent. Otherwise a prefix scan: {items, cursor}.",
		Tag:         "data",
		Query: []Param{
			{Name: "key", Description: "exact key to retrieve"},
			{Name: "prefix", Description: "key prefix to scan"},
			{Name: "cursor", Description: "cursor of the previous page"},
			{Name: "limit", Description: "max items to return (default 100, at most 1000)", Schema: Int("")},
		},
		Response: Obj(map[string]Schema{
			"items":     Arr(Ref("DataItem")),
			"cursor":    Str("continues the scan; empty when there is no more"),
			"key":       Str("with ?key= only"),
			"value":     AnyJSON("with ?key= only: the value, or null when absent"),
			"version":   Int("with ?key= only"),
			"expiresAt": Schema{"type": "string", "format": "date-time", "nullable": true},
		}),
	})
	s.Handle(http.MethodDelete, "/v1/operations/data", s.deleteData, RouteDoc{
		Summary: "deleteData: delete a key of namespace default", Tag: "data",
		Query:    []Param{{Name: "key", Required: true, Description: "key to delete"}},
		Response: Obj(map[string]Schema{"deleted": Bool("whether a key was deleted")}),
	})
}

func (s *Server) putData(c echo.Context) error {
	var b putDataBody
	if err := s.Bind(c, &b); err != nil {
		return err
	}
	if b.Key == "" {
		return store.Errorf(store.CodeInvalidArgument, "key: required")
	}
	if b.Value == nil {
		return store.Errorf(store.CodeInvalidArgument, "value: required (any JSON value)")
	}
	var o store.WriteOptions
	if b.TTL != nil {
		d, err := store.SecondsTTL(*b.TTL)
		if err != nil {
			return err
		}
		o.TTL = d
	}
	e, err := s.StoreFor(c).Upsert(c.Request().Context(), DataNamespace, b.Key, b.Value, o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, itemOf(e))
}

func (s *Server) scanData(c echo.Context) error {
	ctx := c.Request().Context()
	st := s.StoreFor(c)
	key, prefix := c.QueryParam("key"), c.QueryParam("prefix")
	if key != "" {
		if prefix != "" || c.QueryParam("cursor") != "" {
			return store.Errorf(store.CodeInvalidArgument, "key: cannot be combined with prefix or cursor")
		}
		e, err := st.FindNameKey(ctx, DataNamespace, key)
		if store.CodeOf(err) == store.CodeNotFound {
			return c.JSON(http.StatusOK, keyAnswer{Key: key, Value: json.RawMessage("null"), Items: []dataItem{}})
		}
		if err != nil {
			return err
		}
		it := itemOf(e)
		return c.JSON(http.StatusOK, keyAnswer{Key: it.Key, Value: it.Value, Version: it.Version, ExpiresAt: it.ExpiresAt, Items: []dataItem{it}})
	}
	limit, err := QueryInt(c, "limit", 0)
	if err != nil {
		return err
	}
	p, err := st.List(ctx, DataNamespace, prefix, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	items := make([]dataItem, len(p.Entries))
	for i, e := range p.Entries {
		items[i] = itemOf(e)
	}
	return c.JSON(http.StatusOK, scanAnswer{Items: items, Cursor: p.NextCursor})
}

// keyAnswer is scanData's answer for one key: the item's fields (as the
// SDK reads result.val.value) and the scan shape {items, cursor}.
type keyAnswer struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Version   int64           `json:"version,omitempty"`
	ExpiresAt *time.Time      `json:"expiresAt,omitempty"`
	Items     []dataItem      `json:"items"`
	Cursor    string          `json:"cursor"`
}

type scanAnswer struct {
	Items  []dataItem `json:"items"`
	Cursor string     `json:"cursor"`
}

func (s *Server) deleteData(c echo.Context) error {
	key := c.QueryParam("key")
	if key == "" {
		return store.Errorf(store.CodeInvalidArgument, "key: required")
	}
	ok, err := s.StoreFor(c).Delete(c.Request().Context(), DataNamespace, key, store.DeleteOptions{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"deleted": ok})
}
